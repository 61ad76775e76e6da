"""One exception tree for Routilux, rooted at :class:`RoutiluxError`.

Subclasses are grouped by who handles them: users building flows get
:class:`FlowError` and its children, code that stores or sends data gets
:class:`SerializationError`, and operators of the distributed engine get
:class:`DistributedError`. Where a standard exception has long been part of
the documented API (``ValueError`` for a bad routine id, ``TypeError`` for a
constructor that takes arguments) the Routilux error also subclasses it, so
code written against upstream Routilux keeps catching what it caught.
"""

from __future__ import annotations


class RoutiluxError(Exception):
    """Base class of every error Routilux raises on purpose."""


class FlowError(RoutiluxError, ValueError):
    """A flow or routine was built or used wrongly (unknown id, slot, event...)."""


class JobNotRunningError(RoutiluxError):
    """A job has ended (completed, failed or cancelled): it takes no post, and nothing was stored."""


class FlowValidationError(FlowError):
    """A flow does not validate (dangling connection, missing entry slot...)."""


class EntryParamsError(FlowValidationError):
    """Entry parameters name something the entry slot's handler does not take; ``accepted`` lists what it takes."""

    def __init__(self, routine_id: str, unknown: list[str], accepted: list[str]) -> None:
        self.routine_id, self.unknown, self.accepted = routine_id, list(unknown), list(accepted)
        takes = f"it takes {', '.join(accepted)}" if accepted else "it takes none"
        super().__init__(f"entry routine {routine_id!r} (slot 'trigger') takes no parameter "
                         f"{', '.join(repr(u) for u in unknown)}; {takes}")


class SpecError(FlowValidationError):
    """A flow spec has problems; ``problems`` lists each one with its path in the spec."""

    def __init__(self, problems: list[str], source: str = "flow spec") -> None:
        self.problems = list(problems)
        listed = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{source} has {len(self.problems)} problem(s):\n{listed}")


class ExpressionError(FlowError):
    """A condition expression cannot be used: bad syntax, a refused construct, or a limit exceeded."""


class UnsafeExpressionError(ExpressionError):
    """A condition expression uses a construct, name or method the safe evaluator refuses."""


class ExpressionLimitError(ExpressionError):
    """A condition expression exceeded a bound of the safe evaluator (work, size, exponent...)."""


class LimitError(FlowError):
    """A concurrency or rate limit that is malformed, or a limit key that cannot be computed for an input."""


class SerializationError(RoutiluxError, ValueError):
    """Data could not be turned into, or back from, its plain form."""


class FormatVersionError(SerializationError):
    """Serialized data has a wrong ``_type`` or comes from a newer format version."""


class UnknownRoutineClassError(SerializationError):
    """Serialized data names a routine class this process has not imported."""

    def __init__(self, class_name: str, module_hint: str | None = None) -> None:
        self.class_name = class_name
        self.module_hint = module_hint
        hint = f" (import the module that defines it, e.g. --import {module_hint})" if module_hint else ""
        super().__init__(
            f"Routine class {class_name!r}: class not found in registry{hint}; "
            "classes are only found among those this process imported."
        )


class UnknownConditionError(SerializationError):
    """Serialized data names a condition function this process has not registered."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"Condition function {name!r} is not in this process's registry of conditions; register it "
            "with @register_condition (or use it in a route once) in a module this process imports."
        )


class AmbiguousClassError(SerializationError):
    """Two different classes claim the same registry name."""


class NotConstructibleError(SerializationError, TypeError):
    """A routine class needs constructor arguments, so it cannot be recreated."""


class EncodeError(SerializationError):
    """A value cannot be encoded (it is not msgpack/JSON-representable)."""


class DecodeError(SerializationError):
    """Bytes could not be decoded into a Routilux message or value."""


class StepConflictError(RoutiluxError):
    """A step's reads kept changing under it: it was re-run as often as allowed and never committed.

    The engine hands it to the routine's error strategy like an error of the handler.
    """


class LimitExceededError(DecodeError):
    """Data to decode is over a size or shape limit (bytes, nesting depth, string length, items)."""


class ExecutionTimeout(RoutiluxError, TimeoutError):
    """An execution or a wait ran past its timeout."""


class SoftTimeLimitExceeded(ExecutionTimeout):
    """Raised inside a handler that ran past its soft time limit; the routine's error strategy decides."""

    def __init__(self, message: str = "the handler ran past its soft time limit") -> None:
        super().__init__(message)


class HardTimeLimitExceeded(ExecutionTimeout):
    """A coroutine handler was cancelled at its hard time limit (its activation was handed back already)."""


class DistributedError(RoutiluxError):
    """Base class of errors from the distributed engine."""


class StoreUnavailableError(DistributedError):
    """The Redis state store could not be reached."""


class NotFoundError(DistributedError, KeyError):
    """Something asked for by id (a job, a flow, a dead letter) is not in the store."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "not found"


class JobNotFoundError(NotFoundError):
    """No job with that id is known to the store."""


class AmbiguousIdError(DistributedError, LookupError):
    """An id prefix (of a job, or of a flow's content hash) matches several; the message lists the candidates."""

    def __init__(self, prefix: str, candidates: list[str], what: str = "jobs") -> None:
        self.prefix, self.candidates = prefix, list(candidates)
        shown = ", ".join(candidates[:10]) + (f" and {len(candidates) - 10} more" if len(candidates) > 10 else "")
        super().__init__(f"{prefix!r} matches {len(candidates)} {what}: {shown}; give more characters")


class FlowNotPublishedError(NotFoundError):
    """No published flow with that id or hash exists in the store."""


class DeadLetterNotFoundError(NotFoundError):
    """No dead letter with that id is in the dead-letter stream."""


class WorkerNotFoundError(NotFoundError):
    """No live worker with that node name has a liveness record."""


class MalformedMessageError(DistributedError, DecodeError):
    """A task message is not a well-formed Routilux activation."""


class SignatureError(MalformedMessageError):
    """An activation is unsigned, signed with an unknown key, or its signature does not match."""


class StoreAccessDeniedError(StoreUnavailableError):
    """Redis refused this client: wrong user or password, a missing ACL permission, or a failed TLS handshake."""


class KeyLayoutError(DistributedError):
    """This process's ROUTILUX_KEY_BUCKETS differs from the bucket count the data in Redis was laid out with."""


class IdempotencyKeyError(DistributedError, ValueError):
    """An idempotency key is empty, too long or not text."""


class ScheduleError(DistributedError, ValueError):
    """A schedule cannot be made as asked: a bad cron expression, interval, timezone, window or policy."""


class ScheduleNotFoundError(NotFoundError):
    """No schedule with that id is known to the store."""


class JobFilterError(RoutiluxError, ValueError):
    """A job filter that cannot be read: an unknown status, a time that is not one, a ``where`` without ``=``."""


class SelectionChangedError(DistributedError):
    """A bulk action's jobs no longer number what the caller confirmed; ``matched`` is the count now."""

    def __init__(self, message: str, matched: int) -> None:
        super().__init__(message)
        self.matched = matched


class BrokerUnavailableError(DistributedError):
    """The message broker did not take a message: it could not be reached, or it refused this client."""


class BrokerAccessDeniedError(BrokerUnavailableError):
    """The message broker refused this client: wrong user or password, a vhost it may not use, or a failed TLS handshake."""


class InvalidPriorityError(RoutiluxError, ValueError):
    """A job priority that is not a whole number from 0 to 9."""


class InvalidTenantError(RoutiluxError, ValueError):
    """A tenant name or weight that is not one (see ``submit(..., tenant=)`` and ``set_tenant_weight``)."""


class BulkSubmitError(RoutiluxError, ValueError):
    """An item of a bulk submit was refused before anything of its chunk was written; ``index`` names it.

    ``submitted`` holds the ids of the jobs of earlier chunks, which were started.
    """

    def __init__(self, message: str, index: int, submitted: list[str] | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.submitted = list(submitted or [])
