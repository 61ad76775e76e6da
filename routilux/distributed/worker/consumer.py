"""A Celery consumer that sends undecodable and foreign messages to the dead-letter stream.

Celery's default logs such a message and drops it; ours also records it, body
included, in the dead-letter stream, then acknowledges it so it cannot loop.

It also leaves out Celery's native delayed delivery step: on RabbitMQ with quorum
queues it would declare 28 exchanges and queues for ETA tasks, and Routilux sends
none (its timers live in Redis).
"""

from __future__ import annotations

import logging
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer

from routilux.distributed.store import RedisStore

log = logging.getLogger("routilux.distributed")


class Consumer(CeleryConsumer):
    """Celery's consumer, with dead-lettering of messages it cannot use."""

    class Blueprint(CeleryConsumer.Blueprint):
        """Celery's consumer steps without native delayed delivery (no ETA tasks here)."""

        default_steps = [step for step in CeleryConsumer.Blueprint.default_steps if "delayed_delivery" not in step]

    def _dead_letter(self, message: Any, reason: str) -> None:
        try:
            # One store per consumer: a flood of bad messages must not open a connection pool each.
            store = getattr(self, "_routilux_store", None)
            if store is None:
                store = self._routilux_store = RedisStore(self.app.routilux_settings)
            body = message.body if isinstance(message.body, (bytes, bytearray)) else str(message.body).encode()
            store.dead_letter_message(reason, bytes(body), message.content_type or "")
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
