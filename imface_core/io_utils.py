"""Safe file writing: atomic single files, multi-file outputs that land together, and output preflight checks.

* ``atomic_path`` writes to a hidden temporary beside the target, then renames: a crash or a cancelled job
  never leaves a half-written file under the real name. Temporaries carry the writer's process id, so the next
  write of the same target removes those a killed process left behind.
* ``output_set`` writes several files (a fit's mesh, codes and report) so that a reader sees either the old
  complete set or the new one: the last file (the report) is removed first and written last, and a journal
  lets the next run finish a commit that a kill interrupted.
* ``check_output_path`` refuses, before any work starts, an output that cannot be written (a file where a
  folder is needed, a folder or device where a file is, no permission, too little free space).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from imface_core.errors import OutputPathError

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_path",
    "output_set",
    "remove_stale_temps",
    "save_npz_atomic",
    "write_ply_atomic",
]

_TEMP_TAG = ".imtmp"
"""Temporaries are named ``.<target name>.imtmp<pid>-<random><suffix>``."""
_LEGACY_TEMP_AGE_S = 3600.0
"""Temporaries of older versions (no pid in the name) are removed once they are this old."""


def _temp_prefix(path: Path) -> str:
    return f".{path.name}{_TEMP_TAG}{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(path: str | Path) -> int:
    """Remove the temporaries of ``path`` left by writers that no longer run; returns how many."""
    path = Path(path)
    if not path.parent.is_dir():
        return 0
    ours = re.compile(rf"^\.{re.escape(path.name)}{re.escape(_TEMP_TAG)}(\d+)-")
    # older versions: mkstemp(prefix=".<name>.", suffix=<the target's suffix or .tmp>), 8 random characters
    legacy = re.compile(rf"^\.{re.escape(path.name)}\.[a-z0-9_]{{8}}{re.escape(path.suffix or '.tmp')}$")
    removed = 0
    now = time.time()
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return 0
    for entry in entries:
        match = ours.match(entry.name)
        try:
            if match:
                stale = not _pid_alive(int(match.group(1)))
            elif legacy.match(entry.name):
                stale = now - entry.stat().st_mtime > _LEGACY_TEMP_AGE_S
            else:
                continue
            if stale and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed += 1
        except OSError:
            continue
    return removed


def _new_temp(path: Path, suffix: str | None) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=suffix or path.suffix or ".tmp",
                                   dir=path.parent)
    except OSError as exc:
        raise OutputPathError(f"cannot write `{path}`: {exc.strerror or exc}") from exc
    os.close(fd)
    return Path(tmp)


def _publish(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the permissions a normal write would have and rename it onto ``path``."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    OS errors (disk full, no permission) become ``OutputPathError`` naming ``path``, never the temporary.
    """
    path = Path(path)
    remove_stale_temps(path)
    tmp = _new_temp(path, suffix)
    try:
        yield tmp
        _publish(tmp, path)
    except BaseException as exc:
        _unlink_quietly(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, OutputPathError):
            raise OutputPathError(f"could not write `{path}` ({exc.strerror or exc}); the old file, if any, "
                                  "is unchanged") from exc
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_ply_atomic(path: str | Path, mesh, encoding: str = "binary") -> None:
    """Write a trimesh mesh as PLY (binary by default) atomically."""
    data = mesh.export(file_type="ply", encoding=encoding)
    atomic_write_bytes(path, data if isinstance(data, bytes) else data.encode())


def save_npz_atomic(path: str | Path, **arrays) -> None:
    """``numpy.savez`` atomically (the file appears complete or not at all)."""
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


# -- several files that land together ---------------------------------------------------------------------------
def _journal_path(marker: Path) -> Path:
    return marker.with_name(f".{marker.name}.imjournal")


def _apply_journal(journal: Path) -> None:
    """Finish the commit a journal describes: old marker out, each temporary renamed, marker last."""
    pairs = [(Path(t), Path(p)) for t, p in json.loads(journal.read_text(encoding="utf-8"))]
    if pairs and pairs[-1][0].exists():
        _unlink_quietly(pairs[-1][1])  # no old report may stand beside a half-new set
    for tmp, final in pairs:
        if tmp.exists():
            _publish(tmp, final)
    os.unlink(journal)


def recover_output_set(paths: Sequence[str | Path]) -> None:
    """Finish a commit of ``paths`` interrupted by a kill, then remove temporaries of dead writers."""
    paths = [Path(p) for p in paths]
    journal = _journal_path(paths[-1])
    if journal.exists():
        try:
            _apply_journal(journal)
        except (OSError, ValueError, TypeError):
            _unlink_quietly(journal)  # unreadable journal (killed while writing it): nothing was renamed yet
    for p in [*paths, journal]:  # the journal's own temporary too (a kill while it was written)
        remove_stale_temps(p)


@contextmanager
def output_set(paths: Sequence[str | Path]) -> Iterator[list[Path]]:
    """Yield one temporary per path; on success all land together, the last path (the report) last.

    A reader sees the old complete set or the new one: the last file is removed before anything is renamed
    and written after everything else, so a report always stands beside the files it describes. A kill during
    the renames leaves a journal that the next ``output_set`` (or ``recover_output_set``) of the same paths
    finishes. On an error nothing under the real names changes and the temporaries are removed.
    """
    paths = [Path(p) for p in paths]
    recover_output_set(paths)
    temps: list[Path] = []
    try:
        for p in paths:
            temps.append(_new_temp(p, None))
        yield temps
        journal = _journal_path(paths[-1])
        atomic_write_text(journal, json.dumps([[str(t), str(p)] for t, p in zip(temps, paths)]))
        _apply_journal(journal)
    except BaseException as exc:
        for t in temps:
            _unlink_quietly(t)
        if isinstance(exc, OSError) and not isinstance(exc, OutputPathError):
            names = ", ".join(f"`{p}`" for p in paths)
            raise OutputPathError(f"could not write {names} ({exc.strerror or exc}); the old files, if any, "
                                  "are unchanged") from exc
        raise


# -- preflight -----------------------------------------------------------------------------------------------
def _size_text(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def check_output_path(path: str | Path, expected_bytes: int = 0, folder: bool = False) -> Path:
    """Raise ``OutputPathError`` unless ``path`` (a file, or a folder with ``folder=True``) can be written.

    Checks, without creating anything: no existing file or device stands where a folder is needed (the target
    or one of its parents), no folder where a file is, the nearest existing folder accepts a new file, and
    its file system has ``expected_bytes`` free. Returns ``path``.
    """
    path = Path(path)
    try:
        return _check_output_path(path, expected_bytes, folder)
    except OutputPathError:
        raise
    except OSError as exc:  # a parent the user may not even look into
        raise OutputPathError(f"cannot write `{path}`: {exc.strerror or exc}") from exc


def _check_output_path(path: Path, expected_bytes: int, folder: bool) -> Path:
    if path.exists() or path.is_symlink():
        if folder and not path.is_dir():
            raise OutputPathError(f"cannot write into `{path}`: it is a file, not a folder")
        if not folder and path.is_dir():
            raise OutputPathError(f"cannot write `{path}`: it is a folder; give a file name")
        if not folder and not path.is_file():
            raise OutputPathError(f"cannot write `{path}`: it is not a regular file (a device or link)")
    existing = path if folder else path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(f"cannot write `{path}`: `{existing}` is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".imface-write-test-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputPathError(f"cannot write `{path}`: `{existing}` does not accept new files "
                              f"({exc.strerror or exc})") from exc
    if expected_bytes > 0:
        free = shutil.disk_usage(existing).free
        if free < expected_bytes:
            raise OutputPathError(f"not enough free space for `{path}`: about {_size_text(expected_bytes)} "
                                  f"needed, {_size_text(free)} free on `{existing}`")
    return path
