"""WaitForPost: a step that waits for outside data (a post) with a timeout, for flows and spec files."""

from __future__ import annotations

from typing import Any

from routilux.routine import Routine

DEFAULT_TIMEOUT_S = 3600.0


class WaitForPost(Routine):
    """Waits for a post to its slot (config ``slot``, default "post") for up to ``timeout_s`` seconds.

    Its ``trigger`` opens the wait; a post to the slot emits ``received`` with the
    posted data; if none comes in time, ``timed_out`` goes out with the trigger's
    data. Exactly one of the two, even when they race on different hosts.
    """

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self._wait)
        self.define_event("received")
        self.define_event("timed_out")
        self.set_config(slot="post", timeout_s=DEFAULT_TIMEOUT_S)

    def set_config(self, **kwargs: Any) -> None:
        """Set the configuration; a new ``slot`` name defines that slot."""
        super().set_config(**kwargs)
        name = self._config.get("slot")
        if name and name not in self._slots:
            self.define_slot(name, handler=self._received)

    def _wait(self, **data: Any) -> None:
        self.wait_for_post(self.get_config("slot"), float(self.get_config("timeout_s")), "timed_out", **data)

    def _received(self, **data: Any) -> None:
        self.emit("received", **data)
