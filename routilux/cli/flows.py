"""Flow spec files: ``validate``, ``run`` (local engine) and ``publish`` (distributed engine).

    routilux validate flow.yaml --import myapp.routines
    routilux run flow.yaml --import myapp.routines --entry source --params '{"n": 3}' [--json]
    routilux publish flow.yaml --import myapp.routines

``validate`` and ``run`` need no Redis. Exit codes of ``run`` follow the job:
0 completed, 1 failed (or timed out), 3 paused, 4 cancelled; 2 is a bad spec or bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from routilux.cli.exits import EXIT_FAILED, UsageError
from routilux.cli.options import add_command, json_object
from routilux.cli.process import import_modules
from routilux.errors import SpecError

EXIT_BY_STATUS = {"completed": 0, "failed": EXIT_FAILED, "paused": 3, "cancelled": 4}


def register(sub: Any) -> None:
    """Add the spec file commands."""
    validate = sub.add_parser("validate", help="check a flow spec file and list every problem",
                              description="Check a flow spec file (YAML or JSON) and list every problem with "
                                          "its path in the file; exit 0 if it has none (warnings allowed).")
    _spec_arguments(validate)
    validate.set_defaults(func=cmd_validate)

    run = sub.add_parser("run", help="run a flow spec file on the local engine",
                         description="Run a flow spec file on the local engine and print the job's summary. "
                                     "Exit 0 completed, 1 failed, 3 paused, 4 cancelled, 2 bad spec or usage.")
    _spec_arguments(run)
    run.add_argument("--entry", metavar="ID", help="entry routine id (default: the spec's 'entry')")
    run.add_argument("--params", default="{}", help="entry parameters as a JSON object")
    run.add_argument("--timeout", type=float, help="seconds before the execution is failed (default: the spec's)")
    run.add_argument("--json", action="store_true", help="print the whole JobState as JSON")
    run.set_defaults(func=cmd_run)

    publish = add_command(sub, "publish", cmd_publish, "publish a flow spec file to the distributed engine")
    _spec_arguments(publish)


def _spec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="flow spec file (.yaml/.yml needs PyYAML; anything else is JSON)")
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="module defining routine classes or conditions; repeatable")


def _check(args: argparse.Namespace) -> Any:
    """Import the modules, read and check the file; a file that cannot be read is a usage error."""
    from routilux.spec_files import check_spec_file

    import_modules(args.imports)
    try:
        return check_spec_file(args.file)
    except SpecError as exc:
        raise UsageError(str(exc)) from None


def _print_problems(file: str, report: Any) -> None:
    for problem in report.errors:
        print(f"{file}: error: {problem}", file=sys.stderr)
    for warning in report.warnings:
        print(f"{file}: warning: {warning}", file=sys.stderr)


def _load(args: argparse.Namespace) -> Any:
    """The flow of a spec file, or a UsageError listing every problem."""
    report = _check(args)
    _print_problems(args.file, report)
    if report.errors:
        raise UsageError(f"{args.file} has {len(report.errors)} problem(s); see above")
    return report


def cmd_validate(args: argparse.Namespace) -> int:
    """Print every problem of a spec file; exit 0 when it has no errors, else 1."""
    report = _check(args)
    _print_problems(args.file, report)
    if report.errors:
        print(f"{args.file}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)")
        return EXIT_FAILED
    flow = report.flow
    print(f"{args.file}: ok: flow {flow.flow_id!r}, {len(flow.routines)} routines, "
          f"{len(flow.connections)} connections, {len(report.warnings)} warning(s)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run the spec's flow once on the local engine; the exit code follows the job's status."""
    from routilux.cli.jobs import format_status

    params = json_object(args.params)
    report = _load(args)
    entry = args.entry or report.entry
    flow = report.flow
    if not entry:
        raise UsageError("no entry routine: give --entry ID or put 'entry: ID' in the spec")
    if entry not in flow.routines:
        raise UsageError(f"--entry {entry!r} is not a routine of the flow; it has {', '.join(sorted(flow.routines))}")
    try:
        state = flow.execute(entry, entry_params=params, timeout=args.timeout)
    finally:
        flow.shutdown()
    print(json.dumps(state.serialize(), indent=2, default=str) if args.json else format_status(state))
    return EXIT_BY_STATUS.get(state.status, EXIT_FAILED)


def cmd_publish(args: argparse.Namespace) -> int:
    """Publish the spec's flow to the distributed engine and print its content hash."""
    from routilux.cli.engine import runtime_from

    flow = _load(args).flow
    with runtime_from(args) as runtime:
        digest = runtime.publish(flow)
    print(f"published flow {flow.flow_id!r}", file=sys.stderr)
    print(digest)
    return 0

