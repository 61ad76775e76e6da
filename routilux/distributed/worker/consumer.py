"""A Celery consumer that sends every message it cannot turn into work to the dead-letter stream.

Celery's default logs an undecodable or foreign message and drops it; ours also
records it, body included, in the dead-letter stream, then acknowledges it so it
cannot loop. A message whose Celery headers Celery cannot use (see
:func:`task_problem`), or on which Celery's handler raises anything but a broker
error, is dead-lettered and acknowledged the same way: left unacknowledged, it
would hold a prefetch slot until the worker stops, and come back after.

It also leaves out Celery's native delayed delivery step: on RabbitMQ with quorum
queues it would declare 28 exchanges and queues for ETA tasks, and Routilux sends
none (its timers live in Redis).
"""

from __future__ import annotations

import logging
from typing import Any

from celery.worker import state as worker_state
from celery.worker.consumer import Consumer as CeleryConsumer
from vine import promise

from routilux.distributed.frames import MAX_FRAME_BYTES, safe_text, task_problem
from routilux.distributed.store import RedisStore

log = logging.getLogger("routilux.distributed")


class Consumer(CeleryConsumer):
    """Celery's consumer, with dead-lettering of messages it cannot use."""

    class Blueprint(CeleryConsumer.Blueprint):
        """Celery's consumer steps without native delayed delivery (no ETA tasks here)."""

        default_steps = [step for step in CeleryConsumer.Blueprint.default_steps if "delayed_delivery" not in step]

    def create_task_handler(self, promise: Any = promise) -> Any:
        """Celery's message handler, refusing what it cannot use instead of raising or holding it."""
        on_task_received = super().create_task_handler(promise)
        broker_errors = tuple(e for e in (*self.connection_errors, *self.channel_errors) if e is not KeyError)

        def on_message(message: Any) -> None:
            problem = task_problem(message.headers)
            if problem is None:
                try:
                    return on_task_received(message)
                except broker_errors:
                    raise
                except Exception as exc:  # noqa: BLE001 - anything else is this message's fault
                    problem = f"{type(exc).__name__}: {exc}"
            self._refuse(message, f"invalid task message: {problem}")

        return on_message

    def _refuse(self, message: Any, reason: str) -> None:
        """Dead-letter ``message``, forget any request Celery made of it, and acknowledge it."""
        log.error("dead-lettering a message: %s", reason)
        self._dead_letter(message, reason)
        headers = message.headers if isinstance(message.headers, dict) else {}
        request = worker_state.requests.get(headers.get("id")) if isinstance(headers.get("id"), str) else None
        if request is not None and request.message is message:
            worker_state.task_ready(request)
        if not message.acknowledged:
            message.ack()

    def _dead_letter(self, message: Any, reason: str) -> None:
        try:
            # One store per consumer: a flood of bad messages must not open a connection pool each.
            store = getattr(self, "_routilux_store", None)
            if store is None:
                store = self._routilux_store = RedisStore(self.app.routilux_settings)
            content_type = safe_text(message.content_type, 200) if isinstance(message.content_type, str) else ""
            store.dead_letter_message(safe_text(reason), _raw_body(message), content_type)
        except Exception:  # the broker may be the thing that is broken
            log.exception("could not dead-letter a message: %s", reason)

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        """Dead-letter a message whose body cannot be decoded (or whose content type is refused)."""
        self._dead_letter(message, f"undecodable message ({message.content_type}): {exc}")
        super().on_decode_error(message, exc)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        """Dead-letter a message that is not a Celery task at all."""
        self._dead_letter(message, "foreign message: not a Celery task")
        message.ack()

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        """Dead-letter a task this worker does not know."""
        self._dead_letter(message, f"unknown task: {exc}")
        message.ack()

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        """Dead-letter a malformed task message."""
        self._dead_letter(message, f"invalid task message: {exc}")
        message.ack()


def _raw_body(message: Any) -> bytes:
    """The message's body as received (cut to :data:`MAX_FRAME_BYTES`)."""
    body = message.body
    if not isinstance(body, (bytes, bytearray)):
        body = safe_text(str(body), MAX_FRAME_BYTES).encode()
    return bytes(body[:MAX_FRAME_BYTES])
