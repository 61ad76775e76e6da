"""The operations side: what an operator reads and steers through :class:`~routilux.distributed.DistributedRuntime`.

Each module holds one group of runtime methods or the reads behind them: a job's
events (:mod:`.events`), listings of flows, jobs and workers (:mod:`.listings`),
dead letters (:mod:`.dead_letters`), time travel and fork (:mod:`.history`,
:mod:`.fork`, :mod:`.time_travel`), counts for dashboards (:mod:`.stats`), the
JobState rebuilt from Redis (:mod:`.assemble`), and the store reads they share
(:mod:`.store`).
"""
