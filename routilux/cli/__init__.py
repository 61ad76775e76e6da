"""The ``routilux`` command line: run a worker, submit jobs, and watch or steer them.

    routilux worker --import examples.orders          # same as: python -m worker ...
    routilux submit orders source --params '{"orders": []}' --wait
    routilux status JOB_ID | pause JOB_ID | resume JOB_ID | cancel JOB_ID
    routilux jobs --status running,paused --flow orders --since 1h --where region=eu
    routilux jobs cancel --status running --flow orders   # shows the count, asks to confirm (--yes)
    routilux dead-letters | workers | signing-keys
    routilux schedules add nightly orders --entry source --cron '0 2 * * *' | schedules [list|pause|trigger ID]
    routilux prune --older-than 7d --status completed
    routilux validate flow.yaml | run flow.yaml --entry ID --params JSON | publish flow.yaml
    routilux server --port 8080                       # the console: web UI, HTTP API, metrics

Every option also reads its ``ROUTILUX_*`` environment variable (see
``Settings``). Celery and Redis are imported inside the commands, so importing
this package (and ``routilux``) needs neither installed.

Adding a command group: write a module here with a ``register(sub)`` function
that adds its subcommands (``options.add_command`` gives each the connection
options and error handling), and list the module in ``COMMAND_GROUPS``.
"""

from __future__ import annotations

import argparse
import sys
import difflib
from typing import Sequence

from routilux.cli import (deadletters, demo, events, flows, graph, joblist, jobs, keys, prune, schedules, server, watch,
                          worker, workers)
from routilux.cli.exits import run

__all__ = ["COMMAND_GROUPS", "build_parser", "main"]

# Each module's register(sub) adds its subcommands; `routilux --help` lists them in this order.
COMMAND_GROUPS = (worker, jobs, joblist, watch, events, deadletters, workers, schedules, prune, flows, graph, keys, demo,
                  server)


def build_parser() -> argparse.ArgumentParser:
    """The ``routilux`` parser with the subcommands of every command group."""
    parser = argparse.ArgumentParser(prog="routilux", description="Run and steer Routilux jobs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``routilux`` command line; returns the exit code."""
    parser = build_parser()
    refuse_unknown_flags(parser, list(sys.argv[1:] if argv is None else argv))
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        refuse_unknown(innermost_parser(parser, args), unknown)
    return run(args.func, args)


def innermost_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub)subcommand ``args`` were parsed for, so its usage is the one shown."""
    while True:
        groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        name = getattr(args, groups[0].dest, None) if groups else None
        if name not in (groups[0].choices if groups else {}):
            return parser
        parser = groups[0].choices[name]


def refuse_unknown_flags(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Refuse a misspelled flag of a subcommand before argparse reads its positionals.

    Otherwise a typo such as ``jobs --stauts running`` would be reported as an invalid
    choice for the positional that ``running`` then lands in.
    """
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups or not argv or argv[0] not in groups[0].choices:
        return
    sub = groups[0].choices[argv[0]]
    if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
        return  # a subcommand with subcommands of its own: parse_known_args finds the innermost parser
    options = {o for action in sub._actions for o in action.option_strings}
    rest = argv[1:argv.index("--")] if "--" in argv else argv[1:]
    unknown = [a for a in rest if a.startswith("--") and a.split("=", 1)[0] not in options]
    if unknown:
        refuse_unknown(sub, unknown)


def refuse_unknown(parser: argparse.ArgumentParser, unknown: list[str]) -> None:
    """Exit 2 with ``parser``'s usage, naming the unknown arguments and the closest options it has."""
    options = [o for action in parser._actions for o in action.option_strings]
    hints = []
    for arg in unknown:
        close = difflib.get_close_matches(arg.split("=", 1)[0], options, n=1) if arg.startswith("-") else []
        hints.append(f"{arg} (did you mean {close[0]}?)" if close else arg)
    parser.error(f"unrecognized arguments: {' '.join(hints)}")
