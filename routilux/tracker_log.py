"""The flat rows an ExecutionTracker keeps until someone reads them.

An execution of 100,000 steps records 100,000 steps and as many emits; as a
tuple each, with float objects for the times, they cost about 200 bytes a step.
Here each row is a few pointers in one flat list and its times are C doubles in
an ``array``: about 70 bytes a step.
"""

from __future__ import annotations

from array import array
from typing import Any, Iterator, Sequence

STEP_WIDTH = 2
"""A step row: routine id, outcome (None: completed without error, else (status, error)); times: start, duration."""

EMIT_WIDTH = 4
"""An emit row: source routine id, event name, target routine ids, data; times: when."""


def times() -> array[float]:
    """An empty array of times."""
    return array("d")


def outcome(status: str, error: str | None) -> tuple[str, str | None] | None:
    """What a step row keeps of a step's status and error (None for the common case)."""
    return None if status == "completed" and error is None else (status, error)


def steps_of(rows: list[Any], started: array[float]) -> Iterator[tuple[str, float, float, str, str | None]]:
    """(routine id, start, duration, status, error) of each step row, oldest first."""
    for index in range(0, len(rows), STEP_WIDTH):
        routine_id, kept = rows[index], rows[index + 1]
        status, error = ("completed", None) if kept is None else kept
        yield routine_id, started[index], started[index + 1], status, error


def emits_of(rows: list[Any], at: array[float]) -> Iterator[tuple[str, str, Sequence[str], Any, float]]:
    """(source, event name, target ids, data, time) of each emit row, oldest first."""
    for index, when in enumerate(at):
        source, event_name, targets, data = rows[EMIT_WIDTH * index:EMIT_WIDTH * (index + 1)]
        yield source, event_name, targets, data, when
