"""The ``imface`` command line: one subcommand per job (synth, prep, train, ...).

Each subcommand lives in its own module under ``imface_core.commands`` and
exposes ``register(subparsers)``; modules are imported only when listed here so
``imface --help`` stays quick.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback

from imface_core.allocator import configure_allocator
from imface_core.errors import CommandError, ImFaceError

# subcommand name -> module under imface_core.commands
SUBCOMMANDS = {
    "synth": "synth",
    "prep": "prep",
    "train": "train",
    "polish": "polish",
    "generate": "generate",
    "bench": "bench",
    "fit": "fit",
    "eval": "eval",
    "region": "region",
    "calibrate": "calibrate",
    "rig": "rig",
}




def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imface", description="ImFace Studio command line: data, training, meshes, fitting."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module in SUBCOMMANDS.items():
        importlib.import_module(f"imface_core.commands.{module}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    configure_allocator()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except (ImFaceError, OSError, ValueError) as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"imface {args.command}: error: {error_line(exc)}"
              + ("" if args.verbose else " (imface -v ... shows the traceback)" if _unexpected(exc) else ""),
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"imface {args.command}: interrupted", file=sys.stderr)
        return 130


def error_line(exc: BaseException) -> str:
    """One line for the user: our own errors as written, OS errors as "reason: `path`"."""
    if isinstance(exc, OSError) and not isinstance(exc, ImFaceError) and exc.strerror:
        names = " -> ".join(f"`{n}`" for n in (exc.filename, exc.filename2) if n)
        text = f"{exc.strerror}: {names}" if names else exc.strerror
    else:
        text = str(exc).strip("'\"") or type(exc).__name__
    return " ".join(text.split())


def _unexpected(exc: BaseException) -> bool:
    """True for errors our code did not word itself (a plain ValueError from a library)."""
    return not isinstance(exc, (ImFaceError, OSError))


if __name__ == "__main__":
    sys.exit(main())
