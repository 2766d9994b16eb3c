"""The File > Open Recent list, kept in a small JSON file (no Qt).

The file lives in ``$IMFACE_STUDIO_CONFIG`` when set (tests point it at a temporary folder), else in
``$XDG_CONFIG_HOME/imface-studio`` (``~/.config/imface-studio``).  A missing or damaged file is an empty list;
failing to write it only logs a warning (the list is a convenience, never a reason to stop).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

__all__ = ["RecentFiles", "config_dir"]

_log = logging.getLogger(__name__)

KINDS = ("session", "scan")


def config_dir() -> Path:
    env = os.environ.get("IMFACE_STUDIO_CONFIG")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "imface-studio"


class RecentFiles:
    """Most recent first, at most ``limit`` entries of (kind, absolute path)."""

    def __init__(self, path: Path | None = None, limit: int = 8):
        self.path = path or config_dir() / "recent.json"
        self.limit = limit

    def entries(self) -> list[tuple[str, Path]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        out = []
        if isinstance(data, list):
            for item in data:
                if isinstance(item, dict) and item.get("kind") in KINDS and isinstance(item.get("path"), str):
                    out.append((item["kind"], Path(item["path"])))
        return out[: self.limit]

    def add(self, kind: str, path: str | Path) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        path = Path(path).resolve()
        items = [(k, p) for k, p in self.entries() if not (k == kind and p == path)]
        items.insert(0, (kind, path))
        self._write(items[: self.limit])

    def remove(self, kind: str, path: str | Path) -> None:
        """Drop the entry of ``path`` (one whose file is gone or broken)."""
        path = Path(path).resolve()
        self._write([(k, p) for k, p in self.entries() if not (k == kind and p == path)])

    def clear(self) -> None:
        self._write([])

    def _write(self, items: list[tuple[str, Path]]) -> None:
        try:
            from imface_core.io_utils import atomic_write_text

            atomic_write_text(self.path, json.dumps([{"kind": k, "path": str(p)} for k, p in items], indent=1))
        except OSError as exc:
            _log.warning("could not update the recent-files list %s: %s", self.path, exc)
