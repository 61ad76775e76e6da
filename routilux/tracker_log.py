"""Compact logs of an ExecutionTracker's steps and emits, kept until someone reads them.

An execution of 100,000 steps records 100,000 of each; as tuples holding float
objects they cost about 200 bytes a step. Here each row is a few pointers in
one flat list and its times are C doubles in an ``array``: about 70 bytes.
"""

from __future__ import annotations

from array import array
from typing import Any, Iterator, Sequence

_COMPLETED = None  # the outcome of a step that completed without error, stored as one pointer


class StepLog:
    """Rows of (routine id, start, duration, status, error) for finished steps."""

    __slots__ = ("_rows", "_times")

    def __init__(self) -> None:
        self._rows: list[Any] = []  # routine id, outcome (None, or (status, error)), ...
        self._times = array("d")  # started, duration_s, ...

    def add(self, routine_id: str, started: float, duration_s: float, status: str, error: str | None) -> None:
        """Append one row."""
        outcome = _COMPLETED if status == "completed" and error is None else (status, error)
        self._rows += (routine_id, outcome)
        self._times.extend((started, duration_s))

    def drain(self) -> Iterator[tuple[str, float, float, str, str | None]]:
        """Yield every row, oldest first, and forget them."""
        rows, times = self._rows, self._times
        self._rows, self._times = [], array("d")
        for index in range(0, len(rows), 2):
            outcome = rows[index + 1]
            status, error = ("completed", None) if outcome is _COMPLETED else outcome
            yield rows[index], times[index], times[index + 1], status, error


class EmitLog:
    """Rows of (source routine id, event, target routine ids, data, time) for emits."""

    __slots__ = ("_rows", "_times")

    def __init__(self) -> None:
        self._rows: list[Any] = []  # source, event name, target ids, data, ...
        self._times = array("d")

    def add(self, source: str, event_name: str, targets: Sequence[str], data: Any, at: float) -> None:
        """Append one row (``targets`` is kept as given: pass a tuple that nobody changes)."""
        self._rows += (source, event_name, targets, data)
        self._times.append(at)

    def drain(self) -> Iterator[tuple[str, str, Sequence[str], Any, float]]:
        """Yield every row, oldest first, and forget them."""
        rows, times = self._rows, self._times
        self._rows, self._times = [], array("d")
        for index, at in enumerate(times):
            base = 4 * index
            yield rows[base], rows[base + 1], rows[base + 2], rows[base + 3], at
