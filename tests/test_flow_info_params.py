"""A flow's description names the parameters each slot's handler takes, when the process knows the class."""

from __future__ import annotations

from typing import Any

from routilux import Flow, Routine
from routilux.flow_info import describe_flow


class Greeter(Routine):
    """An entry routine whose trigger takes ``name`` and ``loud``, and nothing else."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.greet)
        self.define_slot("anything", handler=self.log)

    def greet(self, name: str = "", loud: bool = False) -> None:
        """Say hello."""

    def log(self, **data: Any) -> None:
        """Take anything."""


def test_a_slot_lists_its_handlers_parameters_and_whether_it_takes_others():
    flow = Flow(flow_id="greet")
    flow.add_routine(Greeter(), "greeter")
    slots = {s["name"]: s["params"] for s in describe_flow(flow.serialize())["routines"]["greeter"]["slots"]}
    assert slots == {"trigger": {"names": ["name", "loud"], "any": False}, "anything": {"names": [], "any": True}}


def test_a_slot_of_a_class_this_process_never_imported_has_unknown_parameters():
    flow = Flow(flow_id="greet")
    flow.add_routine(Greeter(), "greeter")
    data = flow.serialize()
    data["routines"]["greeter"].update(_type="NotImportedHere", _class="elsewhere.NotImportedHere")
    slots = describe_flow(data)["routines"]["greeter"]["slots"]
    assert [s["params"] for s in slots] == [None, None]
