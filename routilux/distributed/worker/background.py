"""A worker's background loop: one daemon thread that serves until it is stopped (the sweeper, the scheduler)."""

from __future__ import annotations

import threading


class BackgroundLoop:
    """Runs :meth:`_serve` on a named daemon thread; :meth:`_serve` waits on ``self._stop`` between rounds."""

    thread_name = "routilux-background"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the loop in the background."""
        self._thread = threading.Thread(target=self._serve, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop (the round in progress is finished first, for at most 5 s)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _serve(self) -> None:
        raise NotImplementedError
