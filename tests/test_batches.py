"""How sibling activations are packed into messages, and how a worker goes through a batch."""

from __future__ import annotations

import pytest

pytest.importorskip("celery")

from routilux.distributed import Settings  # noqa: E402
from routilux.distributed.batch import MAX_BODIES, batch_bodies, byte_cap, halves, pack, run_batch  # noqa: E402
from routilux.distributed.dispatch import PUBLISH_ALLOWANCE_MS, Dispatcher  # noqa: E402
from routilux.errors import MalformedMessageError  # noqa: E402


def _items(n: int, size: int = 10) -> list[tuple[str, bytes]]:
    return [(f"job|{i}", bytes([i % 256]) * size) for i in range(n)]


def test_a_fan_out_is_spread_over_dispatch_spread_messages_of_even_sizes_in_order():
    batches = pack(_items(199), max_batch=50, spread=16, max_bytes=10**6)
    assert [len(b) for b in batches] == [13] * 7 + [12] * 9
    assert [item for batch in batches for item in batch] == _items(199)


def test_a_small_fan_out_sends_one_activation_per_message_and_a_large_one_at_most_dispatch_batch():
    assert [len(b) for b in pack(_items(16), 50, 16, 10**6)] == [1] * 16
    assert max(len(b) for b in pack(_items(1000), 50, 16, 10**6)) == 50
    assert [len(b) for b in pack(_items(1000), 1, 16, 10**6)] == [1] * 1000


def test_no_message_holds_more_bodies_than_the_byte_cap_and_a_bigger_body_goes_alone():
    items = _items(40, size=100) + [("job|big", b"x" * 5000)] + _items(10, size=100)
    batches = pack(items, 50, 1, max_bytes=1000)
    assert all(sum(len(body) for _, body in b) <= 1000 for b in batches if len(b) > 1)
    assert [("job|big", b"x" * 5000)] in batches
    assert [item for batch in batches for item in batch] == items
    assert byte_cap(8 * 1024 * 1024) == 1024 * 1024 and byte_cap(64 * 1024) == 16 * 1024


def test_bodies_handed_back_go_in_two_messages_or_one_if_there_is_one():
    assert halves([1, 2, 3, 4, 5]) == [[1, 2, 3], [4, 5]]
    assert halves([1]) == [[1]]


@pytest.mark.parametrize("message", [b"body", {"args": [b"a", b"b"], "kwargs": {}}, [], [b"x"] * (MAX_BODIES + 1)])
def test_a_batch_argument_that_is_not_a_list_of_1_to_max_bodies_is_malformed(message):
    with pytest.raises(MalformedMessageError):
        batch_bodies(message)


def test_a_batch_past_its_time_budget_hands_back_every_body_it_has_not_started():
    ran: list[bytes] = []
    handed: list[list[bytes]] = []
    outcomes = run_batch(lambda b: ran.append(b) or "ok", [b"a", b"b", b"c"], handed.append, budget_s=0.0)
    assert ran == [b"a"] and handed == [[b"b", b"c"]]
    assert outcomes == {"ok": 1, "handed back": 2}


def test_when_a_body_raises_the_bodies_after_it_are_handed_back_before_the_error_propagates():
    handed: list[list[bytes]] = []

    def run(body: bytes) -> str:
        if body == b"b":
            raise ConnectionError("Redis went away")
        return "ok"

    with pytest.raises(ConnectionError):
        run_batch(run, [b"a", b"b", b"c", b"d"], handed.append, budget_s=60.0)
    assert handed == [[b"c", b"d"]]


def test_a_large_fan_out_may_wait_in_the_outbox_a_few_ms_longer_per_message_it_takes():
    batched, single = Dispatcher(None, Settings()), Dispatcher(None, Settings(dispatch_batch=1))
    assert batched.grace_ms(5.0, 0) == 5000
    assert batched.grace_ms(5.0, 1000) == 5000 + 20 * PUBLISH_ALLOWANCE_MS
    assert single.grace_ms(5.0, 1000) == 5000 + 1000 * PUBLISH_ALLOWANCE_MS
