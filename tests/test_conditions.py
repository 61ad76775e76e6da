"""ConditionalRouter conditions: callables survive serialization without code in the data."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pytest

from routilux import Flow
from routilux.builtin_routines import ConditionalRouter, register_condition
from routilux.builtin_routines.conditions import ExpressionCondition, lookup_condition
from routilux.errors import EncodeError, ExpressionError, FlowError, UnknownConditionError
from routilux.routine import Routine

pytestmark = pytest.mark.timeout(60)

THRESHOLD = 10


def is_high(data: Any) -> bool:
    """A module-level condition, stored by name on first use."""
    return isinstance(data, dict) and data.get("priority") == "high"


@register_condition("is_weekend_order")
def weekend(data: Any, config: dict[str, Any]) -> bool:
    """A condition registered under a chosen name, with more than one statement."""
    day = data.get("day")
    return day in config.get("weekend", ("sat", "sun"))


class Feeder(Routine):
    """Entry routine: forwards its entry params on ``output``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=lambda **kw: self.emit("output", **kw))
        self.define_event("output")


class Sink(Routine):
    """Records the route each payload took in the job's shared log."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, data: Any = None, route: str = "", **_: Any) -> None:
        self.get_execution_context().job_state.append_to_shared_log({"route": route})


def router_flow(routes: list[tuple[str, Any]], default: str | None = "other") -> Flow:
    """feeder -> router -> sink, every route and the default wired to the sink."""
    flow = Flow(flow_id="routing")
    router = ConditionalRouter()
    router.set_config(routes=routes, default_route=default)
    flow.add_routine(Feeder(), "feeder")
    flow.add_routine(router, "router")
    flow.add_routine(Sink(), "sink")
    flow.connect("feeder", "output", "router", "input")
    for name in [name for name, _ in routes] + ([default] if default else []):
        flow.connect("router", name, "sink", "input")
    return flow


def routes_taken(flow: Flow, *payloads: Any) -> list[Any]:
    taken = []
    try:
        for payload in payloads:
            job = flow.execute("feeder", {"data": payload}, timeout=20)
            assert job.status == "completed", job.error
            taken.append([entry["route"] for entry in job.get_shared_log()])
    finally:
        flow.shutdown()
    return taken


def through_json(flow: Flow) -> Flow:
    return Flow.deserialize(json.loads(json.dumps(flow.serialize())))


def test_a_lambda_is_stored_as_an_expression_and_routes_the_same_after_a_round_trip() -> None:
    routes = [("high", lambda x: x.get("priority") == "high"), ("big", lambda d, cfg: d.get("n", 0) > THRESHOLD)]
    flow = router_flow(routes)
    stored = flow.serialize()["routines"]["router"]["_config"]["routes"]
    assert stored == [
        ["high", {"_type": "lambda_expression", "expression": "data.get('priority') == 'high'"}],
        ["big", {"_type": "lambda_expression", "expression": "data.get('n', 0) > 10"}],
    ]
    payloads = ({"priority": "high"}, {"n": 11}, {"n": 1})
    expected = [["high"], ["big"], ["other"]]
    assert routes_taken(flow, *payloads) == expected
    rebuilt = through_json(flow)
    assert isinstance(rebuilt.routines["router"].get_config("routes")[0][1], ExpressionCondition)
    assert routes_taken(rebuilt, *payloads) == expected


def test_a_module_level_function_is_stored_by_name_and_found_again_in_the_registry() -> None:
    flow = router_flow([("high", is_high)])
    stored = flow.serialize()["routines"]["router"]["_config"]["routes"][0][1]
    assert stored == {"_type": "callable", "callable_type": "function", "module": __name__, "name": f"{__name__}.is_high"}
    rebuilt = through_json(flow)
    assert rebuilt.routines["router"].get_config("routes")[0][1] is is_high
    assert routes_taken(rebuilt, {"priority": "high"}, {}) == [["high"], ["other"]]


def test_a_registered_name_is_what_the_data_holds() -> None:
    flow = router_flow([("weekend", weekend)])
    stored = flow.serialize()["routines"]["router"]["_config"]["routes"][0][1]
    assert stored["name"] == "is_weekend_order"
    assert lookup_condition("is_weekend_order") is weekend
    assert routes_taken(through_json(flow), {"day": "sun"}, {"day": "mon"}) == [["weekend"], ["other"]]


def test_an_unregistered_name_in_the_data_is_a_typed_error_and_nothing_is_imported() -> None:
    data = router_flow([("high", is_high)]).serialize()
    data["routines"]["router"]["_config"]["routes"][0][1] = {
        "_type": "callable", "callable_type": "function", "module": "antigravity", "name": "fly",
    }
    with pytest.raises(UnknownConditionError, match="antigravity.fly") as caught:
        Flow.deserialize(data)
    assert "register_condition" in str(caught.value)
    assert "antigravity" not in sys.modules


def test_a_lambda_the_evaluator_cannot_express_makes_serialize_say_which_route_and_why() -> None:
    flow = router_flow([("odd", lambda d: json.dumps(d).startswith("{"))])
    with pytest.raises(EncodeError, match="route 'odd'.*'json'.*register_condition"):
        flow.serialize()


def test_a_nested_function_that_is_one_expression_is_stored_as_that_expression() -> None:
    limit = 3

    def small(d):
        """Docstrings are fine."""
        return d.get("n", 0) < limit

    stored = router_flow([("small", small)]).serialize()["routines"]["router"]["_config"]["routes"][0][1]
    assert stored == {"_type": "lambda_expression", "expression": "data.get('n', 0) < 3"}


def test_a_nested_function_of_several_statements_is_stored_by_its_name_for_this_process() -> None:
    def check(d):
        value = d.get("n", 0)
        return value > 1

    data = router_flow([("check", check)]).serialize()
    stored = data["routines"]["router"]["_config"]["routes"][0][1]
    assert stored["_type"] == "callable" and stored["name"].endswith("<locals>.check")
    assert routes_taken(Flow.deserialize(data), {"n": 2}) == [["check"]]


def test_upstream_lambda_text_in_stored_data_is_evaluated_safely() -> None:
    router = ConditionalRouter()
    router.set_config(routes=[["high", {"_type": "lambda_expression", "expression": "lambda x: x['p'] == 'high'"}]])
    assert router.route({"p": "high"}) == ["high"]
    with pytest.raises(ExpressionError, match="not allowed"):
        router.set_config(routes=[["bad", {"_type": "lambda_expression", "expression": "lambda x: x.__class__"}]])


def test_one_name_cannot_be_registered_for_two_different_functions() -> None:
    with pytest.raises(FlowError, match="already registered"):
        register_condition(is_high, name="is_weekend_order")


def test_an_exponent_tower_fails_its_job_at_once_and_the_flow_keeps_serving() -> None:
    flow = router_flow([("bomb", "9**9**9**9 > 0"), ("fine", "True")])
    try:
        started = time.monotonic()
        job = flow.execute("feeder", {"data": 1}, timeout=20)
        assert time.monotonic() - started < 10  # a generous safety bound, not a performance claim
        assert job.status == "failed"
        assert "exponent of **" in json.dumps(job.serialize(), default=str)
        flow.routines["router"].set_config(routes=[("fine", "True")])
        again = flow.execute("feeder", {"data": 1}, timeout=20)
        assert [entry["route"] for entry in again.get_shared_log()] == ["fine"]
    finally:
        flow.shutdown()
