"""Renews the leases of the activations this process is running."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from routilux.distributed.store import RedisStore

log = logging.getLogger("routilux.distributed")


class Heartbeat:
    """A daemon thread that renews every tracked lease each ``interval_s``."""

    def __init__(self, store: RedisStore, interval_s: float) -> None:
        self.store = store
        self.interval_s = interval_s
        self._running: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def track(self, job_id: str, act_id: str, token: str) -> None:
        """Start renewing a lease."""
        with self._lock:
            self._running[(job_id, act_id)] = token
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="routilux-heartbeat", daemon=True)
                self._thread.start()

    def untrack(self, job_id: str, act_id: str) -> None:
        """Stop renewing a lease."""
        with self._lock:
            self._running.pop((job_id, act_id), None)

    def _serve(self) -> None:
        while not self._wake.wait(self.interval_s):
            with self._lock:
                items = list(self._running.items())
            for (job_id, act_id), token in items:
                try:
                    if not self.store.renew(job_id, act_id, token):
                        log.warning("lease of %s/%s was lost; its commit will be refused", job_id, act_id)
                        self.untrack(job_id, act_id)
                except Exception:  # keep beating for the others; the sweeper covers this one
                    log.exception("could not renew the lease of %s/%s", job_id, act_id)
