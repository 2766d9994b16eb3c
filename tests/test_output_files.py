"""Outputs that land together or not at all: ``io_utils.output_set`` and ``atomic_path`` under errors and kills.

The kill tests run a real writer process and SIGKILL it at each stage of writing a three-file set (mesh,
codes, report), and at random moments; afterwards the folder holds the old complete set or the new one,
never a mix, and the next write removes what the killed one left behind.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from imface_core.io_utils import atomic_write_text, output_set, recover_output_set, remove_stale_temps

NAMES = ("face.obj", "face_codes.npz", "face_report.json")

WRITER = r"""
import json, sys, time
from pathlib import Path
from imface_core.io_utils import output_set

folder, generation, pause_at = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
names = ("face.obj", "face_codes.npz", "face_report.json")
payload = (generation * 200_000).encode()
with output_set([folder / n for n in names]) as temps:
    for k, tmp in enumerate(temps):
        if k == pause_at:
            print("paused", flush=True)
            time.sleep(60)
        data = json.dumps({"generation": generation}).encode() if k == 2 else payload
        tmp.write_bytes(data)
    if pause_at == 3:
        print("paused", flush=True)
        time.sleep(60)
print("done", flush=True)
"""


def write_set(folder: Path, generation: str) -> None:
    payload = (generation * 200_000).encode()
    with output_set([folder / n for n in NAMES]) as temps:
        temps[0].write_bytes(payload)
        temps[1].write_bytes(payload)
        temps[2].write_text(json.dumps({"generation": generation}))


def set_state(folder: Path) -> str | None:
    """The generation of a complete, consistent set; None when there is no report; fails on a mix."""
    report = folder / NAMES[2]
    if not report.exists():
        return None
    generation = json.loads(report.read_text())["generation"]
    expected = (generation * 200_000).encode()
    assert (folder / NAMES[0]).read_bytes() == expected, "mesh does not match the report beside it"
    assert (folder / NAMES[1]).read_bytes() == expected, "codes do not match the report beside it"
    return generation


def hidden_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def start_writer(folder: Path, generation: str, pause_at: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(folder), generation, str(pause_at)],
                            stdout=subprocess.PIPE, text=True)


def test_a_set_lands_whole_and_an_error_changes_nothing(tmp_path):
    write_set(tmp_path, "A")
    assert set_state(tmp_path) == "A"
    with pytest.raises(RuntimeError, match="export failed"):
        with output_set([tmp_path / n for n in NAMES]) as temps:
            temps[0].write_bytes(b"half")
            raise RuntimeError("export failed")
    assert set_state(tmp_path) == "A"
    assert hidden_leftovers(tmp_path) == []
    write_set(tmp_path, "B")
    assert set_state(tmp_path) == "B"
    assert hidden_leftovers(tmp_path) == []


@pytest.mark.parametrize("pause_at", [0, 1, 2, 3])
def test_sigkill_during_each_write_leaves_the_old_set(tmp_path, pause_at):
    write_set(tmp_path, "A")
    writer = start_writer(tmp_path, "B", pause_at)
    assert writer.stdout.readline().strip() == "paused"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert set_state(tmp_path) == "A"
    assert hidden_leftovers(tmp_path), "the killed writer should have left its temporaries"
    write_set(tmp_path, "C")  # the next run cleans up after the killed one
    assert set_state(tmp_path) == "C"
    assert hidden_leftovers(tmp_path) == []


@pytest.mark.parametrize("renamed", [0, 1, 2])
def test_a_commit_killed_between_renames_is_finished_by_the_next_run(tmp_path, renamed):
    """The state a kill leaves after the journal and ``renamed`` renames (made by hand: renames take
    microseconds, too short to hit with a signal)."""
    write_set(tmp_path, "A")
    finals = [tmp_path / n for n in NAMES]
    temps = [tmp_path / f".{n}.imtmp999999999-x{Path(n).suffix}" for n in NAMES]
    payload = ("B" * 200_000).encode()
    temps[0].write_bytes(payload)
    temps[1].write_bytes(payload)
    temps[2].write_text(json.dumps({"generation": "B"}))
    atomic_write_text(tmp_path / f".{NAMES[2]}.imjournal",
                      json.dumps([[str(t), str(f)] for t, f in zip(temps, finals)]))
    os.unlink(finals[2])  # the commit removes the old report before its first rename
    for k in range(renamed):
        os.replace(temps[k], finals[k])
    assert set_state(tmp_path) is None  # no report: no set that claims to be complete
    recover_output_set(finals)
    assert set_state(tmp_path) == "B"
    assert hidden_leftovers(tmp_path) == []


def test_a_journal_half_written_by_a_killed_commit_is_removed(tmp_path):
    write_set(tmp_path, "A")
    (tmp_path / f"..{NAMES[2]}.imjournal.imtmp999999999-abc.imjournal").write_text("[[")  # killed mid-write
    recover_output_set([tmp_path / n for n in NAMES])
    assert set_state(tmp_path) == "A"
    assert hidden_leftovers(tmp_path) == []


def test_sigkill_at_random_moments_never_leaves_a_mix(tmp_path):
    rng = random.Random(7)
    write_set(tmp_path, "A")
    seen = {"A"}
    for k in range(12):
        generation = "BCDEFGHIJKLMN"[k]
        writer = start_writer(tmp_path, generation, pause_at=-1)
        time.sleep(rng.uniform(0.0, 0.6))
        writer.kill()
        writer.wait()
        state = set_state(tmp_path)
        assert state is None or state in seen | {generation}
        recover_output_set([tmp_path / n for n in NAMES])
        state = set_state(tmp_path)
        assert state in seen | {generation}
        seen.add(state)
        assert hidden_leftovers(tmp_path) == []


def test_stale_temporaries_of_dead_writers_go_and_live_ones_stay(tmp_path):
    target = tmp_path / "face.obj"
    dead = tmp_path / ".face.obj.imtmp999999999-abc.obj"
    alive = tmp_path / f".face.obj.imtmp{os.getpid()}-abc.obj"
    other = tmp_path / ".other.obj.imtmp999999999-abc.obj"
    for p in (dead, alive, other):
        p.write_text("x")
    assert remove_stale_temps(target) == 1
    assert not dead.exists() and alive.exists() and other.exists()


def test_temporaries_of_older_versions_go_once_old_and_a_users_files_stay(tmp_path):
    target = tmp_path / "face.obj"
    legacy_old = tmp_path / ".face.obj.ab12cd_3.obj"  # mkstemp(prefix=".face.obj.", suffix=".obj")
    legacy_new = tmp_path / ".face.obj.zz12cd_3.obj"
    users = tmp_path / ".face.obj.backup12"
    for p in (legacy_old, legacy_new, users):
        p.write_text("x")
    hours_ago = time.time() - 7200
    for p in (legacy_old, users):
        os.utime(p, (hours_ago, hours_ago))
    assert remove_stale_temps(target) == 1
    assert not legacy_old.exists() and legacy_new.exists() and users.exists()
