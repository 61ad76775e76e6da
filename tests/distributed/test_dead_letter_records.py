"""Every path that writes a dead letter writes the same record: the same fields, the time in epoch milliseconds."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import redis

import basic_flows
from routilux.distributed import DistributedRuntime
from routilux.distributed.protocol.constants import LUA_CONSTANTS
from routilux.distributed.protocol.scripts import constants_lua
from routilux.distributed.dead_letter_record import FIELDS
from routilux.distributed.store import text

pytestmark = pytest.mark.distributed

COMMON_LUA = next((Path(__file__).resolve().parents[2] / "routilux" / "distributed").rglob("_common.lua"))


def raw_letters(runtime: DistributedRuntime) -> list[dict[str, str]]:
    """The dead-letter stream's entries as stored, oldest first."""
    client = redis.Redis.from_url(runtime.settings.redis_url)
    try:
        rows = client.xrange(runtime.store.keys.dead(0))
    finally:
        client.close()
    return [{text(k): ("<body>" if k == b"body" else text(v)) for k, v in fields.items()} for _, fields in rows]


def dead_letter_by_the_scripts(runtime: DistributedRuntime) -> None:
    """A stored activation refused on its worker goes to the stream through lua/_common.lua's dead_letter()."""
    job_id = runtime.submit(basic_flows.chain_flow(), "source", {"n": 1})
    (act_id,) = [text(a) for a in runtime.store.redis.hkeys(runtime.store.keys.job(job_id, "acts"))]
    assert runtime.store.reject(job_id, act_id, "stored activation refused: test") == "dead"


def dead_letter_by_the_store(runtime: DistributedRuntime) -> None:
    """A task message that is not an activation (the executor and the consumer record it through the store)."""
    runtime.store.dead_letter_message("not an activation", b"\x00junk", "application/x-msgpack")


def dead_letter_by_the_transport(runtime: DistributedRuntime) -> None:
    """A broker frame kombu cannot parse, read through the hardened transport of the Celery app."""
    queue = runtime.settings.queue
    runtime.store.redis.lpush(f"{runtime.settings.key_prefix}:broker:{queue}", b"not json {")
    with runtime.app.connection_for_read() as connection:
        assert connection.default_channel.basic_get(queue) is None  # dropped, not handed over


def test_dead_letters_from_the_scripts_the_store_and_the_transport_have_one_shape_and_time_format(runtime):
    started_ms = int(time.time() * 1000)
    for write in (dead_letter_by_the_transport, dead_letter_by_the_store, dead_letter_by_the_scripts):
        write(runtime)
    letters = raw_letters(runtime)
    assert [sorted(letter) for letter in letters] == [sorted(FIELDS)] * 3
    assert [bool(letter["job"]) for letter in letters] == [False, False, True]
    assert all(re.fullmatch(r"\d{13}", letter["ts"]) for letter in letters), [x["ts"] for x in letters]
    assert all(started_ms - 5000 <= int(letter["ts"]) <= time.time() * 1000 + 5000 for letter in letters)
    assert [runtime.dead_letter(x["id"])["time"][:4].isdigit() for x in runtime.dead_letters()] == [True] * 3


def test_the_scripts_write_dead_letters_with_the_python_fields_and_stream_cap():
    source = COMMON_LUA.read_text(encoding="utf-8")
    call = re.search(r"redis\.call\('XADD', KEYS\[K_DEAD\], 'MAXLEN', '~', (\w+), '\*',(.*?)\)\n", source, re.S)
    assert call is not None, "lua/_common.lua no longer writes dead letters with one XADD"
    assert call.group(1) == "DEAD_LETTERS_MAXLEN"  # the cap the Python writer uses, generated into every script
    assert f"local DEAD_LETTERS_MAXLEN = {LUA_CONSTANTS['DEAD_LETTERS_MAXLEN']}" in constants_lua()
    assert tuple(re.findall(r"'(\w+)', ", call.group(2))) == FIELDS
