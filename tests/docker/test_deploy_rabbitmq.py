"""The RabbitMQ variant for real: docker-compose.yml with docker-compose.rabbitmq.yml, run by a Docker engine.

RabbitMQ carries the activations on a durable quorum queue, Redis keeps the state;
every job is compared with the local engine's run of the same batch, so a lost or
doubled step fails the test. The compose files are used unchanged.
"""

from __future__ import annotations

import pytest

from dockerstack import assert_every_job_exact, producer_job_ids, run_with_worker_a_killed
from dockerstack import docker_engine, project_image, rabbitmq_stack  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(900)]


def test_on_rabbitmq_killing_a_worker_container_mid_run_loses_and_doubles_no_job(rabbitmq_stack):
    out = run_with_worker_a_killed(rabbitmq_stack, 40)
    assert "40/40 jobs completed" in out
    assert_every_job_exact(rabbitmq_stack, producer_job_ids(out))


def test_on_rabbitmq_the_activations_queue_is_a_durable_quorum_queue(rabbitmq_stack):
    listed = rabbitmq_stack.run("exec", "-T", "rabbitmq", "rabbitmqctl", "-q", "list_queues", "-p", "routilux",
                                "name", "type", "durable").stdout
    rows = {tuple(line.split()) for line in listed.splitlines()}
    assert ("routilux", "quorum", "true") in rows, listed
