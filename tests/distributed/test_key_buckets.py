"""Jobs spread over key buckets: four buckets on one Redis, and a real three-master Redis Cluster.

Every script touches one job and its bucket's indexes, all in one hash slot;
sweepers, listings, dead letters and status events walk every bucket.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from collections import Counter
from typing import Any, Iterator

import pytest
from redis.cluster import RedisCluster
from redis.crc import key_slot

import basic_flows
from conftest import HERE, ROOT, both_brokers, settings_env
from waiting import wait_until, workers_up
from routilux.distributed import DistributedRuntime, Settings
from routilux.distributed.protocol.keys import Keys, slot_field
from routilux.distributed.redis_options import parse_cluster_url
from routilux.errors import KeyLayoutError, StoreUnavailableError

pytestmark = pytest.mark.distributed


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from redis_cluster_group import RedisClusterGroup

    group = RedisClusterGroup(tmp_path_factory.mktemp("redis-cluster"))
    yield group
    group.close()


@pytest.fixture
def cluster_settings(settings: Settings, redis_cluster: Any) -> Settings:
    """This test's settings with the state on the Redis Cluster; the broker stays (the test's Redis or RabbitMQ)."""
    return settings.with_(redis_url=redis_cluster.url, broker_url=settings.broker_url or settings.redis_url)


@pytest.fixture(params=["4 buckets on one redis", "redis cluster"])
def spread(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Settings whose jobs spread over several key buckets."""
    if request.param == "redis cluster":
        return request.getfixturevalue("cluster_settings")
    return settings.with_(key_buckets=4)


@pytest.fixture
def spread_runtime(spread: Settings) -> Iterator[DistributedRuntime]:
    with DistributedRuntime(settings=spread) as runtime:
        yield runtime


def bucket_of_each(runtime: DistributedRuntime, job_ids: list[str]) -> set[int]:
    return {runtime.store.keys.bucket_of(j) for j in job_ids}


# -- the layout --------------------------------------------------------------------
def test_a_cluster_url_names_some_nodes_and_the_credentials():
    parsed = parse_cluster_url("redis+cluster://app:s%3Acret@h1:7000,h2:7001,h3")
    assert parsed.nodes == (("h1", 7000), ("h2", 7001), ("h3", 6379))
    assert (parsed.username, parsed.password, parsed.tls) == ("app", "s:cret", False)
    assert parse_cluster_url("rediss+cluster://h1:7000").tls
    with pytest.raises(ValueError, match="no cluster nodes"):
        parse_cluster_url("redis+cluster:///")


def test_a_redis_cluster_store_needs_a_broker_of_its_own_and_gets_sixteen_buckets():
    with pytest.raises(ValueError, match="cannot be Celery's broker"):
        Settings(redis_url="redis+cluster://h1:7000")
    settings = Settings(redis_url="redis+cluster://h1:7000", broker_url="amqp://guest:guest@h2:5672//")
    assert settings.key_buckets == 16
    assert Settings().key_buckets == 1
    assert Settings(key_buckets=8).key_buckets == 8
    with pytest.raises(ValueError, match="key_buckets"):
        Settings(key_buckets=-1)


def test_every_key_one_script_touches_is_in_one_hash_slot():
    keys = Keys("app", 16)
    for n in range(300):
        job_id = f"job-{n}"
        script_keys = keys.script_keys(job_id, slot_field("total", "input"))
        assert len({key_slot(k.encode()) for k in script_keys}) == 1, script_keys
        assert keys.bucket_of(job_id) == zlib.crc32(job_id.encode()) % 16
    flows = [keys.flow("h"), keys.flow_latest("f"), keys.flow_versions("f")]
    workers = [keys.worker("w"), keys.workers_known, keys.running("w", 1)]
    for group in (flows, workers):
        assert len({key_slot(k.encode()) for k in group}) == 1
    assert len({keys.bucket_of(f"job-{n}") for n in range(300)}) == 16


def test_the_buckets_spread_over_every_master_of_the_cluster(redis_cluster):
    client = RedisCluster.from_url(f"redis://127.0.0.1:{redis_cluster.ports[0]}")
    try:
        keys = Keys("routilux", 16)
        nodes = {client.get_node_from_key(keys.jobs(b)).port for b in keys.all_buckets}
        assert nodes == set(redis_cluster.ports)
    finally:
        client.close()


def test_the_sweeper_watches_the_run_id_of_every_master(cluster_settings, redis_cluster):
    with DistributedRuntime(settings=cluster_settings) as runtime:
        current, _ = runtime.store.redis_run()
    assert current is not None and len(current.split(",")) == len(redis_cluster.ports)


def test_queue_depth_reads_the_redis_broker_not_the_cluster(cluster_settings):
    from routilux.distributed.operations import stats

    with DistributedRuntime(settings=cluster_settings) as runtime:
        assert stats.queue_depth(runtime.store) == 0
        for n in range(3):  # no worker: the three root activations wait in the broker's queue
            runtime.submit(basic_flows.chain_flow(), "source", {"n": n})
        assert wait_until(lambda: stats.queue_depth(runtime.store) == 3, timeout=10)


# -- running jobs --------------------------------------------------------------------
def test_jobs_complete_with_their_keys_spread_over_the_buckets(spread, spread_runtime, start_workers, request):
    start_workers(settings_=spread, concurrency=4)
    # 40 jobs: the master with the fewest buckets (4 of 16) gets none with a chance of (12/16)^40, 1 in 100,000
    # (with 16 jobs it was 1 in 100, and a run saw it).
    jobs = [spread_runtime.submit(basic_flows.chain_flow(), "source", {"n": 3}) for _ in range(40)]
    for job_id in jobs:
        state = spread_runtime.wait(job_id, timeout=60)
        assert state.status == "completed", state.error
        assert sorted(e["got"]["i"] for e in state.shared_log) == [0, 4, 8]
    assert len(bucket_of_each(spread_runtime, jobs)) > 1
    if "cluster" in request.node.callspec.id:
        cluster = request.getfixturevalue("redis_cluster")
        per_node = cluster.keys_by_node(f"{spread.key_prefix}:job:*")
        assert all(per_node.values()), {port: len(k) for port, k in per_node.items()}


def test_a_fan_in_joins_exactly_once_in_every_bucket(spread, spread_runtime, start_workers):
    start_workers(settings_=spread, concurrency=4)
    jobs = [spread_runtime.submit(basic_flows.fan_in_flow(expected=8), "source", {"n": 8}) for _ in range(8)]
    assert len(bucket_of_each(spread_runtime, jobs)) > 1
    for job_id in jobs:
        state = spread_runtime.wait(job_id, timeout=60)
        assert state.status == "completed", state.error
        assert state.shared_data["fired"] == 1
        assert state.shared_data["total"] == sum(2 * k for k in range(8))
        assert len(state.output_log) == 1


def test_listings_walk_every_bucket_newest_first(spread, spread_runtime):
    jobs = [spread_runtime.submit(basic_flows.chain_flow(), "source", {"n": 1}) for _ in range(12)]
    assert len(bucket_of_each(spread_runtime, jobs)) > 1
    assert {row["job_id"] for row in spread_runtime.jobs()} >= set(jobs)
    seen, cursor = [], None
    while True:
        page = spread_runtime.job_page(limit=5, cursor=cursor)
        seen += [row["job_id"] for row in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(jobs)  # each once
    keys = spread_runtime.store.keys
    created = [spread_runtime.store.redis.zscore(keys.jobs(keys.bucket_of(j)), j) for j in seen]
    assert created == sorted(created, reverse=True)


def dead_letter_in(runtime: DistributedRuntime, settings: Settings) -> tuple[str, str]:
    """A chain job whose root activation went to the dead-letter stream (its workers kept dying)."""
    job_id = runtime.submit(basic_flows.chain_flow(n_double=1), "source", {"n": 2})
    act_id = next(iter(runtime.store.redis.hkeys(runtime.store.keys.job(job_id, "acts")))).decode()
    leases = runtime.store.keys.leases(runtime.store.keys.bucket_of(job_id))
    for _ in range(settings.max_attempts):
        runtime.store.claim(job_id, act_id, "")
        runtime.store.redis.zadd(leases, {f"{job_id}|{act_id}": 0})
    assert runtime.store.claim(job_id, act_id, "").outcome == "dead"
    return job_id, act_id


def test_dead_letters_of_every_bucket_are_listed_shown_replayed_and_discarded(spread, spread_runtime, start_workers):
    letters = [dead_letter_in(spread_runtime, spread) for _ in range(6)]
    assert len(bucket_of_each(spread_runtime, [j for j, _ in letters])) > 1
    rows = spread_runtime.dead_letters()
    assert {(r["job"], r["activation"]) for r in rows} == set(letters)
    by_job = {r["job"]: r["id"] for r in rows}
    first, second = letters[0][0], letters[1][0]
    assert spread_runtime.dead_letter(by_job[first])["job"] == first
    start_workers(settings_=spread)
    assert spread_runtime.replay_dead_letter(by_job[first]) == first
    state = spread_runtime.wait(first, timeout=30)
    assert state.status == "completed", state.error
    spread_runtime.discard_dead_letter(by_job[second])
    left = {r["job"] for r in spread_runtime.dead_letters()}
    assert left == {j for j, _ in letters[2:]}


def test_status_events_of_every_bucket_arrive_and_resume_after_an_event_id(spread, spread_runtime, start_workers):
    start_workers(settings_=spread, concurrency=4)
    events = spread_runtime.all_events(block_s=0.5)  # from now
    jobs = [spread_runtime.submit(basic_flows.chain_flow(), "source", {"n": 1}) for _ in range(8)]
    assert len(bucket_of_each(spread_runtime, jobs)) > 1
    for job_id in jobs:
        spread_runtime.wait(job_id, timeout=60)
    seen: list[Any] = []
    for event in events:
        seen.append(event)
        if Counter(e.status for e in seen if e.job_id in jobs)["completed"] == len(jobs):
            break
    assert {(e.job_id, e.status) for e in seen} >= {(j, s) for j in jobs for s in ("running", "completed")}
    # Resuming after the first event gives every later one, in every bucket, and not the first again.
    later = []
    for event in spread_runtime.all_events(cursor=seen[0].id, block_s=0.5):
        later.append(event)
        if len(later) == len(seen) - 1:
            break
    assert [(e.job_id, e.status) for e in later] == [(e.job_id, e.status) for e in seen[1:]]
    with pytest.raises(ValueError, match="not a status event id"):
        next(spread_runtime.all_events(cursor="yesterday"))


@pytest.mark.timeout(120)
def test_a_cluster_that_lost_a_master_is_a_typed_store_outage_not_a_crash(settings, tmp_path):
    from redis_cluster_group import RedisClusterGroup

    group = RedisClusterGroup(tmp_path / "doomed-cluster")
    try:
        doomed = settings.with_(redis_url=group.url, broker_url=settings.redis_url)
        with DistributedRuntime(settings=doomed) as runtime:
            jobs = [runtime.submit(basic_flows.chain_flow(), "source", {"n": 1}) for _ in range(8)]
            assert {runtime.store.status(j) for j in jobs} == {"running"}
            # One job per master is enough to read every shard; each failing read retries for seconds.
            keys = runtime.store.keys
            by_master = {runtime.store.redis.get_node_from_key(keys.jobs(keys.bucket_of(j))).port: j for j in jobs}
            jobs = list(by_master.values())
            assert len(jobs) >= 2
            group.kill(group.ports[-1])

            def every_read_is_an_outage() -> bool:
                for job_id in jobs:
                    try:
                        runtime.store.status(job_id)
                        return False  # this job's master still answers: the cluster is not down yet
                    except StoreUnavailableError:
                        pass
                return True

            wait_until(every_read_is_an_outage, timeout=30)
            with pytest.raises(StoreUnavailableError):
                runtime.submit(basic_flows.chain_flow(), "source", {"n": 1})
    finally:
        group.close()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_jobs_complete_after_a_cluster_master_is_killed_and_its_replica_takes_over(settings, tmp_path, spawn_worker):
    from redis_cluster_group import RedisClusterGroup

    group = RedisClusterGroup(tmp_path / "failover-cluster", masters=3, replicas=1)
    try:
        replicated = settings.with_(redis_url=group.url, broker_url=settings.redis_url, commit_wait_replicas=1,
                                    lease_s=3.0)
        with DistributedRuntime(settings=replicated) as runtime:
            spawn_worker(pool="prefork", concurrency=2, settings_=replicated)
            wait_until(lambda: workers_up(runtime, 1), timeout=60)
            jobs = [runtime.submit(basic_flows.slow_flow(sleep_s=0.3), "source", {"n": 4}) for _ in range(6)]
            wait_until(lambda: sum(len(runtime.get_job(j).shared_log) for j in jobs) >= 2, timeout=60)
            # Kill the master holding the first unfinished job's bucket, while its work runs.
            keys = runtime.store.keys
            victim = next(j for j in jobs if runtime.store.status(j) == "running")
            port = runtime.store.redis.get_node_from_key(keys.jobs(keys.bucket_of(victim))).port
            group.kill(port)
            wait_until(lambda: port not in group.masters() and len(group.masters()) == 3, timeout=30)
            for job_id in jobs:
                state = runtime.wait(job_id, timeout=120)
                assert state.status == "completed", state.error
                assert sorted(e["got"]["i"] for e in state.shared_log) == list(range(4))
                assert Counter((r.routine_id, r.event_name) for r in state.execution_history)[("slow", "out")] == 4
    finally:
        group.close()


@pytest.mark.slow
@pytest.mark.timeout(180)
@both_brokers
def test_a_killed_workers_activation_runs_again_on_the_cluster_and_applies_once(cluster_settings, spawn_worker):
    strict = cluster_settings.with_(redispatch_s=600.0)
    with DistributedRuntime(settings=strict) as runtime:
        doomed = spawn_worker(pool="prefork", concurrency=2, settings_=strict)
        wait_until(lambda: workers_up(runtime, 1), timeout=60)
        jobs = [runtime.submit(basic_flows.slow_flow(sleep_s=0.5), "source", {"n": 4}) for _ in range(4)]
        leased = lambda: sum(runtime.store.redis.zcard(runtime.store.keys.leases(b))  # noqa: E731
                             for b in runtime.store.keys.all_buckets)
        wait_until(lambda: leased() > 0, timeout=60)
        doomed.kill()
        spawn_worker(pool="prefork", concurrency=2, settings_=strict)
        for job_id in jobs:
            state = runtime.wait(job_id, timeout=120)
            assert state.status == "completed", state.error
            assert sorted(e["got"]["i"] for e in state.shared_log) == list(range(4))
            assert Counter((r.routine_id, r.event_name) for r in state.execution_history)[("slow", "out")] == 4


# -- one layout per deployment -------------------------------------------------------
def test_a_producer_set_to_another_bucket_count_is_refused_before_it_writes_a_job(settings, runtime):
    first = runtime.submit(basic_flows.chain_flow(), "source", {"n": 1})  # lays the data out in 1 bucket
    with DistributedRuntime(settings=settings.with_(key_buckets=4)) as other:
        with pytest.raises(KeyLayoutError, match="ROUTILUX_KEY_BUCKETS=1"):
            other.submit(basic_flows.chain_flow(), "source", {"n": 1})
    assert [j["job_id"] for j in runtime.jobs()] == [first]


def test_a_worker_set_to_another_bucket_count_exits_at_once_with_the_reason(settings, runtime, tmp_path):
    runtime.submit(basic_flows.chain_flow(), "source", {"n": 1})
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTILUX_")}
    env.update(settings_env(settings.with_(key_buckets=4)))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE)])
    done = subprocess.run([sys.executable, "-m", "worker", "--import", "basic_flows", "--pool", "solo"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "laid out in 1 key buckets but this process uses 4" in done.stderr


# -- idempotent submits and schedules ---------------------------------------------------
def test_an_idempotency_key_is_in_the_hash_slot_of_the_job_made_for_it():
    from routilux.distributed.store import RedisStore

    keys = Keys("app", 16)
    store = RedisStore.__new__(RedisStore)
    store.keys = keys
    for n in range(100):
        key = f"order-{n}"
        job_id = store.job_id_for_key(key)
        assert {key_slot(k.encode()) for k in [*keys.script_keys(job_id), keys.idempotency(key)]} == \
            {key_slot(keys.idempotency(key).encode())}


def test_an_idempotent_submit_makes_one_job_per_key_in_every_bucket(spread, spread_runtime, start_workers):
    start_workers(settings_=spread)
    flow = basic_flows.chain_flow()
    first = [spread_runtime.submit(flow, "source", {"n": 1}, idempotency_key=f"k{n}") for n in range(12)]
    again = [spread_runtime.submit(flow, "source", {"n": 1}, idempotency_key=f"k{n}") for n in range(12)]
    assert again == first and len(set(first)) == 12 and len(bucket_of_each(spread_runtime, first)) > 1
    spread_runtime.wait(first[0], timeout=30)
    spread_runtime.delete_job(first[0])
    assert spread_runtime.submit(flow, "source", {"n": 1}, idempotency_key="k0") != first[0]


def test_a_schedule_fires_one_job_per_tick_with_its_jobs_in_several_buckets(spread, spread_runtime, start_workers):
    start_workers(settings_=spread)
    spread_runtime.schedule("spread", basic_flows.chain_flow(), "source", {"n": 1}, every_s=1, overlap="allow",
                            catch_up="all")
    wait_until(lambda: spread_runtime.get_schedule("spread")["fired"] >= 4, timeout=30)
    spread_runtime.pause_schedule("spread")
    jobs = [t["job_id"] for t in spread_runtime.get_schedule("spread")["ticks"] if t["decision"] == "fired"]
    assert len(set(jobs)) == len(jobs) >= 4
    assert all(spread_runtime.wait(j, timeout=30).status == "completed" for j in jobs)
