"""Small routines and helpers shared by the core behaviour tests.

Everything a routine does during an execution is written to that execution's
JobState (never to ``self``), so tests can read what happened from the JobState
alone. The module is also imported by the fresh-process resume test, so keep it
free of pytest imports.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from routilux import Flow, JobState, Routine


class Source(Routine):
    """Entry routine: emits its entry params unchanged on ``output``."""

    def __init__(self) -> None:
        """Define the ``trigger`` slot and the ``output`` event."""
        super().__init__()
        self.trigger_slot = self.define_slot("trigger", handler=self.fire)
        self.output_event = self.define_event("output")

    def fire(self, **kwargs: Any) -> None:
        """Forward the entry params."""
        self.emit("output", **kwargs)


class Burst(Routine):
    """Entry routine: emits ``output`` once per item of ``items`` (as ``value``)."""

    def __init__(self) -> None:
        """Define the ``trigger`` slot and the ``output`` event."""
        super().__init__()
        self.define_slot("trigger", handler=self.fire)
        self.define_event("output", ["value"])

    def fire(self, items: list[Any] | None = None, **kwargs: Any) -> None:
        """Emit each item."""
        for item in items or []:
            self.emit("output", value=item)


class Relay(Routine):
    """Logs what its ``input`` slot receives, then emits it unchanged on ``output``."""

    def __init__(self) -> None:
        """Define the ``input`` slot and the ``output`` event."""
        super().__init__()
        self.input_slot = self.define_slot("input", handler=self.relay)
        self.output_event = self.define_event("output")

    def relay(self, **kwargs: Any) -> None:
        """Record the payload and pass it on."""
        record(self, kwargs)
        self.emit("output", **kwargs)


class Sink(Routine):
    """Logs what its ``input`` slot receives."""

    def __init__(self) -> None:
        """Define the ``input`` slot."""
        super().__init__()
        self.input_slot = self.define_slot("input", handler=self.collect)

    def collect(self, **kwargs: Any) -> None:
        """Record the payload."""
        record(self, kwargs)


class PauseOnce(Routine):
    """Relays its input and pauses the execution the first time it runs in it.

    With ``set_config(defer=True)`` it also keeps a deferred ``output`` event
    (``deferred=True``) before pausing.
    """

    def __init__(self) -> None:
        """Define the ``input`` slot and the ``output`` event."""
        super().__init__()
        self.define_slot("input", handler=self.relay)
        self.define_event("output")

    def relay(self, **kwargs: Any) -> None:
        """Record, emit, maybe defer, and pause on the first visit."""
        ctx = self.get_execution_context()
        assert ctx is not None
        record(self, kwargs)
        self.emit("output", **kwargs)
        if ctx.job_state.get_shared_data(f"paused:{ctx.routine_id}"):
            return
        ctx.job_state.update_shared_data(f"paused:{ctx.routine_id}", True)
        if self.get_config("defer"):
            self.emit_deferred_event("output", deferred=True)
        ctx.flow.pause(ctx.job_state, reason="paused by a handler", checkpoint={"at": ctx.routine_id})


class Flaky(Routine):
    """Relays its input, but raises on its first ``fail_times`` attempts per activation payload.

    Attempts are counted in the execution's shared data (``attempts:<id>``), so
    each execution counts its own.
    """

    def __init__(self) -> None:
        """Define the ``input`` slot and the ``output`` event; fail once by default."""
        super().__init__()
        self.define_slot("input", handler=self.relay)
        self.define_event("output")
        self.set_config(fail_times=1)

    def relay(self, **kwargs: Any) -> None:
        """Count the attempt, fail while under ``fail_times``, else relay."""
        ctx = self.get_execution_context()
        assert ctx is not None
        key = f"attempts:{ctx.routine_id}:{sorted(kwargs.items())!r}"
        attempts = ctx.job_state.get_shared_data(key, 0) + 1
        ctx.job_state.update_shared_data(key, attempts)
        if attempts <= self.get_config("fail_times", 1):
            raise ValueError(f"attempt {attempts} of {ctx.routine_id} failed")
        record(self, kwargs)
        self.emit("output", **kwargs)


class Boom(Routine):
    """Always raises ``RuntimeError`` (after emitting, so tests can see emits are discarded)."""

    def __init__(self) -> None:
        """Define the ``input`` and ``trigger`` slots and the ``output`` event."""
        super().__init__()
        self.define_slot("input", handler=self.explode)
        self.define_slot("trigger", handler=self.explode)
        self.define_event("output")

    def explode(self, **kwargs: Any) -> None:
        """Emit, write state, then raise."""
        ctx = self.get_execution_context()
        assert ctx is not None
        self.emit("output", **kwargs)
        ctx.job_state.update_shared_data(f"wrote:{ctx.routine_id}", True)
        raise RuntimeError(f"{ctx.routine_id} exploded")


def record(routine: Routine, payload: dict[str, Any]) -> None:
    """Append ``{"routine": <flow id of routine>, "payload": payload}`` to the execution's shared log."""
    ctx = routine.get_execution_context()
    assert ctx is not None, "record() must be called from a handler"
    ctx.job_state.append_to_shared_log({"routine": ctx.routine_id, "payload": dict(payload)})


def received(job_state: JobState, routine_id: str | None = None) -> list[Any]:
    """Return the payloads logged by :func:`record` (of one routine, if given), in order."""
    return [
        entry["payload"]
        for entry in job_state.shared_log
        if "routine" in entry and (routine_id is None or entry["routine"] == routine_id)
    ]


def visits(job_state: JobState) -> list[str]:
    """Return the routine ids that logged a payload, in order."""
    return [entry["routine"] for entry in job_state.shared_log if "routine" in entry]


def events(job_state: JobState, routine_id: str | None = None) -> list[tuple[str, str]]:
    """Return the history as (routine id, event name) pairs, oldest first."""
    return [(r.routine_id, r.event_name) for r in job_state.execution_history if routine_id in (None, r.routine_id)]


def chain(*pairs: tuple[str, Routine], flow: Flow | None = None, **flow_kwargs: Any) -> Flow:
    """Add routines in order and connect each one's ``output`` to the next one's ``input``."""
    flow = flow or Flow(**flow_kwargs)
    ids = [flow.add_routine(routine, rid) for rid, routine in pairs]
    for src, tgt in zip(ids, ids[1:]):
        flow.connect(src, "output", tgt, "input")
    return flow


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; returns whether it held.

    Only for states nothing signals (e.g. "the pause has taken effect" while a
    handler is still blocked); completion is always awaited through the engine.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


class Gate:
    """A pair of events to hold a handler until a test lets it go."""

    def __init__(self) -> None:
        """Create the ``entered`` and ``released`` events."""
        self.entered = threading.Event()
        self.released = threading.Event()

    def hold(self, timeout: float = 10.0) -> None:
        """Called by a handler: say it has entered, then wait to be released."""
        self.entered.set()
        if not self.released.wait(timeout):
            raise TimeoutError("gate was never released")
