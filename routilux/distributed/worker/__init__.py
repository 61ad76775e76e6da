"""The worker side: the Celery app and what a worker daemon runs.

The Celery app (:mod:`.app`; producers send with it too), booting the daemon
(:mod:`.boot`), running one activation (:mod:`.executor`:
claim, step, commit, dispatch), renewing leases and enforcing time limits
(:mod:`.heartbeat`, :mod:`.limits`), the JobState a handler sees
(:mod:`.remote_state`, :mod:`.control`), sweeping what nobody runs
(:mod:`.sweeper`, :mod:`.liveness`), firing due schedule ticks
(:mod:`.scheduler`), and the hardened broker consumer and
transport (:mod:`.consumer`, :mod:`.transport`) that dead-letter what they
cannot use.
"""
