"""JobFilter: one definition of "which jobs", shared by the runtime, the CLI and the HTTP API.

A filter is checked in three stages, cheapest first, so a listing of thousands
of jobs reads little: the created-time range bounds the read of the jobs index,
the id prefix needs only the index entry, status, flow and error need the meta
hash, and only ``where`` reads a job's entry parameters and shared data.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Iterable, Mapping

from routilux.errors import JobFilterError
from routilux.job_state import STATUSES

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class JobFilter:
    """Which jobs: every given criterion must hold (an empty filter matches every job).

    Attributes:
        id_prefix: the job id starts with it.
        flow: a substring of the flow id, or a prefix of the flow hash.
        statuses: the job's status is one of these.
        since, until: created at or after / at or before (epoch seconds).
        error: a substring of the job's error text (case-insensitive).
        where: (key, value) pairs matched against the entry parameters or the shared
            data (a dotted key reaches into nested dicts); a value matches a string as
            itself and any other JSON scalar as its JSON text (``10``, ``true``, ``null``).
    """

    id_prefix: str = ""
    flow: str = ""
    statuses: tuple[str, ...] = ()
    since: float | None = None
    until: float | None = None
    error: str = ""
    where: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        unknown = [s for s in self.statuses if s not in STATUSES]
        if unknown:
            raise JobFilterError(f"status must be among {', '.join(STATUSES)}, not {', '.join(map(repr, unknown))}")

    @classmethod
    def parse(cls, id: str | None = None, flow: str | None = None, status: str | Iterable[str] | None = None,
              since: str | float | None = None, until: str | float | None = None, error: str | None = None,
              where: str | Iterable[str] | None = None) -> JobFilter:
        """A filter from text as a query string or a command line gives it.

        ``status`` is a comma list (or a list); ``since``/``until`` are ISO-8601,
        epoch seconds or an age such as ``90s``, ``15m``, ``1h``, ``2d``; ``where``
        is ``key=value`` (or a list of them).

        Raises:
            JobFilterError: an unknown status, a time it cannot read, or a ``where`` without ``=``.
        """
        return cls(id_prefix=id or "", flow=flow or "", statuses=tuple(_items(status)),
                   since=parse_time(since), until=parse_time(until), error=error or "",
                   where=tuple(_pair(w) for w in _items(where, split=False)))

    def with_statuses(self, allowed: Iterable[str]) -> JobFilter | None:
        """This filter further limited to the ``allowed`` statuses; None if no status is left."""
        allowed = tuple(allowed)
        kept = tuple(s for s in self.statuses if s in allowed) if self.statuses else allowed
        return replace(self, statuses=kept) if kept else None

    def score_range(self) -> tuple[float | str, float | str]:
        """(max, min) created-ms scores of the jobs index this filter can match."""
        high: float | str = "+inf" if self.until is None else self.until * 1000
        low: float | str = "-inf" if self.since is None else self.since * 1000
        return high, low

    def matches_id(self, job_id: str) -> bool:
        """Whether the job id fits (the only check that needs no read)."""
        return job_id.startswith(self.id_prefix)

    def matches_meta(self, meta: Mapping[str, str | None]) -> bool:
        """Whether a job's meta fields (status, flow_id, flow_hash, error) fit."""
        if self.statuses and meta.get("status") not in self.statuses:
            return False
        if self.flow and self.flow not in (meta.get("flow_id") or "") \
                and not (meta.get("flow_hash") or "").startswith(self.flow):
            return False
        return not self.error or self.error.lower() in (meta.get("error") or "").lower()

    def matches_data(self, params: Mapping[str, Any], shared: Mapping[str, Any]) -> bool:
        """Whether each ``where`` pair matches the entry parameters or the shared data."""
        return all(_matches_value(params, key, value) or _matches_value(shared, key, value)
                   for key, value in self.where)

    @property
    def where_keys(self) -> list[str]:
        """The top-level shared-data keys ``where`` reads."""
        return sorted({key.split(".", 1)[0] for key, _ in self.where})


def parse_time(value: str | float | None, now: float | None = None) -> float | None:
    """Epoch seconds from ISO-8601, epoch seconds, or an age (``30m`` is 30 minutes ago); None stays None.

    Raises:
        JobFilterError: none of those.
    """
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = value.strip()
    if _RELATIVE.match(text):
        return (time.time() if now is None else now) - parse_age(text)
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise JobFilterError(
            f"not a time: {value!r} (give ISO-8601, epoch seconds, or an age like 15m, 1h, 2d)") from None


def parse_age(value: str | float) -> float:
    """Seconds in a number or an age such as ``90s``, ``15m``, ``1h``, ``2d``, ``1w``.

    Raises:
        JobFilterError: neither.
    """
    if isinstance(value, (int, float)):
        return float(value)
    age = _RELATIVE.match(value.strip())
    if age:
        return float(age.group(1)) * _UNIT_S[age.group(2)]
    try:
        return float(value)
    except ValueError:
        raise JobFilterError(f"not a duration: {value!r} (give seconds or an age like 15m, 1h, 2d)") from None


def scalar_text(value: Any) -> str | None:
    """How ``where`` sees a value: a string as itself, another JSON scalar as JSON; None for lists and dicts."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return None


def _matches_value(data: Mapping[str, Any], key: str, expected: str) -> bool:
    value: Any = data
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False
        value = value[part]
    return scalar_text(value) == expected


def _items(value: str | Iterable[str] | None, split: bool = True) -> list[str]:
    if value is None:
        return []
    values = [value] if isinstance(value, str) else list(value)
    if split:
        values = [part for v in values for part in v.split(",")]
    return [v.strip() for v in values if v.strip()]


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise JobFilterError(f"where wants key=value, not {text!r}")
    return key.strip(), value
