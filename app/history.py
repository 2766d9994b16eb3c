"""Undo/redo of edits: a linear history of immutable states (no Qt).

The editor commits a state when an edit comes to rest (a slider released, a button pressed, a session
opened, a fit finished), not on every intermediate slider value, so one drag is one undo step.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["History"]

T = TypeVar("T")


class History(Generic[T]):
    """States ``[s0, s1, ..., sn]`` with a cursor; ``commit`` drops the redo branch.

    Args:
        initial: the first state (cannot be undone past).
        limit: at most this many states are kept (the oldest are forgotten).
    """

    def __init__(self, initial: T, limit: int = 200):
        if limit < 2:
            raise ValueError("the history needs room for at least two states")
        self._states: list[T] = [initial]
        self._index = 0
        self.limit = limit

    @property
    def current(self) -> T:
        return self._states[self._index]

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._states) - 1

    def __len__(self) -> int:
        return len(self._states)

    def reset(self, state: T) -> None:
        """Forget everything; ``state`` is the new start."""
        self._states = [state]
        self._index = 0

    def commit(self, state: T) -> bool:
        """Record ``state`` as the newest step; False (and nothing changes) when it equals the current one."""
        if state == self.current:
            return False
        del self._states[self._index + 1 :]
        self._states.append(state)
        if len(self._states) > self.limit:
            del self._states[: len(self._states) - self.limit]
        self._index = len(self._states) - 1
        return True

    def undo(self) -> T | None:
        """Step back; the state to show, or None at the start."""
        if not self.can_undo:
            return None
        self._index -= 1
        return self.current

    def redo(self) -> T | None:
        """Step forward again; the state to show, or None at the newest."""
        if not self.can_redo:
            return None
        self._index += 1
        return self.current
