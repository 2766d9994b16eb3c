"""The errors ImFace Studio raises for problems a user can act on (torch-free, importable anywhere).

Every expected failure derives from :class:`ImFaceError`; its message names the file or value and says
what to do. The command line prints it as one line (exit code 2); the editor shows it in a dialog. Anything
else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "Cancelled",
    "ImFaceError",
    "CheckpointError",
    "CodesError",
    "CommandError",
    "DatasetError",
    "DeviceError",
    "OutputPathError",
    "ResourceError",
    "ScanError",
]


class ImFaceError(Exception):
    """Base of the errors a user can act on; the message is complete without a traceback."""


class CheckpointError(ImFaceError, ValueError):
    """A model or checkpoint file that cannot be used; the message names the file and the problem."""


class CodesError(ImFaceError, ValueError):
    """Latent codes that are missing, of the wrong size, not finite or absurdly far from the model's prior."""


class CommandError(ImFaceError, RuntimeError):
    """A command-line request that cannot be carried out (bad option combination, nothing produced, ...)."""


class DatasetError(ImFaceError, ValueError):
    """A data folder that cannot be trained on; the message names the file."""


class DeviceError(ImFaceError, ValueError):
    """A compute device that does not exist on this machine (the message names what is available)."""


class OutputPathError(ImFaceError, OSError):
    """An output that cannot be written (a file where a folder is needed, no permission, disk full)."""


class ResourceError(ImFaceError, MemoryError):
    """Work that would not fit in this machine's memory (the message gives the estimate and the limit)."""


class ScanError(ImFaceError, ValueError):
    """A scan (or its landmarks) that cannot be fitted; the message names the file and the problem."""


class Cancelled(Exception):
    """Work stopped because its cancel token was set (``engine.chunks.CancelToken``: anything with
    ``is_set()``, e.g. a ``threading.Event``); no partial result is returned. The one cancel type of the
    package: extraction, previews and fits all raise it. Not an error: the caller asked for it."""

