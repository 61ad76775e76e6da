"""A producer process for the idempotent-submit race: ``python -m submit_race KEY START_AT``.

It reads its settings from the ``ROUTILUX_*`` environment, sleeps until the wall-clock
time ``START_AT`` (so every racer submits at the same instant), submits the published
``chain`` flow with idempotency key ``KEY`` and prints the job id it got.
"""

from __future__ import annotations

import sys
import time

from routilux.distributed import DistributedRuntime, Settings


def main() -> None:
    key, start_at = sys.argv[1], float(sys.argv[2])
    with DistributedRuntime(settings=Settings.from_env()) as runtime:
        runtime.store.ping()  # connect before the start, so the race is on the script, not on connecting
        time.sleep(max(0.0, start_at - time.time()))
        print(runtime.submit("chain", "source", {"n": 1}, idempotency_key=key), flush=True)


if __name__ == "__main__":
    main()
