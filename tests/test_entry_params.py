"""Entry parameters are checked against the entry handler's signature where it is knowable."""

from __future__ import annotations

from typing import Any

import pytest

from routilux import Flow, Routine
from routilux.errors import EntryParamsError, FlowValidationError

pytestmark = pytest.mark.timeout(30)


class Named(Routine):
    """An entry routine whose handler takes ``orders`` and ``region`` only."""

    def __init__(self) -> None:
        """Define the ``trigger`` slot."""
        super().__init__()
        self.define_slot("trigger", handler=self.fire)

    def fire(self, orders: list[Any] | None = None, region: str = "") -> None:
        """Keep what it got."""
        self.get_execution_context().job_state.update_shared_data("got", {"orders": orders, "region": region})


class Open(Routine):
    """An entry routine whose handler takes anything (``**kwargs``)."""

    def __init__(self) -> None:
        """Define the ``trigger`` slot."""
        super().__init__()
        self.define_slot("trigger", handler=self.fire)

    def fire(self, **params: Any) -> None:
        """Keep what it got."""
        self.get_execution_context().job_state.update_shared_data("got", params)


def flow_of(routine: Routine) -> Flow:
    flow = Flow(flow_id="entry-params")
    flow.add_routine(routine, "source")
    return flow


def test_a_misspelt_entry_parameter_is_refused_naming_the_ones_the_entry_takes() -> None:
    with pytest.raises(EntryParamsError) as refused:
        flow_of(Named()).execute("source", {"ordres": [1]})
    assert isinstance(refused.value, FlowValidationError)
    assert refused.value.unknown == ["ordres"] and refused.value.accepted == ["orders", "region"]
    assert "'ordres'" in str(refused.value) and "it takes orders, region" in str(refused.value)


def test_known_entry_parameters_and_none_at_all_run_as_before() -> None:
    assert flow_of(Named()).execute("source", {"orders": [1], "region": "eu"}).get_shared_data("got") == \
        {"orders": [1], "region": "eu"}
    assert flow_of(Named()).execute("source").status == "completed"


def test_an_entry_that_takes_any_keyword_accepts_any_name() -> None:
    state = flow_of(Open()).execute("source", {"ordres": [1]})
    assert state.status == "completed" and state.get_shared_data("got") == {"ordres": [1]}


def test_the_orders_example_refuses_ordres() -> None:
    from examples import orders

    with pytest.raises(EntryParamsError, match="it takes orders"):
        orders.make_flow().execute(orders.ENTRY, {"ordres": []})


def test_an_entry_whose_handler_is_replaced_is_checked_against_the_new_handler() -> None:
    routine = Named()
    flow = flow_of(routine)
    with pytest.raises(EntryParamsError):
        flow.execute("source", {"ordres": [1]})  # the first handler's names, now remembered by the slot
    routine.get_slot("trigger").handler = lambda **params: None
    assert flow.execute("source", {"ordres": [1]}).status == "completed"
    routine.get_slot("trigger").handler = routine.fire
    with pytest.raises(EntryParamsError, match="it takes orders, region"):
        flow.execute("source", {"ordres": [1]})

