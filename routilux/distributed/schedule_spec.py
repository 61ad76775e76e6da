"""What a schedule is (flow, entry, parameters, when, policies) and when its ticks fall.

Tick times are epoch milliseconds on Redis's clock. Cron expressions are read by
``cronsim`` (no dependencies; it steps through zoneinfo datetimes and handles
daylight-saving changes as Debian cron does: a time skipped by the spring change
runs at the first moment after it, a fixed time repeated by the autumn change runs
once, an every-N-minutes expression runs in both repeated hours).
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone as dt_timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from routilux import codec
from routilux.distributed.flows import HIDDEN_CATEGORIES
from routilux.distributed.protocol.priority import check_priority
from routilux.distributed.protocol.tenants import check_tenant
from routilux.errors import ScheduleError
from routilux.flow_control import check_job_key

OVERLAPS = ("skip", "allow", "cancel_previous")
CATCH_UPS = ("skip", "one", "all")
MIN_EVERY_S = 1.0  # ticks are fired by workers polling Redis: finer than a second is not a schedule's job
SPEC_VERSION = 1


def epoch_ms(value: datetime | float | None) -> int | None:
    """A datetime (naive: UTC) or epoch seconds as epoch ms; None stays None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt_timezone.utc)
        return int(aware.timestamp() * 1000)
    return int(float(value) * 1000)


@dataclass(frozen=True)
class ScheduleSpec:
    """One schedule: start ``flow`` at ``entry`` with ``params`` on every tick of ``cron`` or ``every_s``.

    ``anchor_ms``: for ``every_s``, the time of the first tick (ticks fall every
    ``every_s`` from it). ``start_ms``/``end_ms``: no tick before/after them.
    ``priority``, ``tenant`` and ``concurrency_key``: each tick's job is submitted
    with them (None: submit's default).
    """

    schedule_id: str
    flow: str
    entry: str
    params: dict[str, Any] = field(default_factory=dict)
    cron: str | None = None
    every_s: float | None = None
    timezone: str = "UTC"
    overlap: str = "skip"
    catch_up: str = "skip"
    start_ms: int | None = None
    end_ms: int | None = None
    anchor_ms: int = 0
    priority: int | None = None
    tenant: str | None = None
    concurrency_key: str | None = None

    def __post_init__(self) -> None:
        _check_id(self.schedule_id)
        if self.priority is not None:
            check_priority(self.priority)
        check_tenant(self.tenant)
        check_job_key(self.concurrency_key)
        if (self.cron is None) == (self.every_s is None):
            raise ScheduleError("give a schedule exactly one of cron and every_s")
        if self.every_s is not None and not self.every_s >= MIN_EVERY_S:
            raise ScheduleError(f"every_s must be at least {MIN_EVERY_S} s, not {self.every_s!r}")
        if self.overlap not in OVERLAPS:
            raise ScheduleError(f"overlap must be one of {', '.join(OVERLAPS)}, not {self.overlap!r}")
        if self.catch_up not in CATCH_UPS:
            raise ScheduleError(f"catch_up must be one of {', '.join(CATCH_UPS)}, not {self.catch_up!r}")
        if self.start_ms is not None and self.end_ms is not None and self.end_ms <= self.start_ms:
            raise ScheduleError("end_at must be after start_at")
        self.zone()
        if self.cron is not None:
            self._cron_after(0)

    def lane(self) -> dict[str, Any]:
        """The keyword arguments of submit that put a tick's job in the schedule's lane."""
        return {"priority": self.priority, "tenant": self.tenant, "concurrency_key": self.concurrency_key}

    def zone(self) -> ZoneInfo:
        """The schedule's time zone (ScheduleError if there is no such zone)."""
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ScheduleError(f"unknown time zone {self.timezone!r}") from exc

    def next_after(self, after_ms: int) -> int | None:
        """The first tick strictly after ``after_ms`` within the schedule's window, or None once it is over."""
        after_ms = max(after_ms, (self.start_ms or 0) - 1)
        tick = self._cron_after(after_ms) if self.cron is not None else self._every_after(after_ms)
        return None if self.end_ms is not None and tick > self.end_ms else tick

    def _every_after(self, after_ms: int) -> int:
        every_ms = int(self.every_s * 1000)  # type: ignore[operator]
        if after_ms < self.anchor_ms:
            return self.anchor_ms
        return self.anchor_ms + ((after_ms - self.anchor_ms) // every_ms + 1) * every_ms

    def _cron_after(self, after_ms: int) -> int:
        from cronsim import CronSim, CronSimError

        start = datetime.fromtimestamp(after_ms / 1000, self.zone())
        try:
            return int(next(CronSim(self.cron, start)).timestamp() * 1000)  # type: ignore[arg-type]
        except (CronSimError, StopIteration) as exc:
            raise ScheduleError(f"cron expression {self.cron!r}: {exc or 'it never fires'}") from exc

    def to_blob(self) -> bytes:
        """The spec as msgpack (a plain dict with a version)."""
        return codec.packb({"v": SPEC_VERSION, **asdict(self)})

    @classmethod
    def from_blob(cls, blob: bytes, limits: Any) -> ScheduleSpec:
        """Read a spec written by :meth:`to_blob`."""
        data = codec.unpackb(blob, limits)
        data.pop("v", None)
        return cls(**data)


def _check_id(schedule_id: Any) -> None:
    """1 to 200 characters; no braces (a hash tag), ``/`` (a URL path) or characters that hide what one reads."""
    if (not isinstance(schedule_id, str) or not 0 < len(schedule_id) <= 200
            or any(c in "{}/" or unicodedata.category(c) in HIDDEN_CATEGORIES for c in schedule_id)):
        raise ScheduleError(f"a schedule id is 1 to 200 characters without braces, '/' or control characters, "
                            f"not {schedule_id!r:.80}")


def tick_key(schedule_id: str, tick_ms: int) -> str:
    """The idempotency key of one tick's job: the tick makes one job however many workers fire it."""
    return f"schedule\x1f{schedule_id}\x1f{tick_ms}"
