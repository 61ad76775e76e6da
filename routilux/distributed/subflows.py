"""Sub-flows on the distributed engine: child jobs of SubFlow routines, linked to their parents.

A SubFlow activation starts one child job whose id derives from (parent job id,
activation id), so a re-run of that activation (its worker died after starting
the child) finds the same child instead of making a second. The parent counts the
child open (lua/adopt.lua) and does not complete until it is released; when the
child ends, :meth:`ChildJobs.settle` releases it and adds the parent's "child
ended" activation in one script (lua/child_end.lua), once per child. A worker
settles a child right after the commit that ended it, the runtime after a cancel,
and the sweeper (:meth:`ChildJobs.sweep`) every child the others missed, and
cancels the open children of parents that ended.

A child job runs in its parent's priority band and tenant, and in its parent's
trace; it does not take the parent's concurrency key (it is a job of its own, and
waiting for the slot its parent holds until the child ends would never end). The
"child ended" post reaches the parent in the parent's whole lane (see lane.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from routilux import codec
from routilux.activation import Activation, post_activation_id, root_id
from routilux.builtin_routines.subflow import child_result
from routilux.distributed.protocol.envelope import seal
from routilux.distributed.protocol.lane import Lane, trace_text
from routilux.distributed.protocol.keys import slot_field
from routilux.distributed.store.children import children_of, parent_of
from routilux.errors import FlowError, FlowNotPublishedError, JobNotFoundError
from routilux.job_state import TERMINAL

if TYPE_CHECKING:
    from routilux.distributed.dispatch import Dispatcher
    from routilux.distributed.store import RedisStore


_CHILD_NAMESPACE = uuid.UUID("5b1c6a0e-3f0b-4c55-9a57-2f3f1d0c5e11")
CHILD_ENDED_SLOT = "child_ended"


def child_job_id(parent_job_id: str, activation_id: str) -> str:
    """The id of the child job that activation ``activation_id`` of job ``parent_job_id`` starts."""
    return str(uuid.uuid5(_CHILD_NAMESPACE, f"{parent_job_id}|{activation_id}"))


class ChildJobs:
    """Start, settle and cancel the child jobs of SubFlow routines (the engine side of ``ChildJobsLike``)."""

    def __init__(self, store: RedisStore, dispatcher: Dispatcher) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.keyring = store.settings.keyring

    # -- starting ---------------------------------------------------------
    def start_child(self, parent_job_id: str, activation_id: str, routine_id: str, config: dict[str, Any],
                    params: dict[str, Any]) -> None:
        """Start (or find) the child job of one SubFlow activation; its end reaches ``child_ended`` later."""
        child = child_job_id(parent_job_id, activation_id)
        digest, data = self._flow(str(config["flow"]))
        entry = str(config["entry"])
        if "trigger" not in ((data["routines"].get(entry) or {}).get("_slots") or {}):
            raise FlowError(f"SubFlow: flow {data['flow_id']!r} has no entry routine {entry!r} with a 'trigger' slot")
        adopted = self.store.adopt(parent_job_id, child, activation_id)
        if adopted.outcome != "ok":
            return  # the parent ended meanwhile: its step's effect is dropped, and no child starts
        lane = Lane.of_meta(self.store.meta(parent_job_id))._replace(job_key="")
        self._create(child, digest, data, entry, params, lane)
        self.store.name_parent(child, parent_job_id, activation_id, routine_id, str(config.get("result") or "output"))
        if self.store.status(parent_job_id) in TERMINAL:
            self.cancel_tree(child, f"parent job {parent_job_id} ended")  # it ended while the child started
        self.settle(child)  # a child found ended already (this activation ran before) is reported now

    def _flow(self, ref: str) -> tuple[str, dict[str, Any]]:
        digest = ref if len(ref) == 64 and all(c in "0123456789abcdef" for c in ref) else None
        try:
            digest = digest or self.store.latest_hash(ref)
            return digest, self.store.flow_data(digest)
        except (FlowNotPublishedError, KeyError) as exc:
            raise FlowError(f"SubFlow: no published flow {ref!r} (publish it first)") from exc

    def _create(self, child: str, digest: str, data: dict[str, Any], entry: str, params: dict[str, Any],
                lane: Lane) -> None:
        root = Activation(child, root_id(child), entry, "trigger", dict(params))
        body = seal(lane.envelope(root, digest), self.keyring)
        history = codec.packb([[entry, "start", dict(params), datetime.now()]])
        try:
            score = self.store.create_job(child, data["flow_id"], digest, entry, root.activation_id, body, history,
                                          datetime.now().isoformat(), data.get("execution_timeout"), "",
                                          lane.priority, lane.tenant, lane.job_key, trace_text(lane.trace))
        except ValueError:
            return  # made by an earlier run of this activation; the sweeper sends its root if it was not sent
        self.dispatcher.send_or_leave([(f"{child}|{root.activation_id}", body)],
                                      sent=lambda job, ids: self.store.mark_dispatched(job, score, ids),
                                      what=f"the first activation of child job {child}", **lane.route)

    # -- ending -----------------------------------------------------------
    def settle(self, child_id: str, meta: dict[str, str] | None = None) -> bool:
        """If ``child_id`` is a child that ended, tell its parent (once); True if it was told now."""
        try:
            meta = meta if meta is not None else self.store.meta(child_id)
        except JobNotFoundError:
            return False
        parent = parent_of(meta)
        if parent is None or meta.get("status") not in TERMINAL:
            return False
        return self.notify_parent(parent, child_id, self._ended_data(child_id, meta))

    def _ended_data(self, child_id: str, meta: dict[str, str]) -> dict[str, Any]:
        status = meta["status"]
        result = None
        if status == "completed":
            shared = self.store.read_hash(child_id, "sd")
            output = self.store.read_list(child_id, "out") if meta.get("parent_result") == "output" else []
            result = child_result(meta.get("parent_result") or "output", shared, output)
        return {"child_job_id": child_id, "status": status, "error": meta.get("error") or None, "result": result}

    def notify_parent(self, parent: dict[str, str], child_id: str, data: dict[str, Any]) -> bool:
        """Deliver "child ended" to the parent's SubFlow routine as a post (post id ``child:<child job id>``, so a
        retry or a race between hosts makes one activation), then release the child there; True if released now.

        A parent that ended (cancelled, failed) changes nothing.
        """
        parent_id, routine = parent["job_id"], parent["routine"]
        try:
            parent_meta = self.store.meta(parent_id)
        except JobNotFoundError:
            return False
        lane = Lane.of_meta(parent_meta)
        act_id = post_activation_id(f"child:{child_id}")
        act = Activation(parent_id, act_id, routine, CHILD_ENDED_SLOT, data)
        body = seal(lane.envelope(act, parent_meta["flow_hash"]), self.keyring)
        record = {"slot": CHILD_ENDED_SLOT, "data": data, "post": act_id}
        history = codec.packb([[routine, "post", record, datetime.now()]])
        posted = self.store.post(parent_id, act_id, body, slot_field(routine, CHILD_ENDED_SLOT), history)
        if posted.outcome in ("unknown", "ended"):
            return False
        if posted.outcome == "ok" and posted.status == "running":
            score = posted.outbox_score
            self.dispatcher.send_or_leave([(f"{parent_id}|{act_id}", body)],
                                          sent=lambda job, ids: self.store.mark_dispatched(job, score, ids),
                                          what=f"the child-ended post of job {parent_id}", **lane.route)
        released = self.store.release_child(parent_id, child_id)
        if released.outcome == "ok" and released.status in TERMINAL:
            self.job_ended(parent_id)  # releasing the last child completed the parent
        return released.outcome == "ok"

    def job_ended(self, job_id: str) -> None:
        """A job just ended: tell its parent, if it has one; cancel its open children unless it completed."""
        try:
            meta = self.store.meta(job_id)
        except JobNotFoundError:
            return
        self.settle(job_id, meta)
        if meta.get("status") != "completed":
            self.cancel_children(job_id, meta)

    # -- cancelling and sweeping -----------------------------------------
    def cancel_tree(self, job_id: str, reason: str) -> None:
        """Cancel ``job_id`` and, below it, every open child job (a grandchild too)."""
        try:
            self.store.cancel(job_id, reason)
            meta = self.store.meta(job_id)
        except JobNotFoundError:
            return
        self.cancel_children(job_id, meta)
        self.settle(job_id, meta)

    def cancel_children(self, parent_id: str, meta: dict[str, str]) -> None:
        """Cancel the open children of a parent that ended."""
        for kid in children_of(meta):
            if kid["state"] == "open":
                self.cancel_tree(kid["job_id"], f"parent job {parent_id} was {meta.get('status')}")

    def sweep(self) -> int:
        """Settle ended children and cancel the open children of ended parents; returns how many were acted on."""
        acted = 0
        for parent_id in self.store.subflow_parents():
            try:
                meta = self.store.meta(parent_id)
            except JobNotFoundError:
                self.store.drop_subflow_parent(parent_id)
                continue
            acted += self._sweep_parent(parent_id, meta)
        return acted

    def _sweep_parent(self, parent_id: str, meta: dict[str, str]) -> int:
        open_kids = [k["job_id"] for k in children_of(meta) if k["state"] == "open"]
        if meta.get("status") in TERMINAL:
            self.cancel_children(parent_id, meta)
            self.store.drop_subflow_parent(parent_id)
            return len(open_kids)
        if not open_kids:
            self.store.drop_subflow_parent(parent_id)
            return 0
        metas = self.store.metas(open_kids)
        return sum(self.settle(kid, m) for kid, m in zip(open_kids, metas) if m)
