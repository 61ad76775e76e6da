"""Installs the flow's data and spec formats on :class:`~routilux.flow.Flow`.

``Flow.serialize``, ``Flow.deserialize``, ``Flow.from_spec``, ``Flow.load_spec``
and ``Flow.to_spec`` are implemented by the serialization and spec modules,
which sit above the flow; importing ``routilux`` imports this module, which
hands them to the flow, so the flow never imports upward.
"""

from __future__ import annotations

from routilux import serialization, spec, spec_files
from routilux.flow import FlowFormats, set_flow_formats

FORMATS = FlowFormats(
    to_dict=serialization.flow_to_dict,
    from_dict=serialization.flow_from_dict,
    from_spec=spec.flow_from_spec,
    load_spec=spec_files.load_spec,
    to_spec=spec_files.flow_to_spec,
)
"""What Flow's format methods call."""

set_flow_formats(FORMATS)
