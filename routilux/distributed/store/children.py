"""Sub-flows: the links between a parent job and the child jobs its SubFlow routines start."""

from __future__ import annotations

from routilux.distributed.protocol import args as a
from routilux.distributed.protocol.replies import StatusReply, text
from routilux.distributed.store.base import StoreBase, guarded

PARENT_FIELDS = ("parent_job", "parent_act", "parent_routine", "parent_result")
"""Meta fields of a child job naming its parent (job, activation, SubFlow routine, result mode)."""
KID_PREFIX = "kid:"
"""Meta fields of a parent job: ``kid:<child job id>`` = ``open:<activation>`` or ``done:<activation>``."""


def children_of(meta: dict[str, str]) -> list[dict[str, str]]:
    """The children a parent's meta lists: job id, the activation that started it, open or done."""
    kids = []
    for field, value in meta.items():
        if field.startswith(KID_PREFIX):
            state, _, act = value.partition(":")
            kids.append({"job_id": field[len(KID_PREFIX):], "activation": act, "state": state})
    return kids


def parent_of(meta: dict[str, str]) -> dict[str, str] | None:
    """The parent a child's meta names ({job_id, activation, routine}), or None."""
    if not meta.get("parent_job"):
        return None
    return {"job_id": meta["parent_job"], "activation": meta.get("parent_act", ""),
            "routine": meta.get("parent_routine", "")}


class ChildrenStore(StoreBase):
    """Parent and child jobs: adopting, releasing and finding them."""

    @guarded
    def adopt(self, parent_id: str, child_id: str, act_id: str) -> StatusReply:
        """Count ``child_id`` open in its parent (idempotent): ``ok``, ``unknown`` or ``final`` (the parent ended)."""
        reply = StatusReply.parse(self.run_replicated(parent_id, a.AdoptArgs(child_id, act_id)))
        if reply.outcome == "ok":
            self.redis.sadd(self.keys.subflow_parents, parent_id)
        return reply

    @guarded
    def name_parent(self, child_id: str, parent_id: str, act_id: str, routine_id: str, result: str) -> None:
        """Write the parent's link into a child's meta (idempotent)."""
        values = dict(zip(PARENT_FIELDS, (parent_id, act_id, routine_id, result)))
        self.redis.hset(self.keys.job(child_id, "meta"), mapping=values)

    @guarded
    def release_child(self, parent_id: str, child_id: str) -> StatusReply:
        """Release an ended child in its parent (after posting its "child ended"): ``ok`` with the parent's status
        now, ``duplicate`` or ``unknown``."""
        return StatusReply.parse(self.run_replicated(parent_id, a.ReleaseChildArgs(child_id)))

    @guarded
    def subflow_parents(self) -> list[str]:
        """Jobs that started children not all settled yet."""
        return sorted(text(j) for j in self.redis.smembers(self.keys.subflow_parents))

    @guarded
    def drop_subflow_parent(self, parent_id: str) -> None:
        """A parent's children are all settled (or it is gone): the sweeper stops checking it."""
        self.redis.srem(self.keys.subflow_parents, parent_id)

    @guarded
    def metas(self, job_ids: list[str]) -> list[dict[str, str]]:
        """The meta hash of each job ({} for a job that is gone)."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(self.keys.job(job_id, "meta"))
        return [{text(k): text(v) for k, v in raw.items()} for raw in pipe.execute()]
