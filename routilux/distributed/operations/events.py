"""Job events: a job's history records and status changes, read from its log stream in commit order.

Every commit, status change and submission appends one entry to the job's
stream (see lua/commit.lua and lua/_common.lua); one entry may hold several
history records. An event's ``id`` is ``<stream entry id>.<position in the
entry>``, so it can be handed back as a cursor (or an SSE Last-Event-ID) and
reading resumes right after that event. Status changes of every job also go to
a capped status stream (one per key bucket), read by :meth:`EventsMixin.all_events`.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterator

from routilux.distributed.store import log_records, text
from routilux.job_state import TERMINAL

if TYPE_CHECKING:
    from routilux.distributed.operations.store import OpsStore
    from routilux.distributed.store import RedisStore

KINDS = ("record", "error", "status", "step")


@dataclass(frozen=True)
class JobEvent:
    """One thing that happened to a job.

    ``kind`` is "record" (an ExecutionRecord), "error" (a record of a routine's
    error), "status" (the job's status changed to ``status``) or, only when asked
    for with ``steps=True``, "step" (an activation was committed; ``data`` holds
    its activation id, slot, outcome, and the job's activations done and known).
    """

    id: str
    job_id: str
    kind: str
    time: str
    routine_id: str | None = None
    event_name: str | None = None
    data: dict[str, Any] | None = None
    status: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field."""
        return plain(asdict(self))


def plain(value: Any) -> Any:
    """``value`` with datetimes as ISO text, bytes as base64 and tuples and sets as lists (JSON-able)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def ms_to_iso(value: Any) -> str:
    """Epoch milliseconds (as Redis scripts write them) as local ISO 8601 text."""
    try:
        return datetime.fromtimestamp(int(text(value)) / 1000).isoformat()
    except (TypeError, ValueError):
        return text(value) if value is not None else ""


def split_cursor(cursor: str) -> tuple[str, int | None]:
    """Return (stream entry id, position) of a cursor: "0", "$", "<entry id>" or "<entry id>.<position>"."""
    entry, dot, position = str(cursor).partition(".")
    if dot and position.isdigit():
        return entry, int(position)
    return entry, None


def decode_entry(job_id: str, entry_id: str, fields: dict[bytes, Any], steps: bool = False) -> list[JobEvent]:
    """The events of one entry of a job's log stream."""
    get = {text(k): v for k, v in fields.items()}
    kind = text(get.get("kind", b""))
    when = ms_to_iso(get["ts"]) if "ts" in get else ms_to_iso(entry_id.split("-")[0])
    if kind == "status":
        error = text(get.get("error", b"")) or None
        return [JobEvent(f"{entry_id}.0", job_id, "status", when, status=text(get["status"]), error=error)]
    events = []
    # A "timeout" entry (the job overran its deadline) is a record too; its "failed" status entry follows.
    for position, record in enumerate(log_records(fields)):
        events.append(_record_event(job_id, f"{entry_id}.{position}", record))
    if steps and "routine" in get:
        data = {"activation": text(get.get("act", b"")), "slot": text(get.get("slot", b"")),
                "outcome": text(get.get("outcome", b"")), "raised": text(get.get("raised", b"")) == "1",
                "done": int(get.get("done") or 0), "known": int(get.get("known") or 0),
                "duration_ms": int(get["ms"]) if get.get("ms") not in (None, b"") else None}
        events.append(JobEvent(f"{entry_id}.{len(events)}", job_id, "step", when,
                               routine_id=text(get["routine"]), data=data))
    return events


def _record_event(job_id: str, event_id: str, record: list[Any]) -> JobEvent:
    routine_id, event_name, data, stamp = record[0], record[1], record[2], record[3]
    data = plain(data) if isinstance(data, dict) else {"value": plain(data)}
    when = stamp.isoformat() if isinstance(stamp, datetime) else str(stamp)
    if event_name in ("error", "timeout"):
        error = str(data.get("error") or data.get("reason") or "")
        return JobEvent(event_id, job_id, "error", when, routine_id, event_name, data, error=error)
    return JobEvent(event_id, job_id, "record", when, routine_id, event_name, data)


def status_positions(cursor: str, buckets: int) -> list[str]:
    """Each bucket's status-stream position in a status event id ("0": every stream's start).

    With one bucket an event id is its stream entry id; with several it lists each
    bucket's position, comma-separated, so reading resumes after it in every bucket.

    Raises:
        ValueError: not such an id.
    """
    parts = ["0-0"] * buckets if cursor == "0" else cursor.split(",")
    if len(parts) != buckets or not all(_is_stream_id(p) for p in parts):
        raise ValueError(f"not a status event id: {cursor!r}")
    return parts


def _is_stream_id(value: str) -> bool:
    ms, dash, seq = value.partition("-")
    return ms.isdigit() and (not dash or seq.isdigit())


def decode_status_entry(entry_id: str, fields: dict[bytes, Any]) -> JobEvent:
    """An entry of a status-change stream as a "status" event (``entry_id``: the id to resume after it)."""
    get = {text(k): text(v) for k, v in fields.items()}
    data = {"flow_id": get.get("flow_id") or None}
    return JobEvent(entry_id, get.get("job", ""), "status", ms_to_iso(get.get("ts")), data=data,
                    status=get.get("status"), error=get.get("error") or None)


class EventsMixin:
    """DistributedRuntime methods that read job events."""

    store: RedisStore
    ops: OpsStore

    def read_events(self, job_id: str, cursor: str = "0", count: int = 500, block_s: float = 0.0,
                    steps: bool = False) -> list[JobEvent]:
        """One batch of a job's events after ``cursor`` (XREAD, blocking up to ``block_s`` if none yet).

        Args:
            cursor: "0" for the beginning, or the id of the last event already seen.
            count: stream entries to read at most (an entry may hold several events).
            block_s: wait this long for new events when there are none (0: do not wait).
            steps: include one "step" event per committed activation.

        Raises:
            JobNotFoundError: no such job (or it was deleted).
        """
        entry, position = split_cursor(cursor)
        events: list[JobEvent] = []
        if position is not None:  # the rest of a partly read entry
            for entry_id, fields in self.ops.log_range(job_id, entry, entry):
                events += [e for e in decode_entry(job_id, text(entry_id), fields, steps)
                           if int(e.id.rsplit(".", 1)[1]) > position]
        block_ms = int(block_s * 1000) if block_s > 0 and not events else None
        rows = self.ops.read_log(job_id, entry, count, block_ms)
        if not rows and not events:
            self.store.status(job_id)  # raises JobNotFoundError for an unknown or deleted job
        for entry_id, fields in rows:
            events += decode_entry(job_id, text(entry_id), fields, steps)
        return events

    def read_events_many(self, cursors: dict[str, str], count: int = 500, block_s: float = 0.0,
                         steps: bool = False) -> list[JobEvent]:
        """One batch of events of several jobs, in one XREAD (blocking up to ``block_s`` if none yet).

        ``cursors`` maps job id to "0" or the id of the last event seen; a batch
        always ends on a whole stream entry, so the last event of a job in one
        batch is a good cursor for the next. Events of each job come in its
        commit order; jobs unknown to the store give none.
        """
        cursors = {job_id: split_cursor(cursor)[0] for job_id, cursor in cursors.items()}
        rows = self.ops.read_logs(cursors, count, int(block_s * 1000) if block_s > 0 else None)
        return [event for job_id, entries in rows.items() for entry_id, fields in entries
                for event in decode_entry(job_id, text(entry_id), fields, steps)]

    def events(self, job_id: str, cursor: str = "0", follow: bool = False, block_s: float = 5.0,
               steps: bool = False) -> Iterator[JobEvent]:
        """A job's events in commit order, from after ``cursor``.

        With ``follow`` it keeps reading (XREAD BLOCK) until the job's terminal
        status event has been yielded; it never polls the job hash (only after a
        block that saw nothing does it check the job still exists and is not over).

        Raises:
            JobNotFoundError: no such job (or it was deleted while followed).
        """
        while True:
            batch = self.read_events(job_id, cursor, block_s=block_s if follow else 0.0, steps=steps)
            for event in batch:
                yield event
                cursor = event.id
                if follow and event.kind == "status" and event.status in TERMINAL:
                    return
            if not batch:
                rest = self.events_after_end(job_id, cursor, steps) if follow else []
                if rest is not None:
                    yield from rest
                    return

    def events_after_end(self, job_id: str, cursor: str, steps: bool = False) -> list[JobEvent] | None:
        """After a read that found nothing: None while the job runs; once it has ended, its events after ``cursor``.

        A job can end between a read that found nothing and this check: its last
        events (the terminal status among them) are then read here, not lost.

        Raises:
            JobNotFoundError: no such job (or it was deleted).
        """
        if self.store.status(job_id) not in TERMINAL:
            return None
        return self.read_events(job_id, cursor, steps=steps)

    def all_events(self, cursor: str = "$", block_s: float = 5.0) -> Iterator[JobEvent]:
        """Status changes of every job, live, from the capped status streams; runs until the caller stops.

        ``cursor`` "$" starts with the next change after this call, "0" with the
        oldest one kept, or an event id already seen continues after it.

        Raises:
            ValueError: ``cursor`` is not one of those.
        """
        if cursor == "$":  # now, not at the first next(): changes in between are not missed
            positions = self.ops.last_status_event_ids()
        else:
            positions = status_positions(cursor, self.store.keys.buckets)
        return self._status_events(positions, block_s)

    def _status_events(self, positions: list[str], block_s: float) -> Iterator[JobEvent]:
        while True:
            for bucket, entry_id, fields in self.ops.read_status_events(positions, 500, max(1, int(block_s * 1000))):
                positions[bucket] = entry_id
                yield decode_status_entry(",".join(positions), fields)
