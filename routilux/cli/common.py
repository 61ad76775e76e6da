"""What every command shares: connection options, errors and exit codes, the runtime, and formatting."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from datetime import datetime
from typing import Any, Callable, Sequence

from routilux.errors import RoutiluxError

# Exit codes: 0 done, 1 the request failed (unknown job, job failed, store down),
# 2 bad usage or configuration (argparse uses 2 as well).
EXIT_FAILED = 1
EXIT_USAGE = 2

LOG_FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"

Command = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Bad command-line input or configuration: exit code 2 with a one-line message."""


# -- parsers -----------------------------------------------------------------
def add_connection_arguments(parser: argparse.ArgumentParser, nested: bool = False) -> None:
    """Options every command shares: where Redis (and the broker) is and which key prefix to use.

    ``nested``: for a sub-subcommand, whose defaults must not hide the parent command's values.
    """
    default = argparse.SUPPRESS if nested else None
    parser.add_argument("--redis-url", default=default, help="Redis URL (env ROUTILUX_REDIS_URL)")
    parser.add_argument("--broker-url", default=default, help="Celery broker when it is not the Redis, e.g. "
                                                              "amqp://host:5672// (env ROUTILUX_BROKER_URL)")
    parser.add_argument("--key-prefix", default=default, help="prefix of every Routilux key (env ROUTILUX_KEY_PREFIX)")


def add_command(sub: Any, name: str, func: Command, text: str) -> argparse.ArgumentParser:
    """Add subcommand ``name`` running ``func``, with the connection options; returns its parser."""
    parser = sub.add_parser(name, help=text, description=text)
    add_connection_arguments(parser)
    parser.set_defaults(func=func)
    return parser


# -- running a command -------------------------------------------------------
def run(func: Command, args: argparse.Namespace) -> int:
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
        if is_connection_error(exc):
            return fail(f"Redis is unreachable: {exc}", EXIT_FAILED)
        raise


def fail(message: str, code: int) -> int:
    """Print ``routilux: error: message`` to stderr and return ``code``."""
    print(f"routilux: error: {message}", file=sys.stderr)
    return code


def is_connection_error(exc: Exception) -> bool:
    """Whether ``exc`` is a connection failure of Redis, kombu or amqp that the store did not wrap."""
    # Publishing a task goes through kombu, whose connection errors the store
    # does not wrap; to an operator they mean the same as StoreUnavailableError.
    cls = type(exc)
    library = cls.__module__.split(".")[0]
    return library in ("redis", "kombu", "amqp") and any(k in cls.__name__ for k in ("Connection", "Operational", "Timeout"))


# -- configuration -----------------------------------------------------------
def settings_from(args: argparse.Namespace, **extra: Any) -> Any:
    """Settings from the environment, overridden by the options that were given."""
    overrides = {"redis_url": getattr(args, "redis_url", None), "key_prefix": getattr(args, "key_prefix", None),
                 "broker_url": getattr(args, "broker_url", None),
                 **extra}
    try:
        return distributed().Settings.from_env(**overrides)
    except ValueError as exc:  # e.g. ROUTILUX_LEASE_S=abc, or a visibility timeout below the lease
        raise UsageError(f"invalid settings: {exc}") from exc


def distributed() -> Any:
    """The ``routilux.distributed`` package, or a UsageError saying how to install it."""
    try:
        import routilux.distributed as package
    except ImportError as exc:
        raise UsageError(f"the distributed engine is not installed ({exc}); "
                         "install it with: pip install 'routilux[distributed]'") from exc
    return package


def runtime_from(args: argparse.Namespace) -> Any:
    """A DistributedRuntime for the command's options."""
    return distributed().DistributedRuntime(settings=settings_from(args))


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


def json_object(text: str, option: str = "--params") -> dict[str, Any]:
    """Parse an option's JSON object, or raise a UsageError naming the option."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{option} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise UsageError(f"{option} must be a JSON object, e.g. '{{\"value\": 10}}'")
    return value


# -- output ------------------------------------------------------------------
def interactive() -> bool:
    """Whether stdout is a terminal (live views and colours) rather than a pipe or file (plain lines)."""
    return sys.stdout.isatty()


def print_json(value: Any) -> None:
    """Print one JSON document on one line (JSON lines, for scripts)."""
    print(json.dumps(value, default=str, sort_keys=False), flush=True)


def rich_console(**options: Any) -> Any:
    """A rich Console for stdout, or None if rich is not installed (then output stays plain)."""
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console(**options)


# -- formatting --------------------------------------------------------------
def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Left-aligned text columns; a "(none)" line when there are no rows."""
    if not rows:
        return ["(none)"]
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows)]
    return ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [headers, *rows]]


def when(value: Any) -> str:
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


def clip(text: str, width: int = 60) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def folded_traceback(trace: str, lines: int = 8, indent: str = "    ") -> list[str]:
    """The last ``lines`` lines of a stack trace, indented, under a note of how many were folded away."""
    all_lines = trace.rstrip().splitlines()
    shown = all_lines[-lines:]
    head = [f"{indent}... {len(all_lines) - len(shown)} lines above (--json shows the whole trace)"] \
        if len(all_lines) > len(shown) else []
    return head + [indent + line for line in shown]
