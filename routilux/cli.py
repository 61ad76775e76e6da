"""The ``routilux`` command line: run a worker, submit jobs, and watch or steer them.

    routilux worker --import examples.orders          # same as: python -m worker ...
    routilux submit orders source --params '{"orders": []}' --wait
    routilux status JOB_ID | pause JOB_ID | resume JOB_ID | cancel JOB_ID
    routilux jobs --status running | dead-letters | workers

Every option also reads its ``ROUTILUX_*`` environment variable (see
``Settings``). Celery and Redis are imported inside the commands, so importing
this module (and ``routilux``) needs neither installed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
from datetime import datetime
from typing import Any, Callable, Sequence

from routilux.errors import RoutiluxError

# Exit codes: 0 done, 1 the request failed (unknown job, job failed, store down),
# 2 bad usage or configuration (argparse uses 2 as well).
EXIT_FAILED = 1
EXIT_USAGE = 2

LOG_FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"


class UsageError(Exception):
    """Bad command-line input or configuration: exit code 2 with a one-line message."""


# -- parsers -----------------------------------------------------------------
def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every command shares: where Redis is and which key prefix to use."""
    parser.add_argument("--redis-url", help="Redis URL (env ROUTILUX_REDIS_URL)")
    parser.add_argument("--key-prefix", help="prefix of every Routilux key (env ROUTILUX_KEY_PREFIX)")


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """The worker daemon's options, shared by ``python -m worker`` and ``routilux worker``."""
    add_connection_arguments(parser)
    parser.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                        help="module defining routine classes; repeatable (env ROUTILUX_IMPORTS, comma-separated)")
    parser.add_argument("--concurrency", type=int, help="pool processes or threads (env ROUTILUX_CONCURRENCY)")
    parser.add_argument("--pool", choices=("prefork", "threads", "solo"), help="Celery pool (env ROUTILUX_POOL)")
    parser.add_argument("--queues", help="comma-separated queues to consume (env ROUTILUX_QUEUES)")
    parser.add_argument("--lease-s", type=float, help="activation lease in seconds (env ROUTILUX_LEASE_S)")
    parser.add_argument("--name", help="node name, NAME or NAME@HOST (env ROUTILUX_WORKER_NAME; "
                                       "default routilux@<hostname>)")
    parser.add_argument("--loglevel", help="DEBUG, INFO, WARNING or ERROR (env ROUTILUX_LOGLEVEL; default INFO)")
    parser.add_argument("--check", action="store_true",
                        help="health probe: exit 0 if the named worker's liveness record is fresh, else 1")


def build_parser() -> argparse.ArgumentParser:
    """The ``routilux`` parser with all its subcommands."""
    parser = argparse.ArgumentParser(prog="routilux", description="Run and steer Routilux jobs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    worker = sub.add_parser("worker", help="run a worker daemon (same as python -m worker)")
    add_worker_arguments(worker)
    worker.set_defaults(func=cmd_worker)

    submit = _command(sub, "submit", cmd_submit, "start a job of a published flow")
    submit.add_argument("flow_id", metavar="FLOW_ID", help="published flow id (or content hash)")
    submit.add_argument("entry", metavar="ENTRY", help="entry routine id (it needs a 'trigger' slot)")
    submit.add_argument("--params", default="{}", help="entry parameters as a JSON object")
    submit.add_argument("--wait", action="store_true", help="wait for the job to end and print its status")
    submit.add_argument("--timeout", type=float, default=60.0, help="seconds to wait with --wait (default 60)")
    submit.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="module to import first (repeatable)")
    submit.add_argument("--publish", metavar="MODULE:FUNC", help="publish the flow FUNC() builds before submitting")

    status = _command(sub, "status", cmd_status, "show a job's state")
    status.add_argument("job_id", metavar="JOB_ID")
    status.add_argument("--json", action="store_true", help="print the whole JobState as JSON")

    for name, func, text in (("pause", cmd_pause, "pause a running job"), ("cancel", cmd_cancel, "cancel a job")):
        steer = _command(sub, name, func, text)
        steer.add_argument("job_id", metavar="JOB_ID")
        steer.add_argument("--reason", default="", help="why (kept in the job)")
    _command(sub, "resume", cmd_resume, "resume a paused job").add_argument("job_id", metavar="JOB_ID")

    jobs = _command(sub, "jobs", cmd_jobs, "list known jobs, oldest first")
    jobs.add_argument("--status", help="only jobs with this status")
    jobs.add_argument("--limit", type=int, default=0, help="only the newest N")

    dead = _command(sub, "dead-letters", cmd_dead_letters, "list the newest dead letters")
    dead.add_argument("--count", type=int, default=20, help="how many (default 20)")

    _command(sub, "workers", cmd_workers, "list live workers")
    return parser


def _command(sub: Any, name: str, func: Callable[[argparse.Namespace], int], text: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=text, description=text)
    add_connection_arguments(parser)
    parser.set_defaults(func=func)
    return parser


# -- entry points ------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``routilux`` command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    return run(args.func, args)


def run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Call a command, turning expected errors into one line on stderr and an exit code."""
    try:
        return func(args)
    except UsageError as exc:
        return fail(str(exc), EXIT_USAGE)
    except (RoutiluxError, TimeoutError) as exc:
        return fail(str(exc), EXIT_FAILED)
    except ModuleNotFoundError as exc:  # e.g. a dependency of the distributed extra missing on this host
        return fail(f"{exc}; is 'routilux[distributed]' installed in this environment?", EXIT_USAGE)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except Exception as exc:
        if _is_connection_error(exc):
            return fail(f"Redis is unreachable: {exc}", EXIT_FAILED)
        raise


def fail(message: str, code: int) -> int:
    """Print ``routilux: error: message`` to stderr and return ``code``."""
    print(f"routilux: error: {message}", file=sys.stderr)
    return code


def _is_connection_error(exc: Exception) -> bool:
    # Publishing a task goes through kombu, whose connection errors the store
    # does not wrap; to an operator they mean the same as StoreUnavailableError.
    cls = type(exc)
    library = cls.__module__.split(".")[0]
    return library in ("redis", "kombu", "amqp") and any(k in cls.__name__ for k in ("Connection", "Operational", "Timeout"))


# -- configuration -----------------------------------------------------------
def settings_from(args: argparse.Namespace, **extra: Any) -> Any:
    """Settings from the environment, overridden by the options that were given."""
    distributed = _distributed()
    overrides = {"redis_url": getattr(args, "redis_url", None), "key_prefix": getattr(args, "key_prefix", None),
                 **extra}
    try:
        return distributed.Settings.from_env(**overrides)
    except ValueError as exc:  # e.g. ROUTILUX_LEASE_S=abc, or a visibility timeout below the lease
        raise UsageError(f"invalid settings: {exc}") from exc


def _distributed() -> Any:
    try:
        import routilux.distributed as distributed
    except ImportError as exc:
        raise UsageError(f"the distributed engine is not installed ({exc}); "
                         "install it with: pip install 'routilux[distributed]'") from exc
    return distributed


def runtime_from(args: argparse.Namespace) -> Any:
    """A DistributedRuntime for the command's options."""
    return _distributed().DistributedRuntime(settings=settings_from(args))


def import_modules(names: Sequence[str]) -> list[Any]:
    """Import operator-given modules by name (the only place Routilux imports by name).

    Raises:
        UsageError: a module cannot be imported (names it and why).
    """
    # ``python -m`` puts the working directory on sys.path but a console
    # script does not; do the same so both entry points find the same modules.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except Exception as exc:  # a broken module is a configuration error, not a crash
            raise UsageError(f"cannot import module {name!r} given with --import: {type(exc).__name__}: {exc}") from exc
    return modules


def configure_logging(level: str) -> None:
    """Configure logging once, for this process and the pool it forks."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise UsageError(f"unknown log level {level!r}")
    logging.basicConfig(level=numeric, format=LOG_FORMAT)


# -- worker ------------------------------------------------------------------
def cmd_worker(args: argparse.Namespace) -> int:
    """Run a Celery worker for Routilux activations (or, with --check, probe one)."""
    if args.check:
        return check_worker(args)
    loglevel = (args.loglevel or os.environ.get("ROUTILUX_LOGLEVEL") or "INFO").upper()
    configure_logging(loglevel)
    settings = settings_from(args, concurrency=args.concurrency, pool=args.pool, lease_s=args.lease_s,
                             queues=_split(args.queues), imports=tuple(args.imports) if args.imports else None)
    import_modules(settings.imports)
    return run_celery_worker(settings, worker_name(args.name), loglevel)


def _split(value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    return tuple(part.strip() for part in value.replace(";", ",").split(",") if part.strip())


def worker_name(name: str | None) -> str:
    """The full node name: NAME@HOST as given, NAME alone gets @<hostname>, default routilux@<hostname>."""
    import socket

    from routilux.distributed.app import node_name

    name = name or os.environ.get("ROUTILUX_WORKER_NAME") or None
    # Celery would read a bare "NAME" as a host and call the node "celery@NAME";
    # the probe must compute the same name as the worker, so be explicit.
    if name and "@" not in name:
        name = f"{name}@{socket.gethostname()}"
    return node_name(name)


def run_celery_worker(settings: Any, name: str, loglevel: str = "INFO") -> int:
    """Run a real Celery worker until it is shut down; returns its exit code."""
    from celery import signals

    # Our logging is already configured: a receiver on setup_logging tells
    # Celery (and its forked pool children) to leave it alone.
    signals.setup_logging.connect(_keep_logging, weak=False)
    app = _distributed().create_app(settings)
    worker = app.Worker(
        hostname=name, pool_cls=settings.pool, concurrency=settings.concurrency, queues=list(settings.queues),
        loglevel=loglevel, quiet=loglevel not in ("DEBUG", "INFO"),
        # Mingle and gossip broadcast on the broker for features Routilux does
        # not use (revokes, clock sync); our own liveness record replaces them.
        without_mingle=True, without_gossip=True,
    )
    worker.start()  # SIGTERM: warm shutdown, in-flight activations finish first
    return int(worker.exitcode or 0)


def _keep_logging(**_: Any) -> None:
    """setup_logging receiver: Celery must not reconfigure logging."""


def check_worker(args: argparse.Namespace) -> int:
    """Health probe: 0 if the worker's liveness record exists (Redis expires it when not renewed), else 1."""
    settings = settings_from(args)
    name = worker_name(args.name)
    from routilux.distributed.store import RedisStore

    try:
        record = RedisStore(settings).worker_record(name)
    except RoutiluxError as exc:
        return fail(f"worker {name}: cannot read its liveness record: {exc}", EXIT_FAILED)
    if record is None:
        return fail(f"worker {name} is not alive: no fresh liveness record under prefix "
                    f"{settings.key_prefix!r} (stopped, stuck, or started with another --key-prefix)", EXIT_FAILED)
    if not record.get("consuming", True):
        return fail(f"worker {name} is up but not consuming its queues", EXIT_FAILED)
    age = time.time() - float(record.get("ts", time.time()))
    print(f"worker {name} is alive (pid {record.get('pid')} on {record.get('host')}, renewed {age:.1f} s ago)")
    return 0


# -- jobs --------------------------------------------------------------------
def cmd_submit(args: argparse.Namespace) -> int:
    """Submit a job (publishing its flow first with --publish); print its id, or its status with --wait."""
    params = _json_object(args.params)
    import_modules(args.imports)
    with runtime_from(args) as runtime:
        flow = args.flow_id
        if args.publish:
            flow = _publish(runtime, args.publish, args.flow_id)
        job_id = runtime.submit(flow, args.entry, entry_params=params)
        print(job_id)
        if not args.wait:
            return 0
        state = runtime.wait(job_id, timeout=args.timeout)
        print(format_status(state))
        return 0 if state.status == "completed" else EXIT_FAILED


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--params is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise UsageError("--params must be a JSON object, e.g. '{\"value\": 10}'")
    return value


def _publish(runtime: Any, spec: str, flow_id: str) -> str:
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
        state = runtime.get_job(args.job_id)
    print(json.dumps(state.serialize(), indent=2, default=str) if args.json else format_status(state))
    return 0


def format_status(state: Any) -> str:
    """A JobState summary: status, error, routine states and counts."""
    lines = [f"job:      {state.job_id}", f"flow:     {state.flow_id}", f"status:   {state.status}",
             f"created:  {_when(state.created_at)}", f"updated:  {_when(state.updated_at)}"]
    if state.error:
        lines.append(f"error:    {state.error}")
    history = state.execution_history
    routines = sorted({r.routine_id for r in history} | set(state.routine_states))
    if routines:
        lines.append("routines:")
        rows = [[rid, (state.routine_states.get(rid) or {}).get("status", "-"),
                 str(sum(1 for r in history if r.routine_id == rid)),
                 str((state.routine_states.get(rid) or {}).get("error", ""))] for rid in routines]
        lines += ["  " + line for line in table(["ROUTINE", "STATE", "RECORDS", "ERROR"], rows)]
    lines.append(f"counts:   history {len(history)}, outputs {len(state.output_log)}, "
                 f"shared log {len(state.shared_log)}, pending {len(state.pending_tasks)}, "
                 f"deferred {len(state.deferred_events)}")
    return "\n".join(lines)


def cmd_pause(args: argparse.Namespace) -> int:
    """Pause a running job."""
    return _steer(args, lambda rt: rt.pause(args.job_id, reason=args.reason), "paused")


def cmd_resume(args: argparse.Namespace) -> int:
    """Resume a paused job."""
    return _steer(args, lambda rt: rt.resume(args.job_id), "resumed")


def cmd_cancel(args: argparse.Namespace) -> int:
    """Cancel a job for good."""
    return _steer(args, lambda rt: rt.cancel(args.job_id, reason=args.reason), "cancelled")


def _steer(args: argparse.Namespace, action: Callable[[Any], None], done: str) -> int:
    with runtime_from(args) as runtime:
        runtime.store.status(args.job_id)  # an unknown job is reported as such, whatever the action
        action(runtime)
    print(f"job {args.job_id} {done}")
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    """Print known jobs as a table."""
    with runtime_from(args) as runtime:
        rows = runtime.jobs(status=args.status)
    if args.limit > 0:
        rows = rows[-args.limit:]
    cells = [[r["job_id"], r["status"] or "", r["flow_id"] or "", _when(r["created_at"]), _when(r["updated_at"]),
              _clip(r.get("error") or "")] for r in rows]
    print("\n".join(table(["JOB ID", "STATUS", "FLOW", "CREATED", "UPDATED", "ERROR"], cells)))
    return 0


def cmd_dead_letters(args: argparse.Namespace) -> int:
    """Print the newest dead letters as a table."""
    with runtime_from(args) as runtime:
        rows = runtime.dead_letters(count=args.count)
    cells = [[r["id"], str(r.get("job") or "-"), str(r.get("activation") or "-"), _clip(str(r.get("reason", ""))),
              _when(r.get("ts"))] for r in rows]
    print("\n".join(table(["ID", "JOB", "ACTIVATION", "REASON", "AT"], cells)))
    return 0


def cmd_workers(args: argparse.Namespace) -> int:
    """Print live workers as a table."""
    with runtime_from(args) as runtime:
        workers = runtime.workers()
    now = time.time()
    cells = [[name, str(info.get("host", "")), str(info.get("pid", "")), ",".join(info.get("queues") or []),
              f"{now - float(info.get('ts', now)):.1f} s ago"] for name, info in sorted(workers.items())]
    print("\n".join(table(["NAME", "HOST", "PID", "QUEUES", "RENEWED"], cells)))
    return 0


# -- formatting --------------------------------------------------------------
def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Left-aligned text columns; a "(none)" line when there are no rows."""
    if not rows:
        return ["(none)"]
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows)]
    return ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [headers, *rows]]


def _when(value: Any) -> str:
    """A timestamp (datetime, ISO text or epoch milliseconds) as local time to the second."""
    if value in (None, ""):
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000).strftime("%Y-%m-%d %H:%M:%S")
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text


def _clip(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


if __name__ == "__main__":
    sys.exit(main())
