"""Marks dispatched outbox entries in the background, in batches.

After a commit, the children are sent at once, and queued here message by
message as they go out; moving their outbox entries to the queue backstop can
wait a moment and share a round trip with other marks.
If this process dies before a flush, nothing is lost: the sweeper re-sends the
unmarked entries after the outbox grace, and the claim drops the duplicates.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from routilux.distributed.store import RedisStore

log = logging.getLogger("routilux.distributed")


class DispatchMarks:
    """Collects (job, outbox score, ids) and flushes them every ``interval_s``."""

    def __init__(self, store: RedisStore, interval_s: float = 0.05) -> None:
        self.store = store
        self.interval_s = interval_s
        self._pending: list[tuple[str, str, list[str]]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, job_id: str, outbox_score: str, act_ids: list[str]) -> None:
        """Queue a mark; it reaches Redis within about ``interval_s``."""
        if not act_ids:
            return
        with self._lock:
            self._pending.append((job_id, outbox_score, act_ids))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="routilux-marker", daemon=True)
                self._thread.start()

    def flush(self) -> None:
        """Send every queued mark now, in one pipeline (one script call per commit's children)."""
        with self._lock:
            batch, self._pending = self._pending, []
        merged: dict[tuple[str, str], list[str]] = {}
        for job_id, outbox_score, act_ids in batch:  # a fan-out is queued message by message
            merged.setdefault((job_id, outbox_score), []).extend(act_ids)
        if merged:
            self.store.mark_many([(job, score, ids) for (job, score), ids in merged.items()])

    def _serve(self) -> None:
        while not self._wake.wait(self.interval_s):
            try:
                self.flush()
            except Exception:  # the sweeper covers unmarked entries
                log.warning("could not mark dispatched activations", exc_info=True)
