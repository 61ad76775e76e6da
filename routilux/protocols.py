"""The shapes the lowest layers of the core refer to, as Protocols.

The core is layered (model, state, the flow, the step, then serialization and
specs); a module low down that must name something higher up (the slot names
the routine that owns it, the context names the running step) names one of
these instead of importing it, so the import graph keeps no circle. The real
classes match them structurally: nothing registers or inherits.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol


class EmitterLike(Protocol):
    """A routine as its events and slots see it: an id and an ``emit``."""

    _id: str

    def emit(self, event_name: str, flow: Any = None, **kwargs: Any) -> None:
        """Emit ``event_name`` with ``kwargs`` as its data."""


class SlotLike(Protocol):
    """A slot as an event sees it: something to link to and deliver to."""

    name: str

    def connect(self, event: Any, param_mapping: dict[str, str] | None = None) -> None:
        """Link the slot and ``event`` both ways."""

    def disconnect(self, event: Any) -> None:
        """Unlink the slot and ``event``."""

    def receive(self, data: dict[str, Any], job_state: Any = None, flow: Any = None) -> None:
        """Deliver ``data`` directly, outside the engines."""


class FlowLike(Protocol):
    """A flow as the state layer and a running handler see it."""

    flow_id: str
    routines: dict[str, Any]

    def routine_id_of(self, routine: Any) -> str | None:
        """The id under which ``routine`` was added, or None."""


class TxnLike(Protocol):
    """A step's transaction as the versioned dicts see it (see routilux.txn.StepTxn)."""

    def read(self, data: Any, key: Any) -> Any:
        """The value of ``key`` as the step sees it; notes the read."""

    def read_all(self, data: Any) -> dict[Any, Any]:
        """Every entry as the step sees it; notes a read of the whole dict."""


class StepLike(Protocol):
    """The running step as the model and the state see it (see routilux.step.StepContext)."""

    flow: Any
    job_state: Any
    routine: Any
    routine_id: str
    activation: Any
    ops: list[tuple[Any, ...]] | None
    check: Callable[[Any], None] | None
    txn: Any

    def emit(self, routine: Any, event_name: str, data: dict[str, Any]) -> None:
        """Turn one emit of ``routine`` into the step's child activations."""


class ChildJobsLike(Protocol):
    """How an engine starts the child jobs of a SubFlow routine (see routilux.builtin_routines.subflow)."""

    def start_child(self, parent_job_id: str, activation_id: str, routine_id: str, config: dict[str, Any],
                    params: dict[str, Any]) -> dict[str, Any] | None:
        """Start the child job of one activation (once per activation).

        Returns the "child ended" data if the engine ran the child to its end already,
        else None: the data reaches the routine's ``child_ended`` slot when it ends.
        """
