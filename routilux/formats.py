"""Installs the flow's data and spec formats on :class:`~routilux.flow.Flow`.

``Flow.serialize``, ``Flow.deserialize``, ``Flow.from_spec``, ``Flow.load_spec``
and ``Flow.to_spec`` are implemented by the serialization and spec modules,
which sit above the flow; importing ``routilux`` imports this module, which
hands them to the flow, so the flow never imports upward. Each imports its
module on first use, so ``import routilux`` loads none of them.
"""

from __future__ import annotations

import os
from typing import Any

from routilux.flow import Flow, FlowFormats, set_flow_formats


def _to_dict(flow: Flow) -> dict[str, Any]:
    from routilux.serialization import flow_to_dict

    return flow_to_dict(flow)


def _from_dict(flow: Flow, data: dict[str, Any]) -> None:
    from routilux.serialization import flow_from_dict

    flow_from_dict(flow, data)


def _from_spec(spec: dict[str, Any]) -> Flow:
    from routilux.spec import flow_from_spec

    return flow_from_spec(spec)


def _load_spec(path: str | os.PathLike[str]) -> Flow:
    from routilux.spec_files import load_spec

    return load_spec(path)


def _to_spec(flow: Flow) -> dict[str, Any]:
    from routilux.spec_files import flow_to_spec

    return flow_to_spec(flow)


FORMATS = FlowFormats(_to_dict, _from_dict, _from_spec, _load_spec, _to_spec)
"""What Flow's format methods call."""

set_flow_formats(FORMATS)
