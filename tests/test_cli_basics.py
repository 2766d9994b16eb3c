"""The ``imface`` command line starts and prints its help."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imface_core.cli import SUBCOMMANDS

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_every_subcommand_has_its_module():
    missing = [name for name, module in SUBCOMMANDS.items()
               if importlib.util.find_spec(f"imface_core.commands.{module}") is None]
    assert missing == []


def imface_script() -> str:
    """The ``imface`` console script of the Python running the tests (the venv's)."""
    beside = Path(sys.executable).with_name("imface")
    if beside.exists():
        return str(beside)
    found = shutil.which("imface")
    if found is None:
        pytest.fail("the `imface` console script is not installed (run: pip install -e '.[test]')")
    return found


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_python_m_imface_core_help():
    result = run([sys.executable, "-m", "imface_core", "--help"])
    assert result.returncode == 0, result.stderr
    assert "usage: imface" in result.stdout
    for name in SUBCOMMANDS:
        assert name in result.stdout


def test_console_script_help():
    result = run([imface_script(), "--help"])
    assert result.returncode == 0, result.stderr
    assert "usage: imface" in result.stdout


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_subcommand_help(name):
    result = run([sys.executable, "-m", "imface_core", name, "--help"])
    assert result.returncode == 0, result.stderr
    assert f"imface {name}" in result.stdout


def test_train_rejects_bad_batch_sizes_and_a_too_short_resumed_stage_two(tmp_path):
    bad = run([sys.executable, "-m", "imface_core", "train", "--data", str(tmp_path), "--out", str(tmp_path / "r"),
               "--batch-scans", "0"])
    assert bad.returncode == 2 and "--batch-scans must be at least 1, got 0" in bad.stderr
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(REPO_ROOT / "resources" / "imface_compact.pt", run_dir / "checkpoint.pt")
    short = run([sys.executable, "-m", "imface_core", "train", "--data", str(tmp_path), "--out", str(run_dir),
                 "--resume", "--stage2-steps", "10"])
    assert short.returncode != 0 and "would end the run before its current step" in short.stderr
    assert "Traceback" not in short.stderr
    frequency = run([sys.executable, "-m", "imface_core", "train", "--data", str(tmp_path), "--out", str(run_dir),
                     "--resume", "--detail-frequency", "120"])
    assert frequency.returncode == 2 and "--detail-frequency cannot change when resuming" in frequency.stderr
    zero = run([sys.executable, "-m", "imface_core", "train", "--data", str(tmp_path), "--out", str(tmp_path / "r"),
                "--detail-frequency", "0"])
    assert zero.returncode == 2 and "--detail-frequency must be above 0, got 0.0" in zero.stderr
