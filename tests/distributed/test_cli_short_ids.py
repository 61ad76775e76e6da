"""What a new user meets at the command line: the short ids it prints work as input, listings are newest
first, and mistakes get the subcommand's own usage and the right exit code."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cli_flows
import basic_flows
from routilux.errors import AmbiguousIdError, FlowNotPublishedError, JobNotFoundError
from test_cli import clean_env, settings_env

pytestmark = pytest.mark.distributed

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def routilux(settings):
    """Run ``routilux ARGS`` as a subprocess; ``path`` replaces PATH (to hide a program)."""

    def run(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
        env = clean_env(**settings_env(settings))
        if path is not None:
            env["PATH"] = path
        return subprocess.run([sys.executable, "-m", "routilux.cli", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)

    return run


def two_jobs_sharing_a_first_character(runtime) -> tuple[str, str]:
    """Submit jobs (no worker runs them) until two ids start alike; at most 17 by pigeonhole."""
    seen: dict[str, str] = {}
    while True:
        job_id = runtime.submit(cli_flows.make_flow(), "start", {})
        if job_id[0] in seen:
            return seen[job_id[0]], job_id
        seen[job_id[0]] = job_id


def test_the_runtime_resolves_a_unique_prefix_and_lists_the_candidates_of_an_ambiguous_one(runtime):
    first, second = two_jobs_sharing_a_first_character(runtime)
    assert runtime.resolve_job_id(first[:8]) == first
    assert runtime.resolve_job_id(first) == first
    with pytest.raises(AmbiguousIdError) as ambiguous:
        runtime.resolve_job_id(first[0])
    assert first in str(ambiguous.value) and second in str(ambiguous.value)
    assert {first, second} <= set(ambiguous.value.candidates)
    with pytest.raises(JobNotFoundError):
        runtime.resolve_job_id("zzzz")
    with pytest.raises(JobNotFoundError):
        runtime.resolve_job_id("")


def test_status_watch_events_and_cancel_take_the_eight_character_ids_the_cli_prints(runtime, routilux):
    job_id = runtime.submit(cli_flows.make_flow(), "start", {})
    short = job_id[:8]
    status = routilux("status", short)
    assert status.returncode == 0, status.stderr
    assert f"job:      {job_id}" in status.stdout
    events = routilux("events", short)
    assert events.returncode == 0 and "start" in events.stdout, events.stderr
    cancel = routilux("cancel", short)
    assert (cancel.returncode, cancel.stdout.strip()) == (0, f"job {job_id} cancelled"), cancel.stderr
    watch = routilux("watch", short, "--plain")
    assert watch.returncode == 1 and f"job {job_id} cancelled" in watch.stdout, watch.stderr


def test_an_ambiguous_prefix_is_refused_with_the_candidates(runtime, routilux):
    first, second = two_jobs_sharing_a_first_character(runtime)
    result = routilux("status", first[0])
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("routilux: error: ") and "Traceback" not in result.stderr
    assert first in result.stderr and second in result.stderr and "give more characters" in result.stderr


def test_graph_takes_the_sixteen_character_hash_that_flows_prints(runtime, routilux):
    digest = runtime.publish(basic_flows.chain_flow("short-hash"))
    listed = routilux("flows")
    assert digest[:16] in listed.stdout
    graph = routilux("graph", digest[:16])
    assert graph.returncode == 0, graph.stderr
    assert "short-hash" in graph.stdout
    assert runtime.flow_info(digest[:16])["hash"] == digest
    with pytest.raises(FlowNotPublishedError):
        runtime.flow_info("0000" if not digest.startswith("0000") else "ffff")


def test_jobs_lists_the_newest_first_and_limit_keeps_the_newest(runtime, routilux):
    ids = [runtime.submit(cli_flows.make_flow(), "start", {}) for _ in range(3)]
    rows = [line.split()[0] for line in routilux("jobs").stdout.splitlines()[1:]]
    assert rows == ids[::-1]
    limited = [line.split()[0] for line in routilux("jobs", "--limit", "2").stdout.splitlines()[1:]]
    assert limited == ids[::-1][:2]


def test_a_misspelled_status_is_refused_with_the_valid_ones(routilux):
    result = routilux("jobs", "--status", "faild")
    assert result.returncode == 2 and result.stdout == ""
    assert "'faild'" in result.stderr
    for status in ("pending", "running", "paused", "completed", "failed", "cancelled"):
        assert status in result.stderr


def test_a_misspelled_flag_shows_the_subcommands_usage_with_a_suggestion(routilux):
    result = routilux("jobs", "--stauts", "running")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: routilux jobs ")
    assert "--stauts (did you mean --status?)" in result.stderr
    nested = routilux("dead-letters", "show", "1-1", "--jsn")
    assert nested.returncode == 2 and nested.stderr.startswith("usage: routilux dead-letters show ")
    assert "(did you mean --json?)" in nested.stderr


def test_a_missing_graphviz_program_is_a_runtime_failure_not_bad_usage(runtime, routilux, tmp_path):
    pytest.importorskip("graphviz")
    runtime.publish(basic_flows.chain_flow("no-dot"))
    empty = tmp_path / "bin"
    empty.mkdir()
    assert shutil.which("dot", path=str(empty)) is None
    result = routilux("graph", "no-dot", "--format", "svg", "--output", str(tmp_path / "x.svg"), path=str(empty))
    assert result.returncode == 1, result.stderr
    assert "needs Graphviz's 'dot' program" in result.stderr and "usage:" not in result.stderr


@pytest.mark.slow
@pytest.mark.timeout(150)
@pytest.mark.parametrize("command", [("watch", "--plain"), ("events", "--follow")])
def test_watch_and_events_follow_ride_out_a_redis_restart_and_see_the_job_end(own_redis, spawn_worker, command):
    from waiting import wait_until, workers_up

    server, settings, runtime = own_redis
    spawn_worker(settings_=settings, pool="prefork", concurrency=2)
    wait_until(lambda: workers_up(runtime, 1), timeout=60)
    job_id = runtime.submit(basic_flows.slow_flow(sleep_s=0.4), "source", {"n": 8})
    env = clean_env(**settings_env(settings))
    follower = subprocess.Popen([sys.executable, "-m", "routilux.cli", command[0], job_id[:8], command[1]], cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: len(runtime.get_job(job_id).shared_log) >= 1, timeout=60)
        first = follower.stdout.readline()  # it is following the job: it has printed an event
        server.stop()
        time.sleep(1.5)  # long enough for the follower to find Redis gone
        server.start()
        out, err = follower.communicate(timeout=120)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait(timeout=10)
    assert runtime.wait(job_id, timeout=60).status == "completed"
    assert follower.returncode == 0, err
    assert "reconnecting" in err and "reconnected to Redis" in err and "Traceback" not in err
    assert "completed" in first + out
