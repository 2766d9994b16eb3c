"""Bad requests to the ``imface`` command line: one line, exit code 2, nothing loaded, nothing overwritten.

Each case runs the real command (in-process through ``imface_core.cli.main``, or as a subprocess where the
case needs another user or a real process) and checks the exit code, that the message is one line naming the
problem, and that files already there are unchanged.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from imface_core import cli
from imface_core.errors import OutputPathError
from imface_core.io_utils import check_output_path

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_model_load(monkeypatch):
    """Fail the test if a command loads a model: every case here must be refused before that."""
    from imface_core.face_model import FaceModel

    def refuse(*args, **kwargs):
        raise AssertionError("the command loaded a model before refusing the request")

    monkeypatch.setattr(FaceModel, "load", classmethod(refuse))


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("imface ")]
    return code, lines[-1] if lines else err


def existing_file(path: Path, text: str = "old content") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


CASES = {
    # name: (argv builder, words the message must contain)
    "generate --out under a file": (
        lambda d: ["generate", "--out", str(existing_file(d / "a_file") / "face.obj")], ["is a file, not a folder"]),
    "generate --out into /proc": (lambda d: ["generate", "--out", "/proc/face.obj"], ["/proc", "does not accept"]),
    "generate --out is a folder": (lambda d: ["generate", "--out", str(d / "folder.obj")], ["is a folder"]),
    "generate --save-codes under a file": (
        lambda d: ["generate", "--out", str(d / "f.obj"), "--save-codes", str(existing_file(d / "x") / "c.npz")],
        ["is a file, not a folder"]),
    "generate --device foo": (lambda d: ["generate", "--out", str(d / "f.obj"), "--device", "foo"],
                              ["unknown device `foo`", "available here: cpu"]),
    "generate --resolution 4": (lambda d: ["generate", "--out", str(d / "f.obj"), "--resolution", "4"],
                                ["from 8 to 1024"]),
    "fit: scan missing": (lambda d: ["fit", str(d / "none.ply"), "--out", str(d / "fit")], ["scan not found"]),
    "fit: codes output is a folder": (
        lambda d: ["fit", str(existing_file(d / "scan.ply")), "--out", str(d / "fit")], ["fit_codes.npz", "folder"]),
    "fit: --out under a file": (
        lambda d: ["fit", str(existing_file(d / "scan.ply")), "--out", str(existing_file(d / "f") / "fit")],
        ["is a file, not a folder"]),
    "fit --device tpu": (
        lambda d: ["fit", str(existing_file(d / "scan.ply")), "--out", str(d / "o"), "--device", "tpu"],
        ["unknown device `tpu`", "available here"]),
    "train into a finished run": (
        lambda d: ["train", "--data", str(d), "--out", str(existing_file(d / "run" / "checkpoint.pt").parent),
                   "--config", "tiny"], ["already holds a training run", "--resume", "--force"]),
    "train --out is a file": (lambda d: ["train", "--data", str(d), "--out", str(existing_file(d / "run_file"))],
                              ["is a file, not a folder"]),
    "eval --out is a file": (lambda d: ["eval", "--data", str(d), "--out", str(existing_file(d / "ev"))],
                             ["is a file, not a folder"]),
    "synth --out under a file": (lambda d: ["synth", "--face-model", str(d / "face.npz"), "--out",
                                            str(existing_file(d / "s") / "raw"), "--identities", "1",
                                            "--expressions", "1"], ["is a file, not a folder"]),
    "prep: raw folder missing": (lambda d: ["prep", "--raw", str(d / "none"), "--out", str(d / "data")],
                                 ["raw scan folder not found"]),
    "prep --out into /proc": (lambda d: ["prep", "--raw", str(d), "--out", "/proc/data"], ["does not accept"]),
    "bench --json under a file": (lambda d: ["bench", "--json", str(existing_file(d / "b") / "r.json")],
                                  ["is a file, not a folder"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_request_is_one_line_exit_2_before_loading(name, tmp_path, capsys, no_model_load):
    build, words = CASES[name]
    (tmp_path / "folder.obj").mkdir()
    (tmp_path / "fit_codes.npz").mkdir()
    argv = build(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    code, line = run_cli(capsys, *argv)
    assert code == 2, line
    assert line.startswith("imface ") and ": error: " in line
    assert "Traceback" not in line and ".imtmp" not in line
    for word in words:
        assert word in line, line
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


def test_cuda_without_a_gpu_names_what_is_available(tmp_path, capsys, monkeypatch, no_model_load):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    code, line = run_cli(capsys, "generate", "--out", str(tmp_path / "f.obj"), "--device", "cuda")
    assert code == 2
    assert "no CUDA GPU on this machine" in line and "--device cpu" in line


def test_disk_full_is_refused_before_work(tmp_path, capsys, monkeypatch, no_model_load):
    import shutil

    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=10_000))
    code, line = run_cli(capsys, "generate", "--out", str(tmp_path / "f.obj"), "--resolution", "256")
    assert code == 2
    assert "not enough free space" in line and "needed" in line and "10.0 KB free" in line
    assert list(tmp_path.iterdir()) == []


def test_resolution_beyond_memory_is_refused_at_once_with_the_estimate(tmp_path, capsys, monkeypatch,
                                                                       no_model_load):
    from imface_core.engine import memory

    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 8e9)
    code, line = run_cli(capsys, "generate", "--out", str(tmp_path / "f.obj"), "--resolution", "1024")
    assert code == 2
    assert "resolution 1024 needs about 24.3 GB" in line and "8.0 GB is available" in line
    assert "at most 666 on this machine" in line


def test_memory_estimate_follows_the_measured_peaks():
    from imface_core.engine.memory import extraction_bytes

    # peak resident memory of `imface generate` measured at 256 and 384 (engine/memory.py): 0.95 and 1.9 GB
    assert 0.9e9 < extraction_bytes(256) < 1.2e9
    assert 1.8e9 < extraction_bytes(384) < 2.1e9


def test_verbose_flag_shows_the_traceback(tmp_path, capsys, no_model_load):
    code = cli.main(["-v", "generate", "--out", "/proc/face.obj"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" in err and "OutputPathError" in err


def test_os_errors_become_one_line_naming_the_path():
    exc = PermissionError(13, "Permission denied", "/some/where/out.obj")
    assert cli.error_line(exc) == "Permission denied: `/some/where/out.obj`"
    assert cli.error_line(OutputPathError("cannot write `x`:\n  reason")) == "cannot write `x`: reason"


def test_a_device_is_never_replaced(tmp_path):
    with pytest.raises(OutputPathError, match="not a regular file"):
        check_output_path("/dev/null")


def test_folder_the_user_cannot_write_is_refused():
    """As another user than root (CI runs as root, for whom every folder is writable)."""
    import shutil
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="imface-locked-", dir="/tmp"))
    locked = top / "locked"
    locked.mkdir()
    os.chmod(top, 0o755)
    if os.geteuid() == 0:
        try:
            nobody = pwd.getpwnam("nobody").pw_uid
        except KeyError:
            pytest.skip("no user `nobody` on this machine")
        os.seteuid(nobody)
    else:
        os.chmod(locked, 0o555)
    try:
        with pytest.raises(OutputPathError) as caught:
            check_output_path(locked / "sub" / "face.obj")
    finally:
        if os.geteuid() != os.getuid():
            os.seteuid(0)
        os.chmod(locked, 0o755)
    try:
        assert str(caught.value) == (f"cannot write `{locked / 'sub' / 'face.obj'}`: `{locked}` does not accept "
                                     "new files (Permission denied)")
        assert list(locked.iterdir()) == []
    finally:
        shutil.rmtree(top)


def test_screenshot_into_an_unwritable_place_is_one_line():
    result = subprocess.run([sys.executable, "main.py", "--screenshot", "/proc/shot.png"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == ("main.py: cannot write `/proc/shot.png`: `/proc` does not accept new files "
                                     "(No such file or directory)")


def test_force_keeps_the_previous_run(tmp_path):
    from imface_core.training.trainer import keep_previous_run

    run = tmp_path / "run"
    existing_file(run / "checkpoint.pt", "old checkpoint")
    existing_file(run / "model.pt", "old model")
    with pytest.raises(OutputPathError, match="use --resume to continue it, or --force"):
        keep_previous_run(run, force=False)
    keep_previous_run(run, force=True)
    assert (run / "checkpoint.prev.pt").read_text() == "old checkpoint"
    assert (run / "model.prev.pt").read_text() == "old model"
    assert not (run / "checkpoint.pt").exists() and not (run / "model.pt").exists()
    keep_previous_run(tmp_path / "new_run", force=False)  # a new folder: nothing to refuse


def test_train_force_starts_over_and_keeps_the_old_checkpoint(tmp_path, tiny_data_dir, capsys):
    run = tmp_path / "run"
    argv = ["train", "--data", str(tiny_data_dir), "--out", str(run), "--config", "tiny", "--stage1-steps", "2",
            "--stage2-steps", "0", "--device", "cpu"]
    assert cli.main(argv) == 0
    first = (run / "checkpoint.pt").read_bytes()
    code, line = run_cli(capsys, *argv)
    assert code == 2 and "already holds a training run" in line
    assert (run / "checkpoint.pt").read_bytes() == first
    assert cli.main(argv + ["--force"]) == 0
    assert (run / "checkpoint.prev.pt").read_bytes() == first
    assert (run / "checkpoint.pt").exists()


@pytest.mark.parametrize("device, words", [("foo", "unknown device `foo`"), ("tpu", "unknown device `tpu`")])
def test_editor_refuses_an_unknown_device_before_starting(device, words):
    result = subprocess.run([sys.executable, "main.py", "--device", device], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("main.py: ") and words in lines[0]
