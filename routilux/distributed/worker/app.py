"""The Celery app factory and its settings: the one place Celery is configured.

Why each setting: late acks and reject-on-worker-lost so a killed pool child's
message is not lost; prefetch 1 so a dead worker holds as little as possible;
results ignored (the JobState is the result); reconnect forever, because
workers have been seen to stop consuming after giving up; our msgpack
serializer and nothing else accepted, so pickle never reaches a worker; the
visibility timeout is only a backstop above the lease (our sweeper recovers
crashed work within the lease); a key prefix so apps sharing a Redis do not
share queues and visibility timeouts.

With RabbitMQ as the broker (``broker_url=amqp://...``) Redis still keeps all
state; the activation queues are durable quorum queues (replicated; per-consumer
QoS, which Celery switches to by itself when it sees them) and publishes wait for
the broker's confirm. AMQP has no visibility timeout: a message goes back to the
queue when the channel that holds it closes (a worker killed or cut off), and a
pool child lost mid-task rejects it with requeue. RabbitMQ's ``consumer_timeout``
(30 min by default) closes a channel whose delivery stays unacknowledged longer;
keep it above the hard time limit, as the visibility timeout on Redis.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Iterable

from celery import Celery
from kombu import Exchange, Queue
from celery.signals import worker_process_init

from routilux.distributed.batch import BATCH_TASK_NAME
from routilux.distributed.worker.control import StoreControl
from routilux.distributed.dispatch import TASK_NAME, Dispatcher
from routilux.distributed.worker.executor import Executor
from routilux.distributed.protocol.keys import Keys
from routilux.distributed.protocol.priority import band_queues
from routilux.distributed.worker.limits import mark_pool_child
from routilux.distributed.redis_options import (amqp_connection, broker_ssl, broker_url, is_sentinel,
                                                sentinel_transport_options)
from routilux.distributed.serializer import SERIALIZER_NAME, register_serializer
from routilux.distributed.settings import Settings
from routilux.distributed.store import RedisStore
from routilux.distributed.worker.transport import DEAD_LETTERS_OPTION

# A prefork pool child may be killed at an activation's hard time limit (see limits.py).
worker_process_init.connect(mark_pool_child, weak=False)

_executors: dict[int, Executor] = {}
_executors_lock = threading.Lock()
_executors_pid: int | None = None


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery configuration for ``settings``."""
    config = {
        "broker_url": broker_url(settings),
        "broker_use_ssl": broker_ssl(settings),
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        **(_amqp_config(settings) if settings.broker_is_amqp else _redis_broker_config(settings)),
        "task_serializer": SERIALIZER_NAME,
        "result_serializer": SERIALIZER_NAME,
        "accept_content": [SERIALIZER_NAME],
        "result_accept_content": [SERIALIZER_NAME],
        "event_serializer": "json",
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_ignore_result": True,
        "result_backend": None,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": settings.queue,
        "task_create_missing_queues": True,
        "worker_consumer": "routilux.distributed.worker.consumer:Consumer",
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
    }
    return config


def _redis_broker_config(settings: Settings) -> dict[str, Any]:
    sentinel = is_sentinel(settings.broker_url or settings.redis_url)
    return {
        # kombu's Redis transport, except that a malformed frame on the queue cannot stop a worker.
        "broker_transport": f"routilux.distributed.worker.transport:{'SentinelTransport' if sentinel else 'Transport'}",
        "broker_transport_options": {
            "visibility_timeout": settings.visibility_timeout_s,
            "global_keyprefix": f"{settings.key_prefix}:broker:",
            DEAD_LETTERS_OPTION: Keys(settings.key_prefix, settings.key_buckets).dead(0),
            **(sentinel_transport_options(settings) if sentinel else {}),
        },
    }


def activation_queues(settings: Settings) -> list[Queue]:
    """The RabbitMQ queues of ``settings``, then their priority bands' queues (durable; quorum unless
    ``broker_queue_type`` is classic)."""
    arguments = {"x-queue-type": "quorum"} if settings.broker_queue_type == "quorum" else None
    names = band_queues((settings.queue, *settings.queues))
    return [Queue(name, Exchange(name, "direct", durable=True), routing_key=name, durable=True,
                  queue_arguments=arguments) for name in names]


def delete_amqp_queues(settings: Settings, names: Iterable[str]) -> None:
    """Delete queues and their exchanges on the RabbitMQ of ``settings`` (durable and quorum queues outlive their consumers).

    Each queue's priority bands' queues go too. Whatever waits in them is lost: drain
    them first. A queue keeps the type it was created with, so switching
    ``broker_queue_type`` means deleting it.
    """
    with amqp_connection(settings) as conn:
        for name in band_queues(list(names)):
            channel = conn.channel()
            try:
                channel.queue_delete(name)
                channel.exchange_delete(name)
            except conn.channel_errors:
                pass
            finally:
                channel.close()


def _amqp_config(settings: Settings) -> dict[str, Any]:
    return {
        # A publish returns once RabbitMQ has the message (quorum: on a majority of nodes).
        "broker_transport_options": {"confirm_publish": True},
        "task_queues": activation_queues(settings),
        "task_create_missing_queue_type": settings.broker_queue_type,
        "worker_detect_quorum_queues": True,
    }


def create_app(settings: Settings | None = None) -> Celery:
    """Return a Celery app that runs Routilux activations with ``settings`` (default: from the environment)."""
    settings = settings or Settings.from_env()
    register_serializer(settings.limits)
    app = Celery(f"routilux-{settings.key_prefix}", set_as_current=False)
    app.conf.update(celery_config(settings))
    app.routilux_settings = settings  # type: ignore[attr-defined]

    for name, task in ((TASK_NAME, activate), (BATCH_TASK_NAME, activate_batch)):
        app.task(name=name, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)(task)
    from routilux.distributed.worker.liveness import install_liveness

    install_liveness(app)
    return app


def activate(task: Any, *args: Any, **kwargs: Any) -> str:
    """The Celery task: run one activation envelope (anything else is dead-lettered)."""
    return executor_for(task.app).run(_one_argument(args, kwargs), _worker(task))


def activate_batch(task: Any, *args: Any, **kwargs: Any) -> str:
    """The Celery task: run a list of activation bodies one by one (anything else is dead-lettered)."""
    return executor_for(task.app).run_batch(_one_argument(args, kwargs), _worker(task))


def _one_argument(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A task's one positional argument; any other call shape as a map the executor refuses."""
    return args[0] if len(args) == 1 and not kwargs else {"args": list(args), "kwargs": kwargs}


def _worker(task: Any) -> str | None:
    # Thread and solo pools put the machine's host name in the request; the node name is on the app
    # (set by the liveness step). Prefork children, forked earlier, get the node name in the request.
    return getattr(task.app, "routilux_node", None) or getattr(task.request, "hostname", None)


def executor_for(app: Celery) -> Executor:
    """The Executor of this process for ``app`` (shared by its threads), made on first use after fork."""
    global _executors_pid
    with _executors_lock:
        if _executors_pid != os.getpid():
            _executors.clear()
            _executors_pid = os.getpid()
        executor = _executors.get(id(app))
        if executor is None:
            settings: Settings = app.routilux_settings  # type: ignore[attr-defined]
            store = RedisStore(settings)
            executor = Executor(store, Dispatcher(app, settings), lambda flow: StoreControl(store, flow))
            _executors[id(app)] = executor
        return executor
