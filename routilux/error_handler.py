"""Error strategies: what happens when a routine's handler raises.

The decision is pure (:meth:`ErrorHandler.decide`); the step applies it, so the
local and distributed engines treat errors the same way. Retry counts belong to
the activation being retried, never to this shared object.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class ErrorStrategy(str, Enum):
    """How a routine's errors are handled."""

    STOP = "stop"
    CONTINUE = "continue"
    RETRY = "retry"
    SKIP = "skip"


@dataclass(frozen=True)
class Decision:
    """What to do about one failed attempt: ``action`` is stop, continue, skip, retry or give_up."""

    action: str
    delay_s: float = 0.0


class ErrorHandler:
    """An error strategy with its retry settings.

    Args:
        strategy: an :class:`ErrorStrategy` or its value ("stop", "continue", "retry", "skip").
        max_retries: how many times RETRY re-runs a failed activation.
        retry_delay: seconds before the first retry.
        retry_backoff: multiplier applied to the delay for each further retry.
        retryable_exceptions: exception classes RETRY retries; others stop at once.
        is_critical: with RETRY, failing every retry fails the whole job at once.
    """

    def __init__(
        self,
        strategy: ErrorStrategy | str = ErrorStrategy.STOP,
        max_retries: int = 3,
        retry_delay: float = 1.0,
        retry_backoff: float = 2.0,
        retryable_exceptions: tuple[type[BaseException], ...] | None = None,
        is_critical: bool = False,
    ) -> None:
        self.strategy = ErrorStrategy(strategy)
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.retry_backoff = retry_backoff
        self.retryable_exceptions = tuple(retryable_exceptions or (Exception,))
        self.is_critical = is_critical
        self.retry_count = 0
        self._retryable_names: frozenset[str] = frozenset()

    def retry_delay_for(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return self.retry_delay * (self.retry_backoff ** (attempt - 1))

    def decide(self, error: BaseException, failed_attempts: int) -> Decision:
        """Decide what follows an attempt that raised ``error``.

        Args:
            error: what the handler raised.
            failed_attempts: failed attempts of this activation so far, this one included.
        """
        if self.strategy is not ErrorStrategy.RETRY:
            return Decision(self.strategy.value)
        if not self.is_retryable(error):
            return Decision("stop")
        if failed_attempts <= self.max_retries:
            return Decision("retry", self.retry_delay_for(failed_attempts))
        return Decision("stop" if self.is_critical else "give_up")

    def is_retryable(self, error: BaseException) -> bool:
        """True if RETRY applies to ``error``: one of the retryable classes, or a class of that name.

        Names matter for a handler rebuilt from data in a process that has not
        imported the exception's module: it still retries exactly those errors.
        """
        if isinstance(error, self.retryable_exceptions):
            return True
        names = self._retryable_names
        return bool(names) and any(_exception_name(c) in names for c in type(error).__mro__)

    def reset(self) -> None:
        """Reset the informational retry counter."""
        self.retry_count = 0

    def serialize(self) -> dict[str, Any]:
        """Return the handler as plain data (retryable exceptions are named, not imported)."""
        return {
            "_type": "ErrorHandler",
            "strategy": self.strategy.value,
            "max_retries": self.max_retries,
            "retry_delay": self.retry_delay,
            "retry_backoff": self.retry_backoff,
            "retry_count": self.retry_count,
            "is_critical": self.is_critical,
            "retryable_exceptions": sorted(
                {_exception_name(e) for e in self.retryable_exceptions} | set(self._retryable_names)
            ),
        }

    def deserialize(self, data: dict[str, Any]) -> ErrorHandler:
        """Fill this handler from :meth:`serialize` output; returns self.

        Exception classes are found among builtins and subclasses of Exception
        this process has imported; data never triggers an import.
        """
        names = list(data.get("retryable_exceptions") or [])
        found = _find_exceptions(names)
        self.strategy = ErrorStrategy(data.get("strategy", "stop"))
        self.max_retries = data.get("max_retries", 3)
        self.retry_delay = data.get("retry_delay", 1.0)
        self.retry_backoff = data.get("retry_backoff", 2.0)
        self.is_critical = data.get("is_critical", False)
        if found is not None:
            self.retryable_exceptions = found
        elif names:
            # None of the classes is imported here: match by name instead of widening to Exception.
            self.retryable_exceptions = ()
        else:
            self.retryable_exceptions = (Exception,)
        self._retryable_names = frozenset(names)
        self.retry_count = data.get("retry_count", 0)
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorHandler:
        """Build a new handler from :meth:`serialize` output."""
        return cls().deserialize(data)

    def __repr__(self) -> str:
        return f"ErrorHandler(strategy={self.strategy.value!r}, max_retries={self.max_retries})"


def _exception_name(exc: type[BaseException]) -> str:
    if exc.__module__ == "builtins":
        return exc.__qualname__
    return f"{exc.__module__}.{exc.__qualname__}"


def _all_exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    stack: list[type[BaseException]] = [BaseException]
    while stack:
        cls = stack.pop()
        found.setdefault(_exception_name(cls), cls)
        stack.extend(cls.__subclasses__())
    return found


def _find_exceptions(names: list[str] | None) -> tuple[type[BaseException], ...] | None:
    if not names:
        return None
    known = _all_exception_classes()
    classes = tuple(known[n] for n in names if n in known)
    return classes or None
