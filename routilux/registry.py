"""The registry of classes this process has imported, used to rebuild objects from data.

Serialized data names a class (``_type``: its simple name, ``_class``: module and
qualified name), but data never causes an import: a class is found only if the
process defined or imported it, which registered it here. Every ``Routine``
subclass registers itself when it is defined; other classes can use
:func:`register_serializable`.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, TypeVar

from routilux.errors import AmbiguousClassError, UnknownRoutineClassError

T = TypeVar("T", bound=type)

_lock = threading.Lock()
_by_key: dict[str, type] = {}
_keys_by_name: dict[str, list[str]] = {}


def class_key(cls: type) -> str:
    """Return the registry key of ``cls``: ``module.QualifiedName``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def register(cls: type) -> type:
    """Register ``cls``; a redefinition with the same module and qualified name replaces it."""
    key = class_key(cls)
    with _lock:
        _by_key[key] = cls
        keys = _keys_by_name.setdefault(cls.__name__, [])
        if key not in keys:
            keys.append(key)
    return cls


def register_serializable(cls: T | None = None) -> T | Callable[[T], T]:
    """Decorator that registers a class for deserialization (a no-op for Routines, which register themselves)."""
    if cls is None:
        return register  # type: ignore[return-value]
    return register(cls)  # type: ignore[return-value]


def lookup(type_name: str, key: str | None = None) -> type:
    """Find a registered class by its exact key, else by its simple name.

    Raises:
        UnknownRoutineClassError: nothing registered under that name.
        AmbiguousClassError: two different classes share the simple name and
            the data does not say which one it means.
    """
    with _lock:
        # ``_class`` only disambiguates ``_type`` (upstream's key); data whose ``_type`` was changed names another class.
        if key and key in _by_key and key.rsplit(".", 1)[-1] == type_name:
            return _by_key[key]
        keys = list(_keys_by_name.get(type_name, ()))
    if len(keys) == 1:
        return _by_key[keys[0]]
    if not keys:
        consistent = key and key.rsplit(".", 1)[-1] == type_name
        hint = key.rsplit(".", 1)[0] if consistent and "." in key else None
        raise UnknownRoutineClassError(key if consistent else type_name, hint)
    raise AmbiguousClassError(
        f"Registry name {type_name!r} is claimed by different classes: "
        f"{', '.join(sorted(keys))}; rename one of them"
    )


def registered(type_name: str) -> list[type]:
    """Return every registered class with this simple name."""
    with _lock:
        return [_by_key[k] for k in _keys_by_name.get(type_name, ())]


def plain_name(obj: Any) -> str:
    """Return the simple class name used as ``_type`` in serialized data."""
    return type(obj).__name__
