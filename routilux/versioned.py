"""Shared data and routine states as dicts whose entries carry versions.

Every committed write of a key bumps that key's version and the container's.
A handler reads these dicts as usual (``job_state.shared_data.get("n", 0)``);
inside a step that runs a transaction (see :mod:`routilux.txn`) each read is
noted with the version it saw, and the step's own writes are read back from
the transaction, so the commit can refuse a step whose reads changed under it.
Outside a step they behave as plain dicts.

The blind operations (increment, append) live here too: the local engine,
the step and the distributed engine's tests share their rules, and the commit
script (``distributed/protocol/lua/commit.lua``) follows the same ones.
"""

from __future__ import annotations

import weakref
from typing import Any, Iterator

from routilux.context import current_step
from routilux.protocols import TxnLike
from routilux.ops import Op

SD, RS = Op.SD, Op.RS
INCREMENT, APPEND = Op.SI, Op.SA
# Integers stay exact up to here: the commit script does arithmetic in doubles.
INT_LIMIT = 2**53 - 1


class _Missing:
    """The value of a key that is not there (distinct from a stored None)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class VersionedDict(dict):  # type: ignore[type-arg]
    """A dict of shared data or routine states whose reads a running step tracks.

    ``part`` is "sd" or "rs"; ``owner`` the JobState it belongs to; ``versions``
    maps a key to the number of committed writes to it (absent: 0); ``version``
    counts committed writes to the whole dict.
    """

    __slots__ = ("part", "_owner", "versions", "version")

    def __init__(self, part: str, owner: Any, data: Any = (), versions: dict[Any, int] | None = None,
                 version: int = 0) -> None:
        super().__init__(data)
        self.part = part
        # Weak: a JobState holding its own dicts must still be freed as soon as nobody uses it,
        # not at the next cyclic garbage collection (with all of its history).
        self._owner = weakref.ref(owner)
        self.versions: dict[Any, int] = versions if versions is not None else {}
        self.version = version

    @property
    def owner(self) -> Any:
        """The JobState these entries belong to (None once it is gone)."""
        return self._owner()

    def put(self, key: Any, value: Any) -> None:
        """Write one entry for good (a commit): the value first, then its versions."""
        dict.__setitem__(self, key, value)
        self.versions[key] = self.versions.get(key, 0) + 1
        self.version += 1

    def plain(self) -> dict[Any, Any]:
        """A plain copy, untracked (for serialization and the engines)."""
        return dict(dict.items(self))

    def _txn(self) -> TxnLike | None:
        step = current_step.get()
        if step is None or step.txn is None or step.job_state is not self._owner():
            return None
        return step.txn

    # -- reads a step tracks ---------------------------------------------
    def get(self, key: Any, default: Any = None) -> Any:
        txn = self._txn()
        if txn is None:
            return dict.get(self, key, default)
        value = txn.read(self, key)
        return default if value is MISSING else value

    def __getitem__(self, key: Any) -> Any:
        txn = self._txn()
        if txn is None:
            return dict.__getitem__(self, key)
        value = txn.read(self, key)
        if value is MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        txn = self._txn()
        if txn is None:
            return dict.__contains__(self, key)
        return txn.read(self, key) is not MISSING

    def _whole(self) -> dict[Any, Any]:
        txn = self._txn()
        return dict(dict.items(self)) if txn is None else txn.read_all(self)

    def __iter__(self) -> Iterator[Any]:
        txn = self._txn()
        return dict.__iter__(self) if txn is None else iter(txn.read_all(self))

    def __len__(self) -> int:
        txn = self._txn()
        return dict.__len__(self) if txn is None else len(txn.read_all(self))

    def keys(self) -> Any:
        txn = self._txn()
        return dict.keys(self) if txn is None else txn.read_all(self).keys()

    def items(self) -> Any:
        txn = self._txn()
        return dict.items(self) if txn is None else txn.read_all(self).items()

    def values(self) -> Any:
        txn = self._txn()
        return dict.values(self) if txn is None else txn.read_all(self).values()

    def copy(self) -> dict[Any, Any]:  # type: ignore[override]
        return self._whole()

    def __reduce__(self) -> Any:
        return (dict, (self.plain(),))


def as_versioned(part: str, owner: Any, value: Any) -> VersionedDict:
    """Wrap ``value`` (a mapping) for ``owner``, unless it already is its VersionedDict."""
    if isinstance(value, VersionedDict) and value.owner is owner and value.part == part:
        return value
    data = dict.items(value) if isinstance(value, dict) else value
    return VersionedDict(part, owner, data)


# -- blind operations ------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(value: Any, what: str) -> None:
    if isinstance(value, int) and abs(value) > INT_LIMIT:
        raise OverflowError(f"{what} {value} is outside the exact range of an atomic counter (±2**53-1)")


def incremented(key: Any, current: Any, by: Any) -> Any:
    """The value of ``key`` after adding ``by`` to ``current`` (MISSING counts as 0).

    Raises:
        TypeError: ``by`` or the stored value is not an int or float.
        OverflowError: an integer operand or the result leaves ±(2**53-1).
    """
    if not _is_number(by):
        raise TypeError(f"increment_shared_data({key!r}): 'by' must be an int or float, not {type(by).__name__}")
    base = 0 if current is MISSING else current
    if not _is_number(base):
        raise TypeError(f"increment_shared_data({key!r}): the stored value is a {type(base).__name__}, not a number")
    _check_int(base, "stored value")
    _check_int(by, "increment")
    result = base + by
    _check_int(result, "result")
    return result


def appended(key: Any, current: Any, item: Any) -> list[Any]:
    """The value of ``key`` after appending ``item`` to ``current`` (MISSING counts as []).

    Raises:
        TypeError: the stored value is not a list.
    """
    if current is MISSING:
        return [item]
    if type(current) is not list:
        raise TypeError(f"append_shared_data({key!r}): the stored value is a {type(current).__name__}, not a list")
    return [*current, item]


BLIND = {INCREMENT: incremented, APPEND: appended}


def apply_blind(key: Any, value: Any, ops: list[tuple[str, Any]]) -> Any:
    """Apply blind ops (kind, argument) to ``value`` in order."""
    for kind, arg in ops:
        value = BLIND[kind](key, value, arg)
    return value
