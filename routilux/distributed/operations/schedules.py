"""Schedules: start a flow on every tick of a cron expression or an interval, fired by the workers."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from routilux import codec
from routilux.distributed.schedule_spec import ScheduleSpec, epoch_ms
from routilux.distributed.store import ScheduleStore
from routilux.errors import ScheduleError, ScheduleNotFoundError

if TYPE_CHECKING:
    from routilux.distributed.store import RedisStore
    from routilux.flow import Flow

COUNTS = ("fired", "missed", "skipped", "failed", "triggered")


class SchedulesMixin:
    """:class:`DistributedRuntime` methods to add, list, pause, resume, delete and trigger schedules."""

    store: RedisStore
    publish: Callable[[Flow], str]
    submit: Callable[..., str]

    @property
    def _schedules(self) -> ScheduleStore:
        return ScheduleStore(self.store)

    def schedule(self, schedule_id: str, flow: Flow | str, entry: str, params: dict[str, Any] | None = None, *,
                 cron: str | None = None, every_s: float | None = None, timezone: str = "UTC",
                 overlap: str = "skip", catch_up: str = "skip", start_at: datetime | float | None = None,
                 end_at: datetime | float | None = None, priority: int | None = None, tenant: str | None = None,
                 concurrency_key: str | None = None) -> dict[str, Any]:
        """Create (or replace) a schedule: the workers start a job of ``flow`` at ``entry`` on every tick.

        Args:
            flow: a Flow (published now; ticks start its flow id's latest version), a flow id or a hash.
            cron: a cron expression (5 fields, or 6 with seconds first), read in ``timezone``.
            every_s: or an interval of at least 1 s; ticks fall every ``every_s`` from ``start_at``
                (or from now: the first tick is ``every_s`` from now).
            overlap: when the previous tick's job still runs: ``skip`` this tick, ``allow`` both,
                or ``cancel_previous`` and start this one.
            catch_up: when several ticks are due at once (the workers or Redis were down through at
                least one whole period): ``skip`` them all, start ``one`` job for the latest, or
                ``all`` of them, oldest first.
            start_at, end_at: no tick before / after (datetimes, naive meaning UTC, or epoch seconds).
            priority, tenant, concurrency_key: each tick's job is submitted with them (see :meth:`submit`).

        Returns:
            The schedule as :meth:`schedules` lists it.

        Raises:
            ScheduleError: a bad id, cron expression, interval, time zone, window or policy.
            InvalidPriorityError, InvalidTenantError, LimitError: a bad priority, tenant or concurrency key.
            FlowNotPublishedError: no flow with that id or hash.
        """
        flow_ref = flow if isinstance(flow, str) else flow.flow_id
        if not isinstance(flow, str):
            self.publish(flow)
        params = dict(params or {})
        codec.packb(params, root="entry_params")
        now = self.store.now_ms()
        anchor = epoch_ms(start_at) or now + int((every_s or 0) * 1000)
        spec = ScheduleSpec(schedule_id, flow_ref, entry, params, cron, every_s, timezone, overlap, catch_up,
                            epoch_ms(start_at), epoch_ms(end_at), anchor, priority, tenant, concurrency_key)
        self._check_entry(flow_ref, entry)
        self._schedules.put(spec, spec.next_after(now - 1))
        return self.get_schedule(schedule_id)

    def _check_entry(self, flow: str, entry: str) -> None:
        data = self.store.flow_data(flow if len(flow) == 64 else self.store.latest_hash(flow))
        if "trigger" not in ((data["routines"].get(entry) or {}).get("_slots") or {}):
            raise ScheduleError(f"flow {flow!r} has no entry routine {entry!r} with a 'trigger' slot")

    def schedules(self) -> list[dict[str, Any]]:
        """Every schedule, by id: spec, state, next and last fire times, counts and latest ticks."""
        out = []
        for schedule_id in self._schedules.ids():
            try:
                out.append(self.get_schedule(schedule_id))
            except ScheduleNotFoundError:  # deleted meanwhile
                continue
        return out

    def get_schedule(self, schedule_id: str) -> dict[str, Any]:
        """One schedule as :meth:`schedules` lists it (raises ScheduleNotFoundError).

        Keys: ``schedule_id, flow, entry, params, cron, every_s, timezone, overlap, catch_up,
        start_ms, end_ms, priority, tenant, concurrency_key, paused, next_ms`` (None once ``end_at`` passed), ``last_tick_ms, last_job``,
        the counts ``fired, missed, skipped, failed, triggered``, and ``ticks``: the latest tick
        records, newest first (``tick_ms, decision`` = fired/missed/skipped/failed/triggered, ``job_id``...).
        """
        spec, state = self._schedules.read(schedule_id)
        info = {k: v for k, v in vars(spec).items() if k != "anchor_ms"}
        info.update(paused=state.get("paused") == "1", next_ms=_int(state.get("next_ms")),
                    last_tick_ms=_int(state.get("last_tick_ms")), last_job=state.get("last_job") or None)
        info.update({c: int(state.get(c) or 0) for c in COUNTS})
        info["ticks"] = self._schedules.ticks(schedule_id, 20)
        return info

    def pause_schedule(self, schedule_id: str) -> None:
        """Stop firing a schedule until :meth:`resume_schedule` (ticks meanwhile are not caught up)."""
        self._schedules.read(schedule_id)
        self._schedules.set_paused(schedule_id, True)

    def resume_schedule(self, schedule_id: str) -> None:
        """Fire a paused schedule again, from its first tick after now."""
        spec, _ = self._schedules.read(schedule_id)
        self._schedules.set_paused(schedule_id, False, spec.next_after(self.store.now_ms()))

    def delete_schedule(self, schedule_id: str) -> None:
        """Delete a schedule and its tick records; the jobs it started stay (raises ScheduleNotFoundError)."""
        if not self._schedules.delete(schedule_id):
            raise ScheduleNotFoundError(f"no schedule {schedule_id!r} in this store")

    def trigger_schedule(self, schedule_id: str) -> str:
        """Start one job of the schedule now, outside its ticks (paused or not); returns the job id.

        It counts as the schedule's latest job, so the next tick's ``overlap`` policy sees it.
        """
        spec, _ = self._schedules.read(schedule_id)
        job_id = self.submit(spec.flow, spec.entry, spec.params, **spec.lane())
        record = {"tick_ms": self.store.now_ms(), "decision": "triggered", "job_id": job_id}
        self._schedules.note_trigger(schedule_id, record, job_id)
        return job_id


def _int(value: str | None) -> int | None:
    return int(value) if value else None
