"""The codebase stays lean: no function, method, property or class of the product without a caller.

Callers are looked for everywhere (product, benchmarks, scripts, tests) by vulture; what only Python or Qt
calls by name (``forward`` of a torch module, a module's ``__getattr__``, Qt's ``eventFilter``) is not a
finding.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CALLED_BY_NAME = {"forward", "__getattr__", "eventFilter"}
"""Names that torch, Python or Qt call without a caller in our code."""
KINDS = {"function", "method", "property", "class"}


def test_no_function_without_a_caller():
    from vulture import Vulture

    scan = Vulture()
    scan.scavenge([str(REPO_ROOT / name) for name in ("imface_core", "app", "main.py", "benchmarks", "scripts",
                                                       "tests")])
    product = (REPO_ROOT / "imface_core", REPO_ROOT / "app", REPO_ROOT / "main.py")
    unused = [f"{Path(item.filename).relative_to(REPO_ROOT)}:{item.first_lineno} {item.typ} {item.name}"
              for item in scan.get_unused_code(min_confidence=60)
              if item.typ in KINDS and item.name not in CALLED_BY_NAME
              and any(Path(item.filename).is_relative_to(p) for p in product)]
    assert not unused, "no caller anywhere:\n" + "\n".join(unused)
