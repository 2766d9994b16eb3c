"""Process-wide compute settings: CPU threads, and the device a command or the editor asks for.

Torch is imported inside the functions, so ``imface --help`` can name the device choices quickly.
"""

from __future__ import annotations

from imface_core.errors import DeviceError

__all__ = ["DEVICE_CHOICES", "available_devices", "resolve_device", "set_compute_threads"]

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"
"""What ``--device`` accepts (auto: CUDA when present, else the CPU)."""


def set_compute_threads(threads: int) -> int:
    """Use ``threads`` CPU threads for the model's computations (at least 1); returns the number set."""
    import torch

    n = max(1, int(threads))
    torch.set_num_threads(n)
    return n


def available_devices() -> list[str]:
    """The devices this machine can compute on: ``cpu`` and one ``cuda:N`` per visible GPU."""
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ["cpu"] + [f"cuda:{i}" for i in range(gpus)]


def resolve_device(name=None):
    """The ``torch.device`` for ``name`` (None or "auto": CUDA when present); ``DeviceError`` naming what exists."""
    import torch

    if isinstance(name, torch.device):
        name = str(name)
    text = (name or "auto").strip().lower()
    available = available_devices()
    if text == "auto":
        return torch.device("cuda" if len(available) > 1 else "cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise DeviceError(f"unknown device `{name}`: choose {DEVICE_CHOICES} "
                          f"(available here: {', '.join(available)})") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise DeviceError(f"device `{name}` is not supported: choose {DEVICE_CHOICES} "
                          f"(available here: {', '.join(available)})")
    if len(available) == 1:
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise DeviceError(f"device `{name}`: no CUDA GPU on this machine (torch {torch.__version__}, {build}); "
                          "use --device cpu or auto")
    if device.index is not None and f"cuda:{device.index}" not in available:
        raise DeviceError(f"device `{name}`: this machine has {len(available) - 1} CUDA GPU(s): "
                          f"{', '.join(available[1:])}")
    return device
