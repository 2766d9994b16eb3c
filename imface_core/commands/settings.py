"""Command-line options made from a settings dataclass, so that a setting is written once: its name, type and
default in the dataclass field, its help in the field's docstring (the string literal under it) and its checks
in the dataclass's ``__post_init__``.

    add_settings_options(parser, FitSettings, ["steps", "seed"])    # --steps, --seed
    settings = settings_from_args(FitSettings, args)                 # FitSettings(**the options given)

Every option's help ends with the dataclass default; an option left out keeps that default. ``bool`` fields
become ``--name/--no-name``, ``Literal[...]`` fields take one of their values, ``X | None`` fields take an X.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import textwrap
import types
import typing
from functools import cache
from typing import Any, Iterable, Literal

__all__ = ["add_settings_options", "field_docs", "settings_from_args"]


@cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass (and of its dataclass bases), by field name."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        for node, after in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr)
                    and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
                docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def _dest(cls: type, name: str) -> str:
    return f"{cls.__name__}.{name}"


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise TypeError(f"settings field `{f.name}` has no default")


def _option_kwargs(hint: Any, name: str) -> dict[str, Any]:
    """argparse keywords for the field ``name`` of type ``hint``."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        (hint,) = [a for a in args if a is not type(None)]
        args = typing.get_args(hint)
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction}
    if typing.get_origin(hint) is Literal:
        return {"choices": args, "type": type(args[0])}
    if hint in (int, float, str):
        return {"type": hint, "metavar": {int: "N", float: "X", str: name.upper()}[hint]}
    raise TypeError(f"no command-line option for a setting of type {hint!r}")


def add_settings_options(parser: argparse.ArgumentParser, cls: type, names: Iterable[str] | None = None,
                         flags: dict[str, str] | None = None) -> None:
    """An option for each field of the dataclass ``cls`` in ``names`` (all fields by default): ``--field-name``
    (or ``flags[name]``), help from the field's docstring, default (shown in the help) from the field."""
    hints = typing.get_type_hints(cls, include_extras=False)
    docs = field_docs(cls)
    chosen = {f.name: f for f in dataclasses.fields(cls)}
    for name in chosen if names is None else names:
        f = chosen[name]
        default = _default(f)
        shown = "unset" if default is None else default
        text = docs.get(name, "").replace("%", "%%")
        parser.add_argument((flags or {}).get(name, "--" + name.replace("_", "-")), dest=_dest(cls, name),
                            default=argparse.SUPPRESS, help=f"{text} (default: {shown})".strip(),
                            **_option_kwargs(hints[name], name))


def settings_from_args(cls: type, args: argparse.Namespace, base: Any = None, **fixed: Any) -> Any:
    """``base`` (default: the dataclass's defaults) with the options of ``cls`` given on the command line and
    ``fixed`` replaced (``fixed`` gives the fields without a default); a value the dataclass's own checks refuse
    is a ``CommandError`` with their message."""
    from imface_core.errors import CommandError

    prefix = f"{cls.__name__}."
    given = {key[len(prefix):]: value for key, value in vars(args).items() if key.startswith(prefix)}
    try:
        if base is None:
            return cls(**{**given, **fixed})
        return dataclasses.replace(base, **{**given, **fixed})
    except ValueError as exc:
        raise CommandError(str(exc)) from exc

