"""An order pipeline: validate each order, price the valid ones, total them when all have arrived.

Flow ``orders`` (entry routine ``source``, entry params ``{"orders": [...]}``)::

    source --order--> validator --valid--> pricing --priced--> totals
                               \\--rejected------------------> totals

``totals`` collects one result per order (``merge_strategy="append"``) and,
once every order of the job has arrived, stores the summary in the job's shared
data (``summary``) and sends it as an output. Every routine has a no-argument
constructor and keeps its settings in ``_config``, so workers on other hosts
rebuild the flow from its published structure: they only need
``--import examples.orders``.
"""

from __future__ import annotations

import time
from typing import Any

from routilux import Flow, JobState, Routine

FLOW_ID = "orders"
ENTRY = "source"

# Prices in cents, so totals stay exact on every engine.
PRICES_CENTS = {"apple": 120, "bread": 350, "coffee": 899, "milk": 149}
TAX_RATE_PERCENT = 8

SAMPLE_ORDERS: list[dict[str, Any]] = [
    {"order_id": "A-1001", "sku": "coffee", "quantity": 2},
    {"order_id": "A-1002", "sku": "apple", "quantity": 6},
    {"order_id": "A-1003", "sku": "caviar", "quantity": 1},
    {"order_id": "A-1004", "sku": "bread", "quantity": 1},
    {"order_id": "A-1005", "sku": "milk", "quantity": 0},
]


class OrderSource(Routine):
    """Entry routine: emits each order of the ``orders`` entry parameter, with the batch size."""

    def __init__(self) -> None:
        """Define the ``trigger`` slot and the ``order`` event."""
        super().__init__()
        self.define_slot("trigger", handler=self.fire)
        self.define_event("order", ["order", "batch_size"])

    def fire(self, orders: list[dict[str, Any]] | None = None) -> None:
        """Emit one ``order`` event per order (``orders`` is its only parameter: a misspelt one is refused)."""
        orders = list(orders or [])
        for order in orders:
            # The batch size travels with each order: the aggregator of this
            # job learns from the data when its group is complete.
            self.emit("order", order=dict(order), batch_size=len(orders))


class OrderValidator(Routine):
    """Accepts orders with a known SKU and a positive quantity; rejects the rest with a reason."""

    def __init__(self) -> None:
        """Define the ``input`` slot and the ``valid``/``rejected`` events."""
        super().__init__()
        self.define_slot("input", handler=self.check)
        self.define_event("valid", ["order", "batch_size"])
        self.define_event("rejected", ["result", "batch_size"])
        self.set_config(known_skus=sorted(PRICES_CENTS), max_quantity=100)

    def check(self, order: dict[str, Any] | None = None, batch_size: int = 0, **_: Any) -> None:
        """Emit ``valid`` or ``rejected`` for one order."""
        order = order or {}
        if self.get_config("delay_s", 0):  # stands for a call to an inventory service
            time.sleep(self.get_config("delay_s"))
        reason = self._problem(order)
        if reason:
            result = {"order_id": order.get("order_id", "?"), "status": "rejected", "reason": reason}
            self.emit("rejected", result=result, batch_size=batch_size)
        else:
            self.emit("valid", order=order, batch_size=batch_size)

    def _problem(self, order: dict[str, Any]) -> str:
        quantity = order.get("quantity", 0)
        if order.get("sku") not in self.get_config("known_skus", []):
            return f"unknown sku {order.get('sku')!r}"
        if not isinstance(quantity, int) or not 0 < quantity <= self.get_config("max_quantity", 100):
            return f"bad quantity {quantity!r}"
        return ""


class OrderPricing(Routine):
    """Prices a valid order: quantity times unit price, plus tax, in cents."""

    def __init__(self) -> None:
        """Define the ``input`` slot and the ``priced`` event."""
        super().__init__()
        self.define_slot("input", handler=self.price)
        self.define_event("priced", ["result", "batch_size"])
        self.set_config(prices_cents=dict(PRICES_CENTS), tax_rate_percent=TAX_RATE_PERCENT)

    def price(self, order: dict[str, Any] | None = None, batch_size: int = 0, **_: Any) -> None:
        """Emit ``priced`` with the order's total."""
        order = order or {}
        if self.get_config("delay_s", 0):  # stands for a call to a pricing service
            time.sleep(self.get_config("delay_s"))
        net = self.get_config("prices_cents")[order["sku"]] * order["quantity"]
        total = net + round(net * self.get_config("tax_rate_percent", 0) / 100)
        result = {"order_id": order["order_id"], "status": "accepted", "total_cents": total}
        self.emit("priced", result=result, batch_size=batch_size)


class OrderTotals(Routine):
    """Aggregator: collects one result per order and totals the batch once it is complete."""

    def __init__(self) -> None:
        """Define the ``results`` slot (append merge) and the ``summary`` event."""
        super().__init__()
        self.define_slot("results", handler=self.collect, merge_strategy="append")
        self.define_event("summary", ["summary"])

    def collect(self, result: list[dict[str, Any]] | None = None, batch_size: list[int] | None = None,
                **_: Any) -> None:
        """Total the batch when the last order's result arrives (exactly once per job)."""
        # With merge_strategy="append" each argument is the list of every value
        # received so far in this job. Merges into one slot run one at a time,
        # so exactly one call sees the group reach its size.
        results = result or []
        if not results or len(results) != max(batch_size or [0]):
            return
        summary = summarize(results)
        ctx = self.get_execution_context()
        if ctx is not None:
            ctx.job_state.update_shared_data("summary", summary)
            self.send_output("summary", **summary)
        self.emit("summary", summary=summary)


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Turn the per-order results into the batch summary (independent of arrival order)."""
    results = sorted(results, key=lambda r: r["order_id"])
    accepted = [r for r in results if r["status"] == "accepted"]
    return {
        "orders": len(results),
        "accepted": [r["order_id"] for r in accepted],
        "rejected": {r["order_id"]: r["reason"] for r in results if r["status"] == "rejected"},
        "total_cents": sum(r["total_cents"] for r in accepted),
    }


def make_flow(flow_id: str = FLOW_ID, delay_s: float = 0.0) -> Flow:
    """Build the order pipeline flow (entry routine ``source``).

    ``delay_s`` makes validating and pricing each order take that long, as calls
    to real services would (``routilux demo`` uses it so there is work in flight
    when it kills a worker).
    """
    flow = Flow(flow_id=flow_id)
    flow.add_routine(OrderSource(), "source")
    validator, pricing = OrderValidator(), OrderPricing()
    if delay_s:
        validator.set_config(delay_s=delay_s)
        pricing.set_config(delay_s=delay_s)
    flow.add_routine(validator, "validator")
    flow.add_routine(pricing, "pricing")
    flow.add_routine(OrderTotals(), "totals")
    flow.connect("source", "order", "validator", "input")
    flow.connect("validator", "valid", "pricing", "input")
    flow.connect("validator", "rejected", "totals", "results")
    flow.connect("pricing", "priced", "totals", "results")
    return flow


def format_summary(job_state: JobState) -> str:
    """A short human-readable report of one order job."""
    summary = job_state.get_shared_data("summary")
    lines = [f"job {job_state.job_id}: {job_state.status}"]
    if not summary:
        return "\n".join(lines + ["  no summary (the batch did not complete)"])
    lines.append(f"  orders:   {summary['orders']}")
    lines.append(f"  accepted: {', '.join(summary['accepted']) or '-'}")
    for order_id, reason in sorted(summary["rejected"].items()):
        lines.append(f"  rejected: {order_id} ({reason})")
    lines.append(f"  total:    ${summary['total_cents'] / 100:.2f}")
    return "\n".join(lines)
