"""A step as a transaction: what it read (with versions) and what it wrote.

While a handler runs, its reads of shared data and routine states are noted
with the version each key had (the first time it was read), and its writes are
kept here instead of changing the job: the step reads them back, and the
engine commits them with the step, or not at all. At the commit the engine
compares the noted versions with the current ones (the distributed engine in
``commit.lua``, the local engine under the execution's lock, with
:func:`commit_local`); if any changed, the step is refused and runs again.

Blind operations (increment, append) note no read: they are applied to
whatever the value is at the commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routilux.versioned import BLIND, MISSING, RS, SD, VersionedDict, apply_blind

if TYPE_CHECKING:
    from routilux.job_state import JobState

_CONTAINERS = (dict, list, set)


def _own(data: VersionedDict, value: Any) -> Any:
    """What a read hands the step: a shallow copy of a container that the live JobState holds.

    A handler that changes a value in place (``items.append(x)``) then writes it back
    must not change the job before its commit, nor twice if the step runs again.
    A per-step view (the distributed engine's) holds copies already.
    """
    if type(value) in _CONTAINERS and not data.owner._is_view:
        return type(value)(value)
    return value


class StepTxn:
    """The read set and the write overlay of one step."""

    __slots__ = ("reads", "reads_all", "written", "pending", "buffers", "has_blind")

    def __init__(self) -> None:
        self.reads: dict[tuple[str, Any], int] = {}
        """(part, key) -> the version the step saw first."""
        self.reads_all: dict[str, int] = {}
        """part -> the container's version, if the step iterated it."""
        self.written: dict[str, dict[Any, Any]] = {SD: {}, RS: {}}
        """Values the step set (it reads them back; nobody else sees them before the commit)."""
        self.pending: dict[Any, list[tuple[str, Any]]] = {}
        """Blind ops on shared-data keys the step did not set: key -> [(kind, argument)]."""
        self.buffers: dict[tuple[str, str], dict[str, Any]] = {}
        """Slot buffers the step wrote: (routine id, slot) -> buffer."""
        self.has_blind = False

    # -- reads -----------------------------------------------------------
    def read(self, data: VersionedDict, key: Any) -> Any:
        """The value of ``key`` as this step sees it (MISSING if absent); notes the read."""
        part = data.part
        written = self.written[part]
        if key in written:
            return written[key]
        seen = (part, key)
        if seen not in self.reads:
            # Version first, value second: a commit writes the value first, so a race
            # between the two makes the step look stale (it re-runs), never fresh.
            self.reads[seen] = data.versions.get(key, 0)
        value = dict.get(data, key, MISSING)
        ops = self.pending.get(key) if part == SD else None
        return apply_blind(key, value, ops) if ops else _own(data, value)

    def peek(self, data: VersionedDict, key: Any) -> Any:
        """The value of ``key`` as this step sees it, without noting a read."""
        written = self.written[data.part]
        if key in written:
            return written[key]
        value = dict.get(data, key, MISSING)
        ops = self.pending.get(key) if data.part == SD else None
        return apply_blind(key, value, ops) if ops else value

    def read_all(self, data: VersionedDict) -> dict[Any, Any]:
        """Every entry as this step sees it; notes a read of the whole dict."""
        part = data.part
        self.reads_all.setdefault(part, data.version)
        merged = {key: _own(data, value) for key, value in dict.items(data)}
        if part == SD:
            for key, ops in self.pending.items():
                merged[key] = apply_blind(key, merged.get(key, MISSING), ops)
        merged.update(self.written[part])
        return merged

    # -- writes ----------------------------------------------------------
    def set(self, part: str, key: Any, value: Any) -> None:
        """Note that the step set ``key``."""
        self.written[part][key] = value
        if part == SD:
            self.pending.pop(key, None)

    def blind(self, kind: str, key: Any, arg: Any, result: Any) -> None:
        """Note a blind op on shared data; ``result`` is the value the step now sees."""
        self.has_blind = True
        if key in self.written[SD]:
            self.written[SD][key] = result
        else:
            self.pending.setdefault(key, []).append((kind, arg))

    def still_valid(self, job_state: JobState) -> bool:
        """True if nothing this step read changed in ``job_state`` since it read it."""
        parts = {SD: job_state.shared_data, RS: job_state.routine_states}
        for (part, key), version in self.reads.items():
            if parts[part].versions.get(key, 0) != version:
                return False
        return all(parts[part].version == version for part, version in self.reads_all.items())


def resolve_blind(job_state: JobState, ops: list[tuple[Any, ...]]) -> list[tuple[Any, ...]] | None:
    """``ops`` with each blind op turned into the value it sets now; None if one cannot apply."""
    shared = job_state.shared_data
    now: dict[Any, Any] = {}
    out: list[tuple[Any, ...]] = []
    for op in ops:
        kind = op[0]
        if kind == SD:
            now[op[1]] = op[2]
        elif kind in BLIND:
            key = op[1]
            current = now[key] if key in now else dict.get(shared, key, MISSING)
            try:
                now[key] = BLIND[kind](key, current, op[2])
            except (TypeError, OverflowError):
                return None  # the value changed under the step: it runs again and sees why
            op = (SD, key, now[key])
        out.append(op)
    return out


def commit_local(job_state: JobState, ops: list[tuple[Any, ...]], txn: StepTxn) -> bool:
    """Apply a step's ops to ``job_state`` if its reads still hold (caller holds the execution's lock)."""
    if (txn.reads or txn.reads_all) and not txn.still_valid(job_state):
        return False
    resolved = resolve_blind(job_state, ops) if txn.has_blind else ops
    if resolved is None:
        return False
    for op in resolved:
        job_state._apply_op(op)
    return True
