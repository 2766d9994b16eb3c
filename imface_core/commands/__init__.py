"""Subcommands of the ``imface`` command line, one module each, and the options several of them share."""

from __future__ import annotations

import argparse

from imface_core.compute import DEVICE_CHOICES


def add_device_option(parser: argparse.ArgumentParser, default: str = "auto", why: str = "") -> None:
    """``--device``, the same for every command (checked before anything is loaded)."""
    note = f": {why}" if why else ""
    parser.add_argument("--device", default=default,
                        help=f"compute device: {DEVICE_CHOICES} (default {default}{note}; auto = CUDA when present)")
