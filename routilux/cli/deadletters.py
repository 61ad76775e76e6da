"""``routilux dead-letters [list] | show ID | replay ID | discard ID``: activations the engine gave up on."""

from __future__ import annotations

import argparse
import json
from typing import Any

from routilux.cli.engine import runtime_from
from routilux.cli.options import add_action, add_command
from routilux.cli.output import clip, folded_traceback, print_json, table, when


def register(sub: Any) -> None:
    """Add the ``dead-letters`` command and its actions."""
    dead = add_command(sub, "dead-letters", cmd_list, "list, show, replay or discard dead letters")
    _list_options(dead)
    actions = dead.add_subparsers(dest="action", metavar="ACTION")
    _list_options(add_action(actions, "list", cmd_list, "list the newest dead letters (the default)"), nested=True)
    show = add_action(actions, "show", cmd_show, "show one dead letter with its activation's payload")
    show.add_argument("dead_id", metavar="ID")
    show.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print it as JSON")
    replay = add_action(actions, "replay", cmd_replay,
                     "put the activation back on its job (which resumes if it failed only because of it)")
    replay.add_argument("dead_id", metavar="ID")
    discard = add_action(actions, "discard", cmd_discard, "delete a dead letter for good")
    discard.add_argument("dead_id", metavar="ID")


def _list_options(parser: argparse.ArgumentParser, nested: bool = False) -> None:
    default = argparse.SUPPRESS if nested else None
    parser.add_argument("--count", type=int, default=argparse.SUPPRESS if nested else 20, help="how many (default 20)")
    parser.add_argument("--json", action="store_true", default=default or False, help="one JSON object per line")


def cmd_list(args: argparse.Namespace) -> int:
    """Print the newest dead letters as a table (or JSON lines)."""
    with runtime_from(args) as runtime:
        rows = runtime.dead_letters(count=args.count)
    if args.json:
        for row in rows:
            print_json({k: v for k, v in row.items() if k != "body"})
        return 0
    cells = [[r["id"], str(r.get("job") or "-"), _target(r), clip(str(r.get("reason", "")), 70), when(r.get("time"))]
             for r in rows]
    print("\n".join(table(["ID", "JOB", "ACTIVATION", "REASON", "AT"], cells)))
    return 0


def _target(row: dict[str, Any]) -> str:
    if row.get("routine_id"):
        return f"{row['routine_id']}.{row.get('slot')}"
    return str(row.get("activation") or "-")


def cmd_show(args: argparse.Namespace) -> int:
    """Print one dead letter."""
    with runtime_from(args) as runtime:
        letter = runtime.dead_letter(args.dead_id)
    if getattr(args, "json", False):
        print_json(letter)
        return 0
    for key in ("id", "job", "activation", "routine_id", "slot", "attempt", "flow_hash", "time", "reason",
                "body_size"):
        if letter.get(key) not in (None, ""):
            print(f"{key + ':':<12}{letter[key]}")
    if "payload" in letter:
        print("payload:    " + json.dumps(letter["payload"], indent=2, sort_keys=True).replace("\n", "\n            "))
    if letter.get("trace"):
        print("\n".join(["trace:", *folded_traceback(str(letter["trace"]))]))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay a dead letter on its job."""
    with runtime_from(args) as runtime:
        job_id = runtime.replay_dead_letter(args.dead_id)
        status = runtime.job_status(job_id)
    print(f"dead letter {args.dead_id} replayed on job {job_id} (now {status})")
    return 0


def cmd_discard(args: argparse.Namespace) -> int:
    """Discard a dead letter."""
    with runtime_from(args) as runtime:
        runtime.discard_dead_letter(args.dead_id)
    print(f"dead letter {args.dead_id} discarded")
    return 0
