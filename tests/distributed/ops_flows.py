"""Flows for the operations tests (search, bulk actions, retry, durations): orders that fail on demand.

Workers import this module by name (``--import ops_flows``); keep it free of pytest imports.
"""

from __future__ import annotations

import time
from typing import Any

from routilux import Flow, Routine

# Customers whose orders fail while listed (tests change it; in-process workers see it).
FAILING_CUSTOMERS: set[str] = set()


class Order(Routine):
    """Entry: keeps ``customer`` in the shared data, fails when ``fail`` is set or the customer is in
    FAILING_CUSTOMERS, else passes the order on."""

    def __init__(self) -> None:
        """Define the ``trigger`` slot and the ``out`` event."""
        super().__init__()
        self.define_slot("trigger", handler=self.take)
        self.define_event("out", ["order"])

    def take(self, fail: bool = False, customer: str = "", **params: Any) -> None:
        """Store the customer; raise for a failing order."""
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.update_shared_data("customer", customer)
        if fail or customer in FAILING_CUSTOMERS:
            raise ValueError(f"bad order for {customer or 'nobody'}")
        self.emit("out", order={"customer": customer, **params})


class Ship(Routine):
    """Sleeps ``sleep_s`` (config), then records the order in the shared data under ``shipped``."""

    def __init__(self) -> None:
        """Define the ``input`` slot."""
        super().__init__()
        self.define_slot("input", handler=self.ship)
        self.set_config(sleep_s=0.0)

    def ship(self, order: dict[str, Any] | None = None, **_: Any) -> None:
        """Wait, then record."""
        if self.get_config("sleep_s"):
            time.sleep(self.get_config("sleep_s"))
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.update_shared_data("shipped", order)


def orders_flow(flow_id: str = "orders-ops", sleep_s: float = 0.0) -> Flow:
    """order -> ship."""
    flow = Flow(flow_id=flow_id)
    flow.add_routine(Order(), "order")
    ship = Ship()
    ship.set_config(sleep_s=sleep_s)
    flow.add_routine(ship, "ship")
    flow.connect("order", "out", "ship", "input")
    return flow
