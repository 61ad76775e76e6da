"""Job commands: ``submit``, ``status``, ``pause``, ``resume``, ``cancel`` and ``delete`` (listing: joblist.py)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from routilux.cli.bulk_submit import submit_file
from routilux.cli.engine import runtime_from
from routilux.cli.exits import EXIT_FAILED, UsageError
from routilux.cli.options import add_command, json_object
from routilux.cli.output import folded_traceback, table, when
from routilux.cli.process import import_modules
from routilux.cli.watch import add_watch_options, mode_of, watch_jobs


def register(sub: Any) -> None:
    """Add the job commands."""
    submit = add_command(sub, "submit", cmd_submit, "start a job of a published flow (or one per line of a file)")
    submit.add_argument("flow_id", metavar="FLOW_ID", help="published flow id (or content hash)")
    submit.add_argument("entry", metavar="ENTRY", nargs="?", help="entry routine id (it needs a 'trigger' slot)")
    submit.add_argument("--entry", dest="entry_option", metavar="ENTRY", help="the entry routine id, as an option")
    submit.add_argument("--params", default="{}", help="entry parameters as a JSON object")
    submit.add_argument("--params-file", metavar="FILE",
                        help="JSON Lines file ('-': stdin): one job per line, each line its entry parameters; "
                             "submitted in bulk, one job id printed per line")
    submit.add_argument("--priority", type=int, default=None, choices=range(10), metavar="0-9",
                        help="higher runs first when workers are busy (default 5)")
    submit.add_argument("--tenant", default=None,
                        help="whose job it is: workers share each band fairly between tenants (Redis broker)")
    submit.add_argument("--concurrency-key", metavar="KEY", default=None,
                        help="hold one of KEY's slots while the job runs (routilux limits set KEY MAX)")
    submit.add_argument("--wait", action="store_true", help="wait for the job to end and print its status")
    submit.add_argument("--watch", action="store_true", help="watch the job live until it ends (see watch)")
    submit.add_argument("--timeout", type=float, default=60.0, help="seconds to wait with --wait (default 60)")
    submit.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="module to import first (repeatable)")
    submit.add_argument("--publish", metavar="MODULE:FUNC", help="publish the flow FUNC() builds before submitting")
    submit.add_argument("--idempotency-key", metavar="KEY",
                        help="submit at most once per KEY: while its job is stored, print that job's id instead")
    add_watch_options(submit)

    status = add_command(sub, "status", cmd_status, "show a job's state")
    status.add_argument("job_id", metavar="JOB_ID")
    status.add_argument("--json", action="store_true", help="print the whole JobState as JSON")

    for name, func, text in (("pause", cmd_pause, "pause a running job"), ("cancel", cmd_cancel, "cancel a job")):
        steer = add_command(sub, name, func, text)
        steer.add_argument("job_id", metavar="JOB_ID")
        steer.add_argument("--reason", default="", help="why (kept in the job)")
    add_command(sub, "resume", cmd_resume, "resume a paused job").add_argument("job_id", metavar="JOB_ID")
    delete = add_command(sub, "delete", cmd_delete, "forget a finished job (its state and history)")
    delete.add_argument("job_id", metavar="JOB_ID")


def cmd_submit(args: argparse.Namespace) -> int:
    """Submit a job (publishing its flow first with --publish); print its id, or its status with --wait.

    With --params-file, submit a job per line and print their ids.
    """
    entry = _entry(args)
    params = json_object(args.params)
    import_modules(args.imports)
    with runtime_from(args) as runtime:
        flow = args.flow_id
        if args.publish:
            flow = publish_factory(runtime, args.publish, args.flow_id)
        if args.params_file:
            submit_file(runtime, flow, entry, args.params_file, args.priority, args.tenant, args.concurrency_key)
            return 0
        job_id = runtime.submit(flow, entry, entry_params=params, priority=args.priority,
                                idempotency_key=args.idempotency_key, tenant=args.tenant,
                                concurrency_key=args.concurrency_key)
        print(job_id, flush=True)
        if args.watch:
            return watch_jobs(runtime, [job_id], mode=mode_of(args))
        if not args.wait:
            return 0
        state = runtime.wait(job_id, timeout=args.timeout)
        print(format_status(state, runtime.job_summary(job_id)))
        return 0 if state.status == "completed" else EXIT_FAILED


def _entry(args: argparse.Namespace) -> str:
    """The entry routine, given as ENTRY or --entry (not both, not neither; not with --wait/--watch for a file)."""
    if args.entry and args.entry_option and args.entry != args.entry_option:
        raise UsageError(f"two entry routines given: {args.entry!r} and --entry {args.entry_option!r}")
    entry = args.entry or args.entry_option
    if not entry:
        raise UsageError("submit needs the entry routine: ENTRY or --entry ENTRY")
    if args.params_file and (args.wait or args.watch or args.params != "{}" or args.idempotency_key):
        raise UsageError("--params-file submits a job per line: it goes without --params, --wait, --watch "
                         "and --idempotency-key")
    return entry


def publish_factory(runtime: Any, spec: str, flow_id: str) -> str:
    """Build a flow with MODULE:FUNC, publish it, and return its content hash."""
    module_name, _, func_name = spec.partition(":")
    if not module_name or not func_name:
        raise UsageError(f"--publish wants MODULE:FUNC, not {spec!r}")
    factory = getattr(import_modules([module_name])[0], func_name, None)
    if not callable(factory):
        raise UsageError(f"--publish: module {module_name!r} has no function {func_name!r}")
    flow = factory()
    if flow_id not in (flow.flow_id, ""):
        raise UsageError(f"--publish {spec} builds flow {flow.flow_id!r}, not {flow_id!r}")
    digest = runtime.publish(flow)
    print(f"published flow {flow.flow_id!r} as {digest}", file=sys.stderr)
    return digest


def cmd_status(args: argparse.Namespace) -> int:
    """Print a job's state: a summary, or the whole JobState with --json."""
    with runtime_from(args) as runtime:
        job_id = runtime.resolve_job_id(args.job_id)
        state = runtime.get_job(job_id)
        summary = runtime.job_summary(job_id)
        waits = runtime.waiting_on(job_id)
    if args.json:
        print(json.dumps({**state.serialize(), "priority": summary.get("priority"), "tenant": summary.get("tenant"),
                          "concurrency_key": summary.get("concurrency_key"),
                          "waiting": summary.get("waiting") or [], "waiting_on": waits}, indent=2, default=str))
    else:
        print("\n".join([format_status(state, summary), *format_waits(waits)]))
    return 0


def format_status(state: Any, summary: dict[str, Any] | None = None) -> str:
    """A JobState summary: status, priority, tenant and concurrency key, what it waits for and its parent and child jobs (from
    ``summary``), error, routine states and counts."""
    summary = summary or {}
    lines = [f"job:      {state.job_id}", f"flow:     {state.flow_id}", f"status:   {state.status}",
             f"created:  {when(state.created_at)}", f"updated:  {when(state.updated_at)}"]
    if summary.get("priority") is not None:
        lines.insert(3, f"priority: {summary['priority']}")
    if summary.get("concurrency_key"):
        lines.insert(3, f"key:      {summary['concurrency_key']}")
    if summary.get("tenant"):
        lines.insert(3, f"tenant:   {summary['tenant']}")
    lines += [f"waiting:  for a post to {w['routine']}.{w['slot']} until {w['until']}"
              for w in summary.get("waiting") or ()]
    lines += _links(summary)
    forked = state.metadata.get("forked_from")
    if forked:
        lines.append(f"forked:   from job {forked['job_id']} at {forked['at']}")
    if state.error:
        lines.append(f"error:    {state.error}")
    history = state.execution_history
    routines = sorted(r for r in {r.routine_id for r in history} | set(state.routine_states) if not r.startswith("_"))
    if routines:
        lines.append("routines:")
        rows = [[rid, (state.routine_states.get(rid) or {}).get("status", "-"),
                 str(sum(1 for r in history if r.routine_id == rid)),
                 str((state.routine_states.get(rid) or {}).get("error", ""))] for rid in routines]
        lines += ["  " + line for line in table(["ROUTINE", "STATE", "RECORDS", "ERROR"], rows)]
    lines += _last_traces(history)
    lines.append(f"counts:   history {len(history)}, outputs {len(state.output_log)}, "
                 f"shared log {len(state.shared_log)}, pending {len(state.pending_tasks)}, "
                 f"deferred {len(state.deferred_events)}")
    return "\n".join(lines)


def format_waits(waits: list[dict[str, Any]]) -> list[str]:
    """Why the job's work waits: each activation parked by a concurrency slot or a rate bucket."""
    lines = []
    for w in waits:
        why = "a free slot" if w["kind"] == "concurrency" else "its rate token"
        lines.append(f"waiting:  {w['activation']} on {w['kind']} limit {w['limit']} (for {why})")
    return lines


def _links(summary: dict[str, Any]) -> list[str]:
    """Sub-flow links: the parent job (and its SubFlow routine), and each child job with whether it still runs."""
    lines = []
    parent = summary.get("parent")
    if parent:
        lines.append(f"parent:   job {parent['job_id']} (routine {parent['routine']}, activation {parent['activation']})")
    for kid in summary.get("children") or []:
        lines.append(f"child:    job {kid['job_id']} ({'running' if kid['state'] == 'open' else 'ended'})")
    return lines


def _last_traces(history: list[Any]) -> list[str]:
    """Each routine's last error with a stack trace, folded to its last lines."""
    last = {r.routine_id: r for r in history if r.event_name in ("error", "error_continued", "retry")
            and isinstance(r.data, dict) and r.data.get("traceback")}
    lines = []
    for rid, record in last.items():
        lines.append(f"trace:    {rid} ({record.event_name}, {record.data.get('error_type', 'error')}):")
        lines += folded_traceback(str(record.data["traceback"]))
    return lines


def cmd_pause(args: argparse.Namespace) -> int:
    """Pause a running job."""
    return _steer(args, lambda rt, job_id: rt.pause(job_id, reason=args.reason), "paused")


def cmd_resume(args: argparse.Namespace) -> int:
    """Resume a paused job."""
    return _steer(args, lambda rt, job_id: rt.resume(job_id), "resumed")


def cmd_cancel(args: argparse.Namespace) -> int:
    """Cancel a job for good."""
    return _steer(args, lambda rt, job_id: rt.cancel(job_id, reason=args.reason), "cancelled")


def _steer(args: argparse.Namespace, action: Callable[[Any, str], None], done: str) -> int:
    with runtime_from(args) as runtime:
        job_id = runtime.resolve_job_id(args.job_id)  # an unknown job is reported as such, whatever the action
        action(runtime, job_id)
    print(f"job {job_id} {done}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete a completed, failed or cancelled job."""
    return _steer(args, lambda rt, job_id: rt.delete_job(job_id), "deleted")
