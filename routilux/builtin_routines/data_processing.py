"""Data routines: DataTransformer and DataValidator.

Both keep their functions out of ``_config``: built-ins sit in a class-level
table, registered ones in an instance dict, and the config names them only,
so a configured routine always serializes to plain JSON/msgpack data.
"""

from __future__ import annotations

import itertools
from numbers import Number
from typing import Any, Callable, ClassVar, Iterator

from routilux.routine import Routine

__all__ = ["DataTransformer", "DataValidator"]

Transformation = Callable[[Any], Any]
Validator = Callable[[Any], bool]


def _map_strings(fn: Callable[[str], str]) -> Transformation:
    """Lift a str -> str function to apply inside dicts and lists, leaving other values alone."""

    def apply(value: Any) -> Any:
        if isinstance(value, str):
            return fn(value)
        if isinstance(value, dict):
            return {k: apply(v) for k, v in value.items()}
        if isinstance(value, list):
            return [apply(v) for v in value]
        return value

    return apply


def _remove_none(value: Any) -> Any:
    """Drop None values from a dict, or None items from a list."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [v for v in value if v is not None]
    return value


class DataTransformer(Routine):
    """Apply named transformations to data, one after another.

    Slot ``input`` takes ``data`` and an optional per-call
    ``transformations`` list overriding the config; event ``output`` carries
    ``transformed_data``, ``transformation_applied`` (names that succeeded)
    and ``errors`` (one message per unknown or failing transformation, which
    is skipped). Config: ``transformations`` (names) and
    ``chain_transformations`` (True: each step gets the previous result;
    False: each gets the original data and ``transformed_data`` is a dict of
    name -> result).

    Built-ins: lowercase, uppercase, strip_whitespace (alias "strip") - these
    apply to strings, also inside dicts and lists - to_string, to_int,
    to_float and remove_none. Add more with :meth:`register_transformation`;
    registered functions are not serialized, only their names in the config.
    A per-call ``transformations`` list may also hold callables.
    """

    BUILTIN_TRANSFORMATIONS: ClassVar[dict[str, Transformation]] = {
        "lowercase": _map_strings(str.lower),
        "uppercase": _map_strings(str.upper),
        "strip_whitespace": _map_strings(str.strip),
        "strip": _map_strings(str.strip),
        "to_string": str,
        "to_int": int,
        "to_float": float,
        "remove_none": _remove_none,
    }

    def __init__(self) -> None:
        """Define the ``input`` slot, the ``output`` event and the default config."""
        super().__init__()
        self.input_slot = self.define_slot("input", handler=self._handle_input, merge_strategy="override")
        self.output_event = self.define_event("output", ["transformed_data", "transformation_applied", "errors"])
        self._transformations: dict[str, Transformation] = {}
        self.set_config(transformations=[], chain_transformations=True)

    def register_transformation(self, name: str, fn: Transformation) -> None:
        """Make ``fn(value) -> value`` available under ``name`` (shadowing a built-in of that name)."""
        if not callable(fn):
            raise TypeError(f"transformation {name!r} must be callable")
        self._transformations[name] = fn

    def _lookup(self, step: Any) -> tuple[str, Transformation | None]:
        """Return (display name, function or None if unknown) for a configured step."""
        if callable(step):
            return getattr(step, "__name__", repr(step)), step
        name = str(step)
        return name, self._transformations.get(name) or self.BUILTIN_TRANSFORMATIONS.get(name)

    def _handle_input(self, data: Any = None, transformations: list[Any] | None = None, **kwargs: Any) -> None:
        """Transform the received data and emit ``output``."""
        if data is None and kwargs:
            data = self._extract_input_data(None, **kwargs)
        steps = transformations if transformations is not None else self.get_config("transformations", [])
        chain = bool(self.get_config("chain_transformations", True))
        current = data
        separate: dict[str, Any] = {}
        applied: list[str] = []
        errors: list[str] = []
        for step in steps or []:
            name, fn = self._lookup(step)
            if fn is None:
                errors.append(f"Unknown transformation: {name}")
                continue
            try:
                result = fn(current if chain else data)
            except Exception as exc:  # user-registered functions may raise anything
                errors.append(f"Transformation {name!r} failed: {type(exc).__name__}: {exc}")
                continue
            applied.append(name)
            if chain:
                current = result
            else:
                separate[name] = result
        output = current if chain else separate
        self.emit("output", transformed_data=output, transformation_applied=applied, errors=errors)


def _is_number(value: Any) -> bool:
    """Tell whether ``value`` is a real number (bool excluded, though it subclasses int)."""
    return isinstance(value, Number) and not isinstance(value, (bool, complex))


def _not_empty(value: Any) -> bool:
    """Tell whether ``value`` is neither None, a blank string nor an empty container."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    try:
        return len(value) > 0
    except TypeError:
        return True  # numbers and other sizeless values count as present


class DataValidator(Routine):
    """Validate data against per-field rules; emit ``valid`` or ``invalid``.

    Slot ``input`` takes ``data`` and optional per-call ``rules``. ``rules``
    maps a field to a validator name or a list of names (a per-call rule
    may also be a callable); rules given as a name or list instead of a dict
    apply to the data as a whole. ``required_fields`` must be present.
    Extra fields (neither ruled nor required) are rejected when
    ``allow_extra_fields`` is False or in ``strict_mode``, which also makes
    every ruled field required and stops at the first error (as upstream). Event ``valid`` carries ``validated_data``;
    ``invalid`` carries ``errors`` (messages) and the original ``data``.

    Built-in validators: not_empty, is_string, is_int, is_float, is_number,
    is_dict, is_list, is_positive and is_non_negative. Add more with
    :meth:`register_validator`; registered functions are not serialized.
    """

    BUILTIN_VALIDATORS: ClassVar[dict[str, Validator]] = {
        "not_empty": _not_empty,
        "is_string": lambda v: isinstance(v, str),
        "is_int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "is_float": lambda v: isinstance(v, float),
        "is_number": _is_number,
        "is_dict": lambda v: isinstance(v, dict),
        "is_list": lambda v: isinstance(v, list),
        "is_positive": lambda v: _is_number(v) and v > 0,
        "is_non_negative": lambda v: _is_number(v) and v >= 0,
    }

    def __init__(self) -> None:
        """Define the ``input`` slot, the ``valid``/``invalid`` events and the default config."""
        super().__init__()
        self.input_slot = self.define_slot("input", handler=self._handle_input, merge_strategy="override")
        self.valid_event = self.define_event("valid", ["validated_data"])
        self.invalid_event = self.define_event("invalid", ["errors", "data"])
        self._validators: dict[str, Validator] = {}
        self.set_config(rules={}, strict_mode=False, required_fields=[], allow_extra_fields=True)

    def register_validator(self, name: str, fn: Validator) -> None:
        """Make ``fn(value) -> bool`` available under ``name`` (shadowing a built-in of that name)."""
        if not callable(fn):
            raise TypeError(f"validator {name!r} must be callable")
        self._validators[name] = fn

    def _check(self, label: str, value: Any, rule: Any) -> list[str]:
        """Run one rule (a name, a callable or a list of them) on ``value``; return error messages."""
        if isinstance(rule, (list, tuple)):
            return [msg for part in rule for msg in self._check(label, value, part)]
        if callable(rule):
            name, fn = getattr(rule, "__name__", repr(rule)), rule
        else:
            name = str(rule)
            fn = self._validators.get(name) or self.BUILTIN_VALIDATORS.get(name)
            if fn is None:
                return [f"Unknown validator {name!r} for {label}"]
        try:
            ok = bool(fn(value))
        except Exception as exc:  # a validator that raises rejects the value
            return [f"{label} failed validation {name!r}: {type(exc).__name__}: {exc}"]
        return [] if ok else [f"{label} failed validation {name!r}"]

    def validate(self, data: Any, rules: Any = None) -> list[str]:
        """Return the error messages for ``data`` under ``rules`` (default: config); empty means valid.

        In ``strict_mode`` validation stops at the first error, so there is at most one.
        """
        rules = self.get_config("rules", {}) if rules is None else rules
        strict = bool(self.get_config("strict_mode", False))
        errors = self._errors(data, rules, strict)
        return list(itertools.islice(errors, 1)) if strict else list(errors)

    def _errors(self, data: Any, rules: Any, strict: bool) -> Iterator[str]:
        """Yield error messages in order: required fields, ruled fields, extra fields."""
        required = list(self.get_config("required_fields", []) or [])
        if not isinstance(rules, dict):
            # A bare rule applies to the data itself rather than to one field
            if rules:
                yield from self._check("data", data, rules)
            if required and not isinstance(data, dict):
                yield f"Data must be a dict to check required fields, got {type(data).__name__}"
            return
        if not isinstance(data, dict):
            if rules or required:
                yield f"Data must be a dict, got {type(data).__name__}"
            return
        yield from (f"Missing required field: {f!r}" for f in required if f not in data)
        for field, rule in rules.items():
            if field in data:
                yield from self._check(f"Field {field!r}", data[field], rule)
            elif strict and field not in required:
                yield f"Missing field: {field!r} (strict mode)"
        if strict or not self.get_config("allow_extra_fields", True):
            known = set(rules) | set(required)
            yield from (f"Unexpected field: {f!r}" for f in data if f not in known)

    def _handle_input(self, data: Any = None, rules: Any = None, **kwargs: Any) -> None:
        """Validate the received data and emit ``valid`` or ``invalid``."""
        if data is None and kwargs:
            data = self._extract_input_data(None, **kwargs)
        errors = self.validate(data, rules)
        if errors:
            self.emit("invalid", errors=errors, data=data)
        else:
            self.emit("valid", validated_data=data)
