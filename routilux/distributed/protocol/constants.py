"""Numbers of the Redis protocol, each named once; the Lua scripts get them as constants of their prelude."""

from __future__ import annotations

# Each bucket's dead-letter stream keeps about this many entries (XADD MAXLEN ~): old ones go first.
DEAD_LETTERS_MAXLEN = 100_000
# Each bucket's status-change stream keeps about this many entries (a job's own log keeps all of its own).
EVENTS_MAXLEN = 10_000
# An activation no worker can run goes to the dead-letter stream after this many times max attempts of
# hand-backs in all (a single worker lacking its class gives up then, not only max attempts distinct workers).
BOUNCES_PER_ATTEMPT = 4
# Members the sweeper takes from each index (due, leases, deadlines, expiries) of each bucket per round.
SWEEP_BATCH = 200
# Jobs read per pipeline when walking every job (listings, the unfinished bodies of every job).
JOB_BATCH = 500
# Keys asked for per SCAN call when walking worker records.
SCAN_COUNT = 100
# The sweeper lock lives this share of the sweep interval: a sweeper that died frees it before the next round.
SWEEPER_LOCK_SHARE = 0.5
# The sweeper lock never lives less than this (ms), whatever the interval.
SWEEPER_LOCK_MIN_MS = 10
# The store's connections: give up connecting (and, in redis-py, a read) after this many seconds ...
CONNECT_TIMEOUT_S = 5
# ... and check an idle pooled connection before reusing it when it has been idle this long (s).
HEALTH_CHECK_S = 15

# Each schedule keeps this many of its latest tick records (lua/advance_schedule.lua trims its list to them).
TICK_RECORDS_KEPT = 100
# A rate waiter this close (ms) to its start is held by the worker that has it (a short sleep, then admit
# again) instead of parked; a parked one is sent this long (RATE_LEAD_MS) before its start, to be held.
RATE_HOLD_MS = 60
RATE_LEAD_MS = 25

# Constants the scripts use, by their Lua name.
LUA_CONSTANTS = {
    "DEAD_LETTERS_MAXLEN": DEAD_LETTERS_MAXLEN,
    "EVENTS_MAXLEN": EVENTS_MAXLEN,
    "BOUNCES_PER_ATTEMPT": BOUNCES_PER_ATTEMPT,
    "TICK_RECORDS_KEPT": TICK_RECORDS_KEPT,
    "RATE_HOLD_MS": RATE_HOLD_MS,
}

# A worker's run/failed counts outlive its last report this long (then a new worker of that name starts at 0).
WORKER_COUNTS_TTL_MS = 7 * 86400 * 1000

# The stream-node-max-bytes we advise for Redis (its default is 4096). Every job's history is a stream, and
# Redis 7 gives each new stream node that many bytes (at most 4096) before it holds anything: a history of
# a few entries (a job waiting at its start) takes about 2 KB less at 2048; longer ones take about as much,
# up to about 15% more for some (more nodes). See bench/waiting_jobs.py.
ADVISED_STREAM_NODE_MAX_BYTES = 2048
