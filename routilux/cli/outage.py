"""Riding out a Redis outage in a command that follows jobs (``watch``, ``events --follow``).

A restart or failover of Redis closes the connection mid-read; the command says so once, waits with
a growing back-off, and continues from the last event it saw once Redis answers again.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

from routilux.cli.exits import is_connection_error
from routilux.errors import StoreAccessDeniedError, StoreUnavailableError

T = TypeVar("T")

BACKOFF_S = (0.2, 5.0)  # first and longest pause between attempts while Redis is unreachable


class Reconnect:
    """Run reads; while Redis is unreachable, report it once and back off instead of failing.

    Args:
        notify: called with a line when the outage starts and when it ends.
    """

    def __init__(self, notify: Callable[[str], None]) -> None:
        self.notify = notify
        self.delay_s = 0.0

    @property
    def down(self) -> bool:
        """Whether the last read found Redis unreachable."""
        return self.delay_s > 0

    def read(self, func: Callable[[], T], default: T) -> T:
        """``func()``; ``default`` (after a pause) while Redis is unreachable.

        Raises:
            StoreAccessDeniedError: Redis refused this client (credentials do not come back by waiting).
        """
        try:
            value = func()
        except StoreAccessDeniedError:
            raise
        except Exception as exc:
            if not (isinstance(exc, StoreUnavailableError) or is_connection_error(exc)):
                raise
            if not self.down:
                self.notify(f"{exc}; reconnecting (the jobs go on)")
            self.delay_s = min(max(BACKOFF_S[0], self.delay_s * 2), BACKOFF_S[1])
            time.sleep(self.delay_s)
            return default
        if self.down:
            self.notify("reconnected to Redis")
            self.delay_s = 0.0
        return value
