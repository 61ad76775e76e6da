"""A condition function registered by name, for workers that import this module (``--import registered_conditions``)."""

from __future__ import annotations

from typing import Any

import basic_flows
from routilux import ConditionalRouter, Flow, register_condition


@register_condition("registered_conditions.has_remainder")
def has_remainder(i: Any, config: dict[str, Any]) -> bool:
    """True when ``i`` divided by config ``divisor`` leaves config ``remainder`` (more than one expression)."""
    divisor = config.get("divisor", 2)
    return i % divisor == config.get("remainder", 0)


def named_condition_flow(flow_id: str = "named-condition") -> Flow:
    """source (i = 0..n-1) -> router (route "match" by has_remainder, default "rest") -> record."""
    flow = Flow(flow_id=flow_id)
    router = ConditionalRouter()
    router.set_config(routes=[("match", has_remainder)], default_route="rest", divisor=3, remainder=1)
    flow.add_routine(basic_flows.Source(), "source")
    flow.add_routine(router, "router")
    flow.add_routine(basic_flows.Record(), "record")
    flow.connect("source", "out", "router", "input")
    flow.connect("router", "match", "record", "input")
    flow.connect("router", "rest", "record", "input")
    return flow
