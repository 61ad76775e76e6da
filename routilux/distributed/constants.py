"""Fixed numbers of the distributed engine's worker and operations sides, each with why it is what it is.

Tunables an operator may change are in :class:`~routilux.distributed.settings.Settings`;
these are not meant to be tuned.
"""

from __future__ import annotations

# -- dead letters ------------------------------------------------------------
# (Each stream's cap, DEAD_LETTERS_MAXLEN, is in protocol/constants.py: the scripts share it.)
# A dead letter's reason is cut to this many characters: an exception text can be huge (a whole frame).
DEAD_LETTER_REASON_CHARS = 1000
# A message that is not a list of activation bodies is kept as this many bytes of its repr, for a look.
DEAD_LETTER_RAW_BYTES = 10_000

# -- running an activation ---------------------------------------------------
# An activation this host cannot run (a missing class) is handed back due after at most this
# (or the lease, if shorter), so another worker gets it soon without this one spinning on it.
UNRUNNABLE_BOUNCE_S = 1.0
# A commit that meets a Redis outage is retried after this, doubling up to COMMIT_RETRY_MAX_S.
COMMIT_RETRY_FIRST_S = 0.05
COMMIT_RETRY_MAX_S = 2.0
# An early retry is sent this long after its Redis timer is due, so the script finds it due.
EARLY_RETRY_SLACK_S = 0.005

# -- liveness and running records ----------------------------------------------
# A worker renews its liveness record LIVENESS_RENEWALS_PER_LEASE times per lease, but not
# more often than LIVENESS_MIN_S nor less often than LIVENESS_MAX_S.
LIVENESS_RENEWALS_PER_LEASE = 3
LIVENESS_MIN_S = 0.5
LIVENESS_MAX_S = 5.0
# A liveness or running record expires after this many renewal intervals: two missed renewals are
# forgiven (a GC pause, a slow Redis), the third means the worker is gone.
RECORD_TTL_INTERVALS = 3
# ... and a running record lives at least this long, however often the heartbeat reports.
RUNNING_RECORD_MIN_TTL_S = 2.0

# -- waiting for a job ----------------------------------------------------------
# DistributedRuntime.wait() blocks on the job's settled marker at most this long between status reads.
WAIT_POLL_S = 1.0
# While Redis is unreachable, wait() tries again after this.
WAIT_OUTAGE_PAUSE_S = 0.5

# -- schedules --------------------------------------------------------------------
# One worker fires due schedule ticks at a time, under a lock this long: a worker killed while firing
# holds it up this long at most, then another fires the same ticks (each tick makes one job anyway).
SCHEDULE_LOCK_MS = 5000
# A worker that finds the firing lock taken looks again this much later (the holder is firing now).
SCHEDULE_LOCK_RETRY_S = 0.05
# At most this many ticks of one schedule are handled per pass (catch_up="all" after a long outage
# goes on in the next pass, at once), so one schedule cannot hold the lock for long.
SCHEDULE_TICKS_PER_PASS = 200
