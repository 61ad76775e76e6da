"""Sending activations to the queue as Celery tasks.

A task's one argument is the activation's body exactly as stored in Redis
(signed, with signing keys): whoever sends it (the producer, the committing
worker, the sweeper) sends the same bytes, and only the producer of the body
signs it.
"""

from __future__ import annotations

from typing import Any, Iterable

TASK_NAME = "routilux.activate"


class Dispatcher:
    """Publishes activation bodies as ``routilux.activate`` tasks."""

    def __init__(self, app: Any, queue: str) -> None:
        self.app = app
        self.queue = queue

    def send(self, messages: Iterable[tuple[str, bytes]]) -> int:
        """Publish each ("job|activation", body) as one task; returns how many were sent."""
        sent = 0
        with self.app.producer_or_acquire() as producer:
            for label, body in messages:
                # A short argsrepr: Celery would otherwise build a repr of the whole body per message.
                self.app.send_task(
                    TASK_NAME, args=[body], queue=self.queue, producer=producer, ignore_result=True,
                    argsrepr=f"[<activation {label}>]", kwargsrepr="{}",
                )
                sent += 1
        return sent
