"""The ``routilux`` command line and the ``python -m worker`` daemon, against a real Redis and real workers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

import cli_flows
from waiting import wait_until
from routilux.cli import main
from routilux.distributed import DistributedRuntime, Settings

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def settings_env(settings: Settings) -> dict[str, str]:
    """The ROUTILUX_* variables that point a process at ``settings``."""
    return {"ROUTILUX_REDIS_URL": settings.redis_url, "ROUTILUX_KEY_PREFIX": settings.key_prefix,
            "ROUTILUX_QUEUE": settings.queue, "ROUTILUX_LEASE_S": str(settings.lease_s),
            "ROUTILUX_OUTBOX_GRACE_S": str(settings.outbox_grace_s)}


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ROUTILUX_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTILUX_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE)])
    return {**env, **extra}


def run_python(*args: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` from the repository root and capture its output."""
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """Run ``routilux ARGS`` in this process with this test's settings; returns (exit code, stdout, stderr)."""
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)

    def call(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return call


def held_job(runtime: DistributedRuntime) -> tuple[str, Any]:
    """Submit a cli_flows chain whose middle step waits at a fresh gate; returns (job id, release event)."""
    name = uuid.uuid4().hex
    entered, release = cli_flows.gate(name)
    job_id = runtime.submit(cli_flows.make_flow(), "start", {"gate": name})
    assert entered.wait(10), "the held step never started"
    return job_id, release


# -- steering jobs ---------------------------------------------------------------
@pytest.mark.distributed
def test_status_prints_a_summary_of_a_completed_job(runtime, start_workers, cli):
    start_workers()
    job_id = runtime.submit(cli_flows.make_flow(), "start", {"value": 7})
    runtime.wait(job_id, timeout=20)
    code, out, err = cli("status", job_id)
    assert code == 0, err
    assert f"job:      {job_id}" in out
    assert "status:   completed" in out
    assert "flow:     cli-chain" in out
    assert "history 3" in out


@pytest.mark.distributed
def test_status_json_prints_the_serialized_job_state(runtime, start_workers, cli):
    start_workers()
    job_id = runtime.submit(cli_flows.make_flow(), "start", {"value": 7})
    runtime.wait(job_id, timeout=20)
    code, out, _ = cli("status", job_id, "--json")
    data = json.loads(out)
    assert code == 0
    assert data["_type"] == "JobState"
    assert data["job_id"] == job_id
    assert data["shared_data"]["finished"] == {"value": 7}


@pytest.mark.distributed
def test_status_of_an_unknown_job_prints_one_line_and_exits_1(cli):
    code, out, err = cli("status", "no-such-job")
    assert code == 1
    assert out == ""
    assert err.strip() == "routilux: error: no job 'no-such-job' in this store"


@pytest.mark.distributed
def test_pause_holds_a_running_job_and_resume_completes_it(runtime, start_workers, cli):
    start_workers()
    job_id, release = held_job(runtime)
    code, out, err = cli("pause", job_id, "--reason", "maintenance")
    assert (code, out.strip()) == (0, f"job {job_id} paused"), err
    release.set()
    wait_until(lambda: runtime.store.status(job_id) == "paused", timeout=10)
    assert "status:   paused" in cli("status", job_id)[1]
    assert runtime.get_job(job_id).get_shared_data("finished") is None  # the last step is held

    code, out, err = cli("resume", job_id)
    assert (code, out.strip()) == (0, f"job {job_id} resumed"), err
    state = runtime.wait(job_id, timeout=20)
    assert state.status == "completed"
    assert state.get_shared_data("finished")["gate"]


@pytest.mark.distributed
def test_cancel_stops_a_running_job_for_good(runtime, start_workers, cli):
    start_workers()
    job_id, release = held_job(runtime)
    code, out, err = cli("cancel", job_id, "--reason", "not needed")
    assert (code, out.strip()) == (0, f"job {job_id} cancelled"), err
    release.set()
    state = runtime.wait(job_id, timeout=10)
    assert state.status == "cancelled"
    assert state.get_shared_data("finished") is None


@pytest.mark.distributed
def test_resuming_a_job_that_is_not_paused_is_refused_with_one_line(runtime, start_workers, cli):
    start_workers()
    job_id = runtime.submit(cli_flows.make_flow(), "start", {})
    runtime.wait(job_id, timeout=20)
    code, _, err = cli("resume", job_id)
    assert code == 1
    assert err.startswith("routilux: error: ") and "only a paused job can be resumed" in err
    assert "Traceback" not in err


@pytest.mark.distributed
def test_jobs_lists_known_jobs_and_filters_by_status(runtime, start_workers, cli):
    start_workers()
    done = runtime.submit(cli_flows.make_flow(), "start", {})
    runtime.wait(done, timeout=20)
    held, release = held_job(runtime)
    try:
        code, out, _ = cli("jobs")
        assert code == 0
        assert out.splitlines()[0].split() == ["JOB", "ID", "STATUS", "FLOW", "CREATED", "UPDATED", "DURATION", "ERROR"]
        assert done in out and held in out
        running = cli("jobs", "--status", "running")[1]
        assert held in running and done not in running
    finally:
        release.set()
    runtime.wait(held, timeout=20)


@pytest.mark.distributed
def test_submit_publishes_a_factory_flow_and_waits_for_the_result(start_workers, cli):
    start_workers()
    code, out, err = cli("submit", "cli-chain", "start", "--publish", "cli_flows:make_flow",
                         "--params", '{"value": 3}', "--wait", "--timeout", "20")
    assert code == 0, err
    job_id = out.splitlines()[0]
    assert "status:   completed" in out
    assert "published flow 'cli-chain'" in err
    assert cli("status", job_id)[0] == 0


@pytest.mark.distributed
def test_submit_rejects_params_that_are_not_a_json_object(cli):
    code, out, err = cli("submit", "cli-chain", "start", "--params", "[1, 2]")
    assert (code, out) == (2, "")
    assert "--params must be a JSON object" in err


@pytest.mark.distributed
def test_workers_and_dead_letters_print_tables(start_workers, cli):
    start_workers()
    code, out, _ = cli("workers")
    assert code == 0
    assert out.splitlines()[0].split() == ["NAME", "HOST", "PID", "QUEUES", "POOL", "UPTIME", "PROCESSED", "FAILED",
                                          "HEARTBEAT", "RUNNING", "NOW"]
    assert "@test" in out
    code, out, _ = cli("dead-letters", "--count", "5")
    assert (code, out.strip()) == (0, "(none)")


@pytest.mark.distributed
def test_an_unreachable_redis_is_one_line_on_stderr(cli):
    code, _, err = cli("jobs", "--redis-url", "redis://127.0.0.1:1/0")
    assert code == 1
    assert err.startswith("routilux: error: Redis is unreachable")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.distributed
def test_the_cli_reads_the_redis_url_from_the_environment(runtime, settings):
    runtime.publish(cli_flows.make_flow())
    job_id = runtime.submit("cli-chain", "start", {})
    result = run_python("-m", "routilux.cli", "jobs", env=clean_env(**settings_env(settings)))
    assert result.returncode == 0, result.stderr
    assert job_id in result.stdout
    other = run_python("-m", "routilux.cli", "jobs", env=clean_env(ROUTILUX_REDIS_URL="redis://127.0.0.1:1/0"))
    assert other.returncode == 1
    assert "Redis is unreachable" in other.stderr


# -- the worker daemon -----------------------------------------------------------
@pytest.mark.distributed
def test_the_health_probe_fails_when_no_worker_is_alive(settings):
    result = run_python("-m", "worker", "--check", "--name", "ghost@nowhere", env=clean_env(**settings_env(settings)))
    assert result.returncode == 1
    assert "worker ghost@nowhere is not alive" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.distributed
def test_the_health_probe_passes_while_a_worker_daemon_is_up_and_sigterm_stops_it_cleanly(settings, runtime,
                                                                                        spawn_worker):
    proc = spawn_worker(imports=("cli_flows",), pool="threads", concurrency=1)
    wait_until(lambda: proc.name in runtime.workers() or proc.proc.poll() is not None, timeout=20)
    assert proc.proc.poll() is None, "the worker daemon exited early"
    env = clean_env(**settings_env(settings))
    result = run_python("-m", "worker", "--check", "--name", proc.name, env=env)
    assert result.returncode == 0, result.stderr
    assert f"worker {proc.name} is alive" in result.stdout
    via_cli = run_python("-m", "routilux.cli", "worker", "--check", "--name", proc.name, env=env)
    assert via_cli.returncode == 0, via_cli.stderr
    assert proc.terminate(timeout=20) == 0


@pytest.mark.distributed
def test_a_worker_daemon_runs_jobs_of_the_modules_it_imported(runtime, spawn_worker):
    proc = spawn_worker(imports=("cli_flows",), pool="prefork", concurrency=2)
    state = runtime.wait(runtime.submit(cli_flows.make_flow(), "start", {"value": 1}), timeout=30)
    assert state.status == "completed"
    assert state.get_shared_data("finished") == {"value": 1}
    assert proc.proc.poll() is None


@pytest.mark.distributed
def test_a_worker_with_an_import_that_does_not_exist_exits_2_naming_the_module(settings):
    result = run_python("-m", "worker", "--import", "no_such_routines_module", env=clean_env(**settings_env(settings)))
    assert result.returncode == 2
    assert "no_such_routines_module" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.distributed
def test_a_worker_with_an_import_from_the_environment_that_does_not_exist_exits_2(settings):
    env = clean_env(**settings_env(settings), ROUTILUX_IMPORTS="cli_flows, missing_from_env")
    result = run_python("-m", "routilux.cli", "worker", env=env)
    assert result.returncode == 2
    assert "'missing_from_env'" in result.stderr


# -- no Redis needed ---------------------------------------------------------------
def test_importing_the_cli_loads_no_celery_redis_or_kombu():
    code = "import sys, routilux, routilux.cli; print(sorted(m for m in ('celery', 'redis', 'kombu') if m in sys.modules))"
    result = run_python("-S", "-c", code, env=clean_env())  # -S: no site-packages at all
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_quickstart_runs_on_the_local_engine_without_a_redis_url():
    result = run_python("-S", "-m", "examples.quickstart", env=clean_env())  # the standard library is enough
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "engine: local"
    assert lines[1].endswith(": completed")
    assert lines[2:] == [
        "  orders:   5",
        "  accepted: A-1001, A-1002, A-1004",
        "  rejected: A-1003 (unknown sku 'caviar')",
        "  rejected: A-1005 (bad quantity 0)",
        "  total:    $30.98",
    ]


@pytest.mark.distributed
def test_the_quickstart_prints_the_same_result_on_the_distributed_engine(settings):
    env = clean_env(**settings_env(settings))
    distributed = run_python("-m", "examples.quickstart", "--embedded-worker", "--timeout", "20", env=env)
    local = run_python("-m", "examples.quickstart", env=clean_env())
    assert distributed.returncode == 0, distributed.stderr
    assert distributed.stdout.splitlines()[0].startswith("engine: distributed")
    assert distributed.stdout.splitlines()[2:] == local.stdout.splitlines()[2:]


def test_the_quickstart_with_a_redis_url_but_no_celery_names_the_extra_to_install():
    # A python where celery cannot be imported (None in sys.modules blocks the import).
    code = ("import runpy, sys; sys.modules['celery'] = None; sys.argv = ['quickstart']; "
            "runpy.run_module('examples.quickstart', run_name='__main__')")
    result = run_python("-c", code, env=clean_env(ROUTILUX_REDIS_URL="redis://127.0.0.1:1/0"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "ModuleNotFoundError" not in result.stderr
    assert "pip install 'routilux[distributed]'" in result.stderr and "celery" in result.stderr
    assert "ROUTILUX_REDIS_URL" in result.stderr


def test_the_deploy_env_file_documents_every_settings_field():
    text = (ROOT / "deploy" / "routilux.env").read_text()
    documented = set(re.findall(r"^#?(ROUTILUX_[A-Z_0-9]+)=", text, flags=re.MULTILINE))
    assert {f"ROUTILUX_{f.name.upper()}" for f in fields(Settings)} <= documented


@pytest.mark.distributed
def test_submit_with_a_concurrency_key_holds_a_slot_of_the_limit_set_by_limits_set(runtime, start_workers, cli):
    assert cli("limits", "set", "nightly", "2")[:2] == (0, "jobs with concurrency key 'nightly': at most 2 at once\n")
    start_workers()
    code, out, err = cli("submit", "cli-chain", "start", "--publish", "cli_flows:make_flow", "--params",
                         '{"value": 3}', "--concurrency-key", "nightly", "--tenant", "acme", "--wait")
    assert code == 0, err
    assert "key:      nightly" in out and "tenant:   acme" in out
    code, out, _ = cli("limits", "--json")
    (view,) = [v for v in json.loads(out) if v["name"] == "job:nightly"]
    assert (view["kind"], view["limit"], view["holders"]) == ("concurrency", 2, [])
    assert cli("limits", "set", "nightly", "0")[0] == 1  # a limit is a positive number of jobs
