"""How a command ends: exit codes, the UsageError, and :func:`run`, which turns expected errors into one line."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from routilux.errors import RoutiluxError

# Exit codes: 0 done, 1 the request failed (unknown job, job failed, store down),
# 2 bad usage or configuration (argparse uses 2 as well).
EXIT_FAILED = 1
EXIT_USAGE = 2

Command = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Bad command-line input or configuration: exit code 2 with a one-line message."""


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
