"""When a schedule's ticks fall: intervals, cron in a time zone across daylight-saving changes, windows."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from routilux.distributed.schedule_spec import ScheduleSpec
from routilux.errors import ScheduleError

BERLIN = ZoneInfo("Europe/Berlin")


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def ticks(spec: ScheduleSpec, after: int, n: int) -> list[int]:
    out = []
    for _ in range(n):
        after = spec.next_after(after)
        out.append(after)
    return out


def test_an_interval_ticks_every_period_from_its_anchor():
    spec = ScheduleSpec("s", "f", "e", every_s=30, anchor_ms=1_000_000)
    assert ticks(spec, 0, 3) == [1_000_000, 1_030_000, 1_060_000]
    assert spec.next_after(1_030_000) == 1_060_000 and spec.next_after(1_030_001) == 1_060_000


def test_a_daily_cron_time_skipped_by_the_spring_change_runs_once_just_after_it():
    spec = ScheduleSpec("s", "f", "e", cron="30 2 * * *", timezone="Europe/Berlin")
    got = [datetime.fromtimestamp(t / 1000, BERLIN) for t in ticks(spec, ms(datetime(2026, 3, 28, 12, tzinfo=BERLIN)), 3)]
    assert [d.strftime("%m-%d %H:%M %z") for d in got] == ["03-29 03:00 +0200", "03-30 02:30 +0200", "03-31 02:30 +0200"]


def test_a_daily_cron_time_repeated_by_the_autumn_change_runs_once():
    spec = ScheduleSpec("s", "f", "e", cron="30 2 * * *", timezone="Europe/Berlin")
    got = ticks(spec, ms(datetime(2026, 10, 24, 12, tzinfo=BERLIN)), 3)
    assert [t2 - t1 for t1, t2 in zip(got, got[1:])] == [25 * 3600_000, 24 * 3600_000]


def test_an_every_half_hour_cron_runs_in_both_repeated_hours_of_the_autumn_change():
    spec = ScheduleSpec("s", "f", "e", cron="*/30 * * * *", timezone="Europe/Berlin")
    got = ticks(spec, ms(datetime(2026, 10, 25, 1, 50, tzinfo=BERLIN)), 5)
    assert [t2 - t1 for t1, t2 in zip(got, got[1:])] == [1800_000] * 4  # real time: no gap, no double


def test_no_tick_falls_before_start_or_after_end():
    spec = ScheduleSpec("s", "f", "e", every_s=10, anchor_ms=0, start_ms=95_000, end_ms=120_000)
    assert ticks(spec, 0, 3) == [100_000, 110_000, 120_000]
    assert spec.next_after(120_000) is None


@pytest.mark.parametrize("kwargs", [
    {}, {"cron": "* * * * *", "every_s": 5}, {"every_s": 0.5}, {"cron": "61 * * * *"}, {"cron": "not cron"},
    {"every_s": 5, "timezone": "Mars/Olympus"}, {"every_s": 5, "overlap": "queue"}, {"every_s": 5, "catch_up": "some"},
    {"every_s": 5, "start_ms": 10, "end_ms": 5},
])
def test_a_schedule_that_cannot_be_is_refused_with_a_schedule_error(kwargs):
    with pytest.raises(ScheduleError):
        ScheduleSpec("s", "f", "e", **kwargs)


@pytest.mark.parametrize("schedule_id", ["", "a{b}", "x" * 201, "a/b", "rtl\u202eevil", "line\nbreak"])
def test_a_bad_schedule_id_is_refused(schedule_id):
    with pytest.raises(ScheduleError):
        ScheduleSpec(schedule_id, "f", "e", every_s=5)


def test_a_spec_reads_back_from_its_blob_unchanged():
    from routilux.bounds import DEFAULT_LIMITS

    spec = ScheduleSpec("s", "f", "e", {"n": 1}, cron="0 9 * * 1-5", timezone="Europe/Berlin", overlap="allow",
                        catch_up="all", start_ms=5, end_ms=10**13)
    assert ScheduleSpec.from_blob(spec.to_blob(), DEFAULT_LIMITS) == spec
