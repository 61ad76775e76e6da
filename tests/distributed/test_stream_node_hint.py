"""A worker's start-up hint about Redis's stream node size (every job's history is a stream)."""

from __future__ import annotations

import logging

import pytest

from routilux.distributed.protocol.constants import ADVISED_STREAM_NODE_MAX_BYTES
from routilux.distributed.worker.boot import check_store_access

pytestmark = pytest.mark.distributed

HINT = "stream-node-max-bytes"


def hints(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if HINT in r.getMessage() and r.levelno == logging.INFO]


def test_a_worker_hints_at_the_advised_stream_node_size_while_redis_keeps_its_default(own_redis, caplog):
    server, settings, runtime = own_redis
    caplog.set_level(logging.INFO, logger="routilux.distributed")
    for size, hinted in ((4096, True), (0, True), (ADVISED_STREAM_NODE_MAX_BYTES, False), (1024, False)):
        runtime.store.redis.config_set(HINT, size)
        caplog.clear()
        check_store_access(settings)
        assert runtime.store.stream_node_max_bytes() == size
        assert bool(hints(caplog)) is hinted, size
    runtime.store.redis.config_set(HINT, 4096)
    caplog.clear()
    check_store_access(settings)
    assert f"at {ADVISED_STREAM_NODE_MAX_BYTES}, a job with a short history" in hints(caplog)[0]
