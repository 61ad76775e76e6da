"""Sub-flows on the distributed engine: a SubFlow routine runs a child job and reports how it ended.

Real Redis and real Celery workers (in-process; a subprocess worker for the SIGKILL test).
"""

from __future__ import annotations

import pytest

import subflow_flows as sf
from routilux.distributed.subflows import child_job_id

pytestmark = [pytest.mark.distributed]


@pytest.mark.timeout(90)
def test_smoke(runtime, start_workers):
    start_workers(concurrency=2)
    runtime.publish(sf.child_flow())
    parent = runtime.submit(sf.parent_flow("square-child", "output"), "sub", {"x": 7})
    state = runtime.wait(parent, timeout=30)
    print(state.status, state.error, state.shared_data)
    print(runtime.job_summary(parent))
    kid = state.shared_data["done"][0]["child_job_id"]
    print(runtime.job_summary(kid))
    assert 0
