"""A job's lane: what every activation of a job carries so that the fleet treats it as the job was submitted.

The lane is the job's priority (``pr`` in an envelope, see priority.py), tenant
(``tn``, see tenants.py), concurrency key (``ck``, ``submit(concurrency_key=)``)
and trace context (``tc``, see tracing.py). Submit keeps it in the job's meta
(``priority``, ``tenant``, ``concurrency_key``, ``trace_context``) and in the
root's envelope; a commit passes the running activation's lane on to its
children, retries and timers. Every other path that makes an activation (a post,
a resume, a fork, a retry of the job, which opens a trace of its own, and a
sub-flow's child job, which does not take the key) takes the lane from the job's
meta with :meth:`Lane.of_meta`, and every path that sends stored bodies again
sends each in the band and tenant list its envelope names (:class:`Routes`).
"""

from __future__ import annotations

import json
from typing import Any, Iterable, NamedTuple

from routilux.activation import Activation
from routilux.bounds import Limits
from routilux.distributed.protocol import priority as priorities
from routilux.distributed.protocol import tenants
from routilux.distributed.protocol.envelope import job_key_of, open_body, to_envelope
from routilux.distributed.protocol.signing import Keyring
from routilux.errors import DecodeError


class Lane(NamedTuple):
    """A job's priority (None: the default), tenant (None: none), concurrency key ("": none) and trace context."""

    priority: int | None = None
    tenant: str | None = None
    job_key: str = ""
    trace: dict[str, str] | None = None

    @classmethod
    def of_meta(cls, meta: dict[str, str]) -> Lane:
        """The lane a job's meta hash keeps (a job submitted before the meta kept the key or trace has none)."""
        return cls(priorities.carried(priorities.of_meta(meta)), meta.get("tenant") or None,
                   meta.get("concurrency_key") or "", _trace_of(meta.get("trace_context")))

    def envelope(self, act: Activation, flow_hash: str, cause: dict[str, Any] | None = None) -> dict[str, Any]:
        """The envelope of ``act`` (of the flow published as ``flow_hash``) in this lane (see ``to_envelope``)."""
        return to_envelope(act, flow_hash, cause, self.trace, self.job_key, self.priority, self.tenant)

    @property
    def route(self) -> dict[str, Any]:
        """The dispatcher's ``priority`` and ``tenant`` for this lane's messages."""
        return {"priority": self.priority, "tenant": self.tenant}

    def meta_fields(self) -> dict[str, str | int]:
        """This lane as meta fields (none at their defaults), as submit stores them."""
        fields: dict[str, str | int] = {}
        if self.priority is not None:
            fields["priority"] = self.priority
        if self.tenant:
            fields["tenant"] = self.tenant
        if self.job_key:
            fields["concurrency_key"] = self.job_key
        if self.trace:
            fields["trace_context"] = trace_text(self.trace)
        return fields


def trace_text(trace: dict[str, str] | None) -> str:
    """A trace context as the job's meta keeps it (JSON; "" for none)."""
    return json.dumps(trace, separators=(",", ":"), sort_keys=True) if trace else ""


def _trace_of(raw: str | None) -> dict[str, str] | None:
    try:
        return _checked_trace(json.loads(raw)) if raw else None
    except ValueError:
        return None


def _checked_trace(trace: Any) -> dict[str, str] | None:
    """``trace`` if it is a non-empty map of texts (a W3C carrier), else None."""
    ok = isinstance(trace, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in trace.items())
    return trace if ok and trace else None


def lane_of_envelope(envelope: dict[str, Any]) -> Lane:
    """The lane an activation envelope carries (a field that is not well formed counts as absent)."""
    return Lane(priorities.of_envelope(envelope), tenants.of_envelope(envelope), job_key_of(envelope),
                _checked_trace(envelope.get("tc")))


class Routes:
    """Each job's priority and tenant as its stored bodies carry them: the dispatcher's ``priority`` and
    ``tenant`` maps for sending those bodies again."""

    def __init__(self) -> None:
        self.priority: dict[str, int] = {}
        self.tenant: dict[str, str] = {}

    def note(self, member: str, envelope: dict[str, Any]) -> None:
        """Take the lane of the stored "job|activation" ``member``'s envelope."""
        lane = lane_of_envelope(envelope)
        job_id = member.split("|", 1)[0]
        if lane.priority is not None:
            self.priority[job_id] = lane.priority
        if lane.tenant is not None:
            self.tenant[job_id] = lane.tenant


def routes(messages: Iterable[tuple[str, bytes]], keyring: Keyring, limits: Limits) -> Routes:
    """The routes of stored ("job|activation", body) items. A body that cannot be read adds nothing: it goes
    in the default band, and the worker that takes it refuses it."""
    found = Routes()
    for member, body in messages:
        try:
            envelope = open_body(body, keyring, limits)
        except DecodeError:
            continue
        if isinstance(envelope, dict):
            found.note(member, envelope)
    return found
