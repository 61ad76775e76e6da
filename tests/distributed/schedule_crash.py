"""Imported by a worker (``--import schedule_crash``): it SIGKILLs its own process group right after
the first schedule tick's job exists and before the schedule is moved on, the worst moment to die."""

from __future__ import annotations

import os
import signal

from routilux.distributed import hooks


class DieMidTick(hooks.ExecutorHooks):
    """Kill this worker (main process and pool) the moment a tick's job exists."""

    def after_tick_job(self, schedule_id: str, tick_ms: int, job_id: str) -> None:
        os.killpg(os.getpgid(0), signal.SIGKILL)


hooks.install(DieMidTick())
