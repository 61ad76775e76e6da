"""``routilux schedules [list] | add ID FLOW --entry E (--cron EXPR | --every 30s) | pause | resume | delete | trigger``."""

from __future__ import annotations

import argparse
from typing import Any

from routilux.cli.engine import runtime_from
from routilux.cli.options import add_action, add_command, json_object
from routilux.cli.output import print_json, table, when
from routilux.cli.prune import parse_duration


def register(sub: Any) -> None:
    """Add the ``schedules`` command and its actions."""
    schedules = add_command(sub, "schedules", cmd_list, "list, add, pause, resume, delete or trigger schedules")
    schedules.add_argument("--json", action="store_true", help="print the schedules as JSON")
    actions = schedules.add_subparsers(dest="action", metavar="ACTION")
    listing = add_action(actions, "list", cmd_list, "list the schedules with their next and last fire times (default)")
    listing.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print them as JSON")
    _add_options(add_action(actions, "add", cmd_add, "create or replace a schedule; the workers fire it"))
    for name, func, text in (("pause", cmd_pause, "stop firing a schedule (its ticks meanwhile are not caught up)"),
                             ("resume", cmd_resume, "fire a paused schedule again from its next tick"),
                             ("delete", cmd_delete, "delete a schedule (the jobs it started stay)"),
                             ("trigger", cmd_trigger, "start one job of a schedule now; prints its id")):
        add_action(actions, name, func, text).add_argument("schedule_id", metavar="ID")


def _add_options(add: argparse.ArgumentParser) -> None:
    add.add_argument("schedule_id", metavar="ID")
    add.add_argument("flow_id", metavar="FLOW", help="published flow id (each tick runs its latest version) or hash")
    add.add_argument("--entry", required=True, help="entry routine id (it needs a 'trigger' slot)")
    add.add_argument("--params", default="{}", help="entry parameters as a JSON object")
    when_ = add.add_mutually_exclusive_group(required=True)
    when_.add_argument("--cron", metavar="EXPR", help="cron expression, e.g. '0 9 * * 1-5' (6 fields: seconds first)")
    when_.add_argument("--every", metavar="DURATION", help="interval: 30s, 5m, 1h, 1d (at least 1s)")
    add.add_argument("--timezone", default="UTC", help="time zone of the cron expression (default UTC)")
    add.add_argument("--overlap", choices=("skip", "allow", "cancel_previous"), default="skip",
                     help="when the previous tick's job still runs (default skip)")
    add.add_argument("--catch-up", choices=("skip", "one", "all"), default="skip",
                     help="ticks missed while no worker ran: none, one job, or all (default skip)")
    add.add_argument("--priority", type=int, default=None, choices=range(10), metavar="0-9",
                     help="each tick's job's priority (default 5)")
    add.add_argument("--tenant", default=None, help="each tick's job's tenant")
    add.add_argument("--concurrency-key", metavar="KEY", default=None,
                     help="each tick's job holds one of KEY's slots while it runs")


def cmd_add(args: argparse.Namespace) -> int:
    """Create or replace a schedule and print when it fires next."""
    params = json_object(args.params)
    every = parse_duration(args.every) if args.every else None
    with runtime_from(args) as runtime:
        info = runtime.schedule(args.schedule_id, args.flow_id, args.entry, params, cron=args.cron, every_s=every,
                                timezone=args.timezone, overlap=args.overlap, catch_up=args.catch_up,
                                priority=args.priority, tenant=args.tenant, concurrency_key=args.concurrency_key)
    print(f"schedule {info['schedule_id']}: next tick {when(info['next_ms'])}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """Print every schedule as a table (or JSON)."""
    with runtime_from(args) as runtime:
        schedules = runtime.schedules()
    if getattr(args, "json", False):
        print_json(schedules)
        return 0
    rows = [[s["schedule_id"], s["flow"], s["entry"], s["cron"] or f"every {s['every_s']:g}s",
             "paused" if s["paused"] else "active", when(s["next_ms"]), when(s["last_tick_ms"]), s["last_job"] or "-",
             f"{s['fired']}/{s['missed']}/{s['skipped']}/{s['failed']}"] for s in schedules]
    print("\n".join(table(["ID", "FLOW", "ENTRY", "WHEN", "STATE", "NEXT", "LAST", "LAST JOB",
                           "FIRED/MISSED/SKIPPED/FAILED"], rows)))
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    """Pause a schedule."""
    with runtime_from(args) as runtime:
        runtime.pause_schedule(args.schedule_id)
    print(f"schedule {args.schedule_id}: paused")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    """Resume a schedule."""
    with runtime_from(args) as runtime:
        runtime.resume_schedule(args.schedule_id)
        nxt = runtime.get_schedule(args.schedule_id)["next_ms"]
    print(f"schedule {args.schedule_id}: resumed, next tick {when(nxt)}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete a schedule."""
    with runtime_from(args) as runtime:
        runtime.delete_schedule(args.schedule_id)
    print(f"schedule {args.schedule_id}: deleted")
    return 0


def cmd_trigger(args: argparse.Namespace) -> int:
    """Start one job of a schedule now and print its id."""
    with runtime_from(args) as runtime:
        print(runtime.trigger_schedule(args.schedule_id))
    return 0
