"""Flow spec files: read JSON (always) or YAML (with the ``yaml`` extra), and write a flow back as a spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from routilux import registry
from routilux.error_handler import ErrorHandler
from routilux.errors import SpecError
from routilux.flow import Flow
from routilux.routine import Routine
from routilux.serialization import check_plain
from routilux.spec import SpecReport, alias_of, check_spec

__all__ = ["check_spec_file", "flow_to_spec", "load_spec", "read_spec"]

YAML_SUFFIXES = (".yaml", ".yml")


def read_spec(path: str | Path) -> Any:
    """Read a spec file as plain data: JSON, or YAML for ``.yaml``/``.yml`` (safe loader only).

    Raises:
        SpecError: the file cannot be read or parsed (the message says where).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([f"cannot read the file: {exc}"], str(path)) from None
    if path.suffix.lower() in YAML_SUFFIXES:
        return _yaml(text, path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError([f"line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}"], str(path)) from None


def _yaml(text: str, path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        raise SpecError(["reading YAML needs PyYAML: pip install 'routilux[yaml]' (or write the spec as JSON)"],
                        str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f"line {where.line + 1} column {where.column + 1}: " if where is not None else ""
        raise SpecError([f"{at}invalid YAML: {getattr(exc, 'problem', None) or exc}"], str(path)) from None


def check_spec_file(path: str | Path) -> SpecReport:
    """Read and check a spec file; a flow without ``flow_id`` takes the file's name.

    Raises:
        SpecError: the file cannot be read or parsed.
    """
    spec = read_spec(path)
    if isinstance(spec, dict) and not spec.get("flow_id"):
        spec = {**spec, "flow_id": Path(path).stem}
    return check_spec(spec)


def load_spec(path: str | Path) -> Flow:
    """Build the Flow a spec file describes.

    Raises:
        SpecError: the file cannot be read, or the spec has problems (all listed with their paths).
    """
    report = check_spec_file(path)
    if report.errors or report.flow is None:
        raise SpecError(report.errors, str(path))
    return report.flow


def flow_to_spec(flow: Flow) -> dict[str, Any]:
    """Return ``flow`` as a spec dict that :func:`flow_from_spec` turns back into the same flow.

    Config, error handlers and merge strategies are written where they differ
    from what the routine's constructor sets.

    Raises:
        EncodeError / SerializationError: a routine's config is not plain data.
    """
    execution: dict[str, Any] = {"timeout": flow.execution_timeout}
    if flow.execution_strategy != "sequential":
        execution.update(strategy=flow.execution_strategy, max_workers=flow.max_workers)
    spec: dict[str, Any] = {"flow_id": flow.flow_id, "execution": execution}
    if flow.error_handler is not None:
        spec["error_handler"] = _handler_spec(flow.error_handler)
    spec["routines"] = {rid: _routine_spec(rid, routine) for rid, routine in flow.routines.items()}
    spec["connections"] = [_connection_spec(c) for c in flow.connections]
    return spec


def _routine_spec(rid: str, routine: Routine) -> dict[str, Any]:
    cls = type(routine)
    fresh = cls()
    config = routine.serialize()["_config"]
    check_plain(config, f"routines.{rid}.config")
    defaults = fresh.serialize()["_config"]
    out: dict[str, Any] = {"class": _class_name(cls)}
    changed = {k: v for k, v in config.items() if k not in defaults or defaults[k] != v}
    if changed:
        out["config"] = changed
    if routine.get_error_handler() is not None:
        out["error_handler"] = _handler_spec(routine.get_error_handler())
    slots = {
        name: {"merge_strategy": slot.merge_strategy}
        for name, slot in routine._slots.items()
        if isinstance(slot.merge_strategy, str) and fresh.get_slot(name) is not None
        and fresh.get_slot(name).merge_strategy != slot.merge_strategy
    }
    if slots:
        out["slots"] = slots
    return out


def _class_name(cls: type) -> str:
    """The shortest name that finds ``cls`` again: its spec name, class name, or module.QualifiedName."""
    alias = alias_of(cls)
    if alias:
        return alias
    return cls.__name__ if registry.registered(cls.__name__) == [cls] else registry.class_key(cls)


def _handler_spec(handler: ErrorHandler) -> dict[str, Any]:
    data = handler.serialize()
    return {k: data[k] for k in ("strategy", "max_retries", "retry_delay", "retry_backoff", "is_critical",
                                 "retryable_exceptions")}


def _connection_spec(conn: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"from": f"{conn.source_routine_id}.{conn.source_event.name}",
                           "to": f"{conn.target_routine_id}.{conn.target_slot.name}"}
    if conn.param_mapping:
        out["param_mapping"] = dict(conn.param_mapping)
    return out

