"""Sending activations to the queue as Celery tasks."""

from __future__ import annotations

from typing import Any, Iterable

TASK_NAME = "routilux.activate"


class Dispatcher:
    """Publishes activation envelopes as ``routilux.activate`` tasks."""

    def __init__(self, app: Any, queue: str) -> None:
        self.app = app
        self.queue = queue

    def send(self, envelopes: Iterable[dict[str, Any]]) -> int:
        """Publish each envelope as one task; returns how many were sent."""
        sent = 0
        with self.app.producer_or_acquire() as producer:
            for envelope in envelopes:
                # A short argsrepr: Celery would otherwise build a repr of the whole payload per message.
                self.app.send_task(
                    TASK_NAME, args=[envelope], queue=self.queue, producer=producer, ignore_result=True,
                    argsrepr=f"[<activation {envelope.get('id')} of job {envelope.get('job')}>]", kwargsrepr="{}",
                )
                sent += 1
        return sent
