"""DistributedRuntime methods that list and summarize: flows, one job, workers (job listings: search.py)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from routilux.distributed.protocol.keys import split_slot_field
from routilux.distributed.flows import entry_signature
from routilux.distributed.operations.events import ms_to_iso
from routilux.distributed.operations.search import job_row
from routilux.errors import AmbiguousIdError, FlowNotPublishedError, JobNotFoundError
from routilux.flow_info import describe_flow
from routilux.job_state import TERMINAL

if TYPE_CHECKING:
    from routilux.distributed.operations.store import OpsStore
    from routilux.distributed.store import RedisStore


class OverviewMixin:
    """Flows, job summaries and workers, as plain JSON-able dicts."""

    store: RedisStore
    ops: OpsStore

    def flows(self) -> list[dict[str, Any]]:
        """Published flows: ``[{"flow_id", "latest": hash, "versions": [{"hash", "published_at"}]}]``.

        Versions are oldest first; a flow published before versions were recorded
        lists only its latest hash (``published_at`` None).
        """
        out = []
        for flow_id, latest, versions in self.ops.flows():
            listed = [{"hash": h, "published_at": ms_to_iso(int(ms))} for h, ms in versions]
            if latest not in {v["hash"] for v in listed}:
                listed.append({"hash": latest, "published_at": None})
            out.append({"flow_id": flow_id, "latest": latest, "versions": listed})
        return out

    def flow_info(self, flow_id_or_hash: str) -> dict[str, Any]:
        """A published flow's shape (see :func:`routilux.flow_info.describe_flow`) and its ``hash``.

        Each routine with a "trigger" slot also has ``entry_params``: ``{"params", "accepts_any"}`` of its
        handler, or None where this process cannot know them (its class is not imported here).

        ``flow_id_or_hash`` may also be a unique prefix of a content hash (as ``routilux flows`` prints it).

        Raises:
            FlowNotPublishedError: no flow with that id or hash.
            AmbiguousIdError: a hash prefix matches several published versions.
        """
        digest = flow_id_or_hash if _is_hash(flow_id_or_hash) else self.resolve_flow_hash(flow_id_or_hash)
        data = self.store.flow_data(digest)
        info = describe_flow(data)
        for rid, routine in info["routines"].items():  # what a submit may pass, where this process knows it
            if any(slot["name"] == "trigger" for slot in routine["slots"]):
                routine["entry_params"] = entry_signature(data["routines"][rid])
        return {**info, "hash": digest}

    def resolve_flow_hash(self, flow_id_or_prefix: str) -> str:
        """The content hash of a flow id's latest version, or of the one version whose hash starts with the prefix.

        Raises:
            FlowNotPublishedError: no such flow id, and no published hash starts with it.
            AmbiguousIdError: the prefix matches several published versions.
        """
        try:
            return self.store.latest_hash(flow_id_or_prefix)
        except FlowNotPublishedError:
            if len(flow_id_or_prefix) < 4 or not _is_hex(flow_id_or_prefix):
                raise
        hashes = {v["hash"] for f in self.flows() for v in f["versions"]}  # versions include each latest
        return _one_match(flow_id_or_prefix, sorted(hashes), "flow versions",
                          FlowNotPublishedError(f"no published flow {flow_id_or_prefix!r} (no id, and no hash "
                                                "starts with it)"))

    def resolve_job_id(self, prefix: str) -> str:
        """The full id of the job whose id is ``prefix`` or, failing that, the one job whose id starts with it.

        The CLI and the HTTP API take the short ids they print (the first 8 characters) through this.

        Raises:
            JobNotFoundError: no job's id starts with ``prefix``.
            AmbiguousIdError: several do (the message lists them).
        """
        prefix = prefix.strip()
        if prefix:
            try:
                self.store.status(prefix)
                return prefix
            except JobNotFoundError:
                pass
        ids = {j for batch in self.store.job_id_batches() for j in batch if prefix and j.startswith(prefix)}
        return _one_match(prefix, sorted(ids), "jobs", JobNotFoundError(f"no job {prefix!r} in this store"))

    def job_summary(self, job_id: str) -> dict[str, Any]:
        """A job at a glance: its fields, each routine's status, runs and errors, and activations done/known.

        A routine's status is its routine state's status when it has one (failed,
        error_continued, skipped, completed...); otherwise "running" or "completed"
        once it has run (depending on whether the job has ended) and "waiting" or
        "not run" before.

        Raises:
            JobNotFoundError: no such job.
        """
        meta, states, applied, created_ms = self.ops.summary_parts(job_id)
        if not meta:
            raise JobNotFoundError(f"no job {job_id!r} in this store")
        ended = meta.get("status") in TERMINAL
        names = list(self._flow_routines(meta.get("flow_hash", "")))
        names += [rid for rid in states if rid not in names]
        names += [f[5:] for f in meta if f.startswith("runs:") and f[5:] not in names]
        routines = {}
        for rid in (n for n in names if not n.startswith("_")):  # _cancellation and such are not routines
            runs, errors = int(meta.get(f"runs:{rid}", 0)), int(meta.get(f"errors:{rid}", 0))
            state = states.get(rid)
            status = state.get("status") if isinstance(state, dict) else None
            if not status:
                status = ("completed" if ended else "running") if runs else ("not run" if ended else "waiting")
            routines[rid] = {"status": status, "runs": runs, "errors": errors}
        pending = max(0, int(meta.get("pending", 0) or 0))
        return {**job_row(job_id, meta, created_ms), "updated_at": ms_to_iso(meta.get("updated_at")),
                "routines": routines, "activations": {"done": applied, "known": applied + pending},
                "waiting": [] if ended else open_waits(meta)}

    def _flow_routines(self, digest: str) -> list[str]:
        cache: dict[str, list[str]] = self.__dict__.setdefault("_routine_names", {})
        if digest not in cache:
            try:
                cache[digest] = list(self.store.flow_data(digest)["routines"])
            except Exception:  # a summary still shows what the job itself says
                return []
        return cache[digest]

    def workers(self) -> dict[str, dict[str, Any]]:
        """Live workers by node name: name, host, pid, queues, pool, concurrency, started_at (ISO), uptime_s,
        processed and failed (activations run, and those whose handler raised, since the name first ran),
        last_renewed (ISO), heartbeat_age_s (``age_s`` too), consuming, and running
        (``[{"job_id", "activation_id", "routine_id", "slot", "since"}]``, as their processes last
        reported, at most about half a second old).
        """
        records = self.store.workers()
        running = self.ops.running()
        names = sorted(records)
        counts = dict(zip(names, self.ops.worker_counts(names)))
        now = time.time()
        return {name: _worker_row(name, records[name], counts[name], running.get(name, []), now) for name in names}


def _worker_row(name: str, info: dict[str, Any], counts: tuple[int, int], running: list[dict[str, Any]],
                now: float) -> dict[str, Any]:
    ts = float(info.get("ts", now))
    started = info.get("started")
    jobs = sorted(running, key=lambda r: r.get("since", 0))
    return {**{k: v for k, v in info.items() if k != "started"}, "name": name,
            "pool": info.get("pool"), "concurrency": info.get("concurrency"),
            "started_at": datetime.fromtimestamp(float(started)).isoformat() if started else None,
            "uptime_s": round(now - float(started), 1) if started else None,
            "processed": counts[0], "failed": counts[1],
            "last_renewed": datetime.fromtimestamp(ts).isoformat(), "age_s": round(now - ts, 3),
            "heartbeat_age_s": round(now - ts, 3),
            "running": [{**r, "since": datetime.fromtimestamp(r["since"]).isoformat()} for r in jobs]}


def _is_hash(value: str) -> bool:
    return len(value) == 64 and _is_hex(value)


def _is_hex(value: str) -> bool:
    return all(c in "0123456789abcdef" for c in value)


def _one_match(prefix: str, candidates: list[str], what: str, missing: Exception) -> str:
    """The one candidate starting with ``prefix``; ``missing`` if none, AmbiguousIdError if several."""
    matches = [c for c in candidates if c.startswith(prefix)]
    if not matches:
        raise missing
    if len(matches) > 1:
        raise AmbiguousIdError(prefix, matches, what)
    return matches[0]


def open_waits(meta: dict[str, str]) -> list[dict[str, Any]]:
    """A job's open waits, from its meta: each {"routine", "slot", "wait_id", "until"} (ISO), soonest first."""
    waits = []
    for name, value in meta.items():
        if name.startswith("wait:"):
            routine, slot = split_slot_field(name[5:])
            wait_id, _, until = value.partition("|")
            waits.append({"routine": routine, "slot": slot, "wait_id": wait_id, "until": ms_to_iso(until)})
    return sorted(waits, key=lambda w: w["until"] or "")
