"""The operator commands (watch, events, dead-letters, delete, flows, graph, demo) as a user runs them:
``routilux`` subprocesses against a real Redis and real workers, checking output and exit codes."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import cli_flows
import basic_flows
from waiting import wait_until
from routilux import codec
from routilux.distributed.protocol.envelope import from_envelope

pytestmark = pytest.mark.distributed

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def cli_env(settings) -> dict[str, str]:
    """A clean environment pointing the CLI at this test's Redis, key prefix and queue."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTILUX_")}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]), ROUTILUX_REDIS_URL=settings.redis_url,
               ROUTILUX_KEY_PREFIX=settings.key_prefix, ROUTILUX_QUEUE=settings.queue,
               ROUTILUX_LEASE_S=str(settings.lease_s), ROUTILUX_OUTBOX_GRACE_S=str(settings.outbox_grace_s))
    return env


@pytest.fixture
def routilux(settings):
    """Run ``routilux ARGS`` as a subprocess (stdout is a pipe, not a terminal); returns the CompletedProcess."""

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "routilux.cli", *args], cwd=ROOT, env=cli_env(settings),
                              capture_output=True, text=True, timeout=timeout)

    return run


def ctrl_c_works() -> None:
    """Popen preexec_fn: Ctrl-C reaches the child even if this run ignores SIGINT (as a shell's background job does)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("routilux: error: "), result.stderr
    return lines[0]


def dead_letter_of_new_job(runtime, settings, n: int = 3) -> tuple[str, str]:
    """A chain job whose root activation went to the dead-letter stream (its workers kept dying)."""
    job_id = runtime.submit(basic_flows.chain_flow(n_double=1), "source", {"n": n})
    body = next(iter(runtime.store.redis.hgetall(runtime.store.keys.job(job_id, "acts")).values()))
    act_id = from_envelope(codec.unpackb(body))[0].activation_id
    for _ in range(settings.max_attempts):
        runtime.store.claim(job_id, act_id, "")
        runtime.store.redis.zadd(runtime.store.keys.leases(runtime.store.keys.bucket_of(job_id)), {f"{job_id}|{act_id}": 0})
    assert runtime.store.claim(job_id, act_id, "").outcome == "dead"
    return job_id, runtime.dead_letters()[0]["id"]


# -- events and watch --------------------------------------------------------------
def test_events_prints_history_and_status_lines_and_json_lines(runtime, start_workers, routilux):
    start_workers()
    job_id = runtime.submit(cli_flows.make_flow(), "start", {"value": 4})
    runtime.wait(job_id, timeout=20)
    result = routilux("events", job_id)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1:4] for line in lines] == [
        ["record", "start", "start"], ["status", "job", "running"], ["record", "start", "output"],
        ["record", "held", "output"], ["status", "job", "completed"]]
    assert lines[0].endswith('start {"value": 4}')
    events = [json.loads(line) for line in routilux("events", job_id, "--json", "--steps").stdout.splitlines()]
    assert [e["kind"] for e in events].count("step") == 3
    assert events[-1]["status"] == "completed"


def test_events_follow_streams_a_running_job_until_it_ends(runtime, start_workers, settings):
    start_workers()
    gate = uuid.uuid4().hex
    entered, release = cli_flows.gate(gate)
    job_id = runtime.submit(cli_flows.make_flow(), "start", {"gate": gate})
    assert entered.wait(10)
    follower = subprocess.Popen([sys.executable, "-m", "routilux.cli", "events", job_id, "--follow"], cwd=ROOT,
                                env=cli_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = follower.stdout.readline()  # it prints what happened so far, then waits
        assert first.split()[1:4] == ["record", "start", "start"]
        assert follower.poll() is None
        release.set()
        out, err = follower.communicate(timeout=30)
    finally:
        release.set()
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0, err
    assert out.splitlines()[-1].split()[1:4] == ["status", "job", "completed"]


def test_watch_exits_0_for_a_completed_job_and_1_for_a_failed_one(runtime, start_workers, routilux):
    start_workers()
    done = runtime.submit(basic_flows.chain_flow(n_double=1), "source", {"n": 2})
    failed = runtime.submit(basic_flows.strategy_flow("default"), "source", {"n": 1})
    ok = routilux("watch", done)
    assert ok.returncode == 0, ok.stderr
    assert re.search(rf"^job {done} completed in [\d.]+ s \(5/5 activations\)$", ok.stdout, re.M)
    assert re.search(r"^  double0 +completed +runs 2 +errors 0$", ok.stdout, re.M)
    bad = routilux("watch", failed, timeout=60)
    assert bad.returncode == 1
    assert f"job {failed} failed" in bad.stdout
    assert re.search(r"  error   flaky +error: transient failure 1", bad.stdout)


def test_ctrl_c_stops_watching_and_leaves_the_job_running(runtime, start_workers, settings):
    start_workers()
    gate = uuid.uuid4().hex
    entered, release = cli_flows.gate(gate)
    job_id = runtime.submit(cli_flows.make_flow(), "start", {"gate": gate})
    watcher = subprocess.Popen([sys.executable, "-m", "routilux.cli", "watch", job_id], cwd=ROOT,
                               env=cli_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=ctrl_c_works)
    try:
        assert entered.wait(10)
        assert watcher.stdout.readline()  # it is watching
        watcher.send_signal(signal.SIGINT)
        _, err = watcher.communicate(timeout=20)
    finally:
        release.set()
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == 130
    assert err.strip() == f"stopped watching; still running: {job_id}"
    assert runtime.wait(job_id, timeout=20).status == "completed"


def test_submit_watch_json_prints_every_event_then_the_summary(start_workers, routilux):
    start_workers()
    result = routilux("submit", "cli-chain", "start", "--publish", "cli_flows:make_flow", "--params", '{"value": 1}',
                      "--watch", "--json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    job_id = lines[0]
    rows = [json.loads(line) for line in lines[1:]]
    assert rows[-1]["kind"] == "summary" and rows[-1]["job_id"] == job_id
    assert rows[-1]["activations"] == {"done": 3, "known": 3}
    assert rows[-2] == {**rows[-2], "kind": "status", "status": "completed"}


def test_the_watch_view_draws_routines_progress_events_and_errors_on_a_terminal(runtime, start_workers):
    from rich.console import Console

    from routilux.cli.watch import watch_jobs

    start_workers()
    job_id = runtime.submit(basic_flows.strategy_flow("continue"), "source", {"n": 2})
    console = Console(record=True, force_terminal=True, width=110, file=io.StringIO(), color_system="standard")
    assert watch_jobs(runtime, [job_id], mode="live", console=console) == 0
    text = console.export_text(clear=False)
    assert f"job {job_id}  flow strategy-continue  completed" in text
    assert "7/7 activations" in text
    assert re.search(r"flaky +error_continued +2 +2", text)
    assert re.search(r"double +completed +2 +0", text)
    assert "last events" in text and "error_continued" in text
    styled = console.export_text(styles=True)
    assert re.search(r"flaky +\x1b\[31merror_continued\x1b\[0m +2 +\x1b\[31m2 ", styled), "errors are drawn in red"


# -- dead letters, delete ------------------------------------------------------------
def test_dead_letters_list_show_replay_and_discard(runtime, settings, start_workers, routilux):
    other_job, other = dead_letter_of_new_job(runtime, settings)  # before any worker runs: no race for the claims
    job_id, dead_id = dead_letter_of_new_job(runtime, settings)
    listed = routilux("dead-letters")
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[1].split()[:3] == [dead_id, job_id, "source.trigger"]
    shown = routilux("dead-letters", "show", dead_id)
    assert f"job:        {job_id}" in shown.stdout and '"n": 3' in shown.stdout
    assert json.loads(routilux("dead-letters", "show", dead_id, "--json").stdout)["payload"] == {"n": 3}

    start_workers()
    replayed = routilux("dead-letters", "replay", dead_id)
    assert replayed.returncode == 0, replayed.stderr
    assert re.fullmatch(rf"dead letter {dead_id} replayed on job {job_id} \(now (running|completed)\)\n",
                        replayed.stdout)
    assert runtime.wait(job_id, timeout=20).status == "completed"
    assert "no dead letter" in one_error_line(routilux("dead-letters", "replay", dead_id))

    assert routilux("dead-letters", "discard", other).stdout.strip() == f"dead letter {other} discarded"
    assert routilux("dead-letters", "list", "--json").stdout == ""
    assert runtime.get_job(other_job).status == "failed"


def test_delete_forgets_a_finished_job_and_refuses_a_running_one(runtime, start_workers, routilux):
    runtime.publish(cli_flows.make_flow())
    waiting = runtime.submit("cli-chain", "start", {})  # no worker yet: it stays running
    assert "only a finished job can be deleted" in one_error_line(routilux("delete", waiting))
    start_workers()
    runtime.wait(waiting, timeout=20)
    result = routilux("delete", waiting)
    assert (result.returncode, result.stdout.strip()) == (0, f"job {waiting} deleted")
    assert f"no job '{waiting}'" in one_error_line(routilux("status", waiting))


def test_workers_shows_what_each_worker_runs_now(runtime, start_workers, routilux):
    start_workers()
    gate = uuid.uuid4().hex
    entered, release = cli_flows.gate(gate)
    job_id = runtime.submit(cli_flows.make_flow(), "start", {"gate": gate})
    try:
        assert entered.wait(10)
        # The report may briefly still show the step before (it is rewritten every half second).
        wait_until(lambda: [r["routine_id"] for w in runtime.workers().values() for r in w["running"]] == ["held"],
                   timeout=10)
        result = routilux("workers")
    finally:
        release.set()
    assert result.returncode == 0
    assert result.stdout.splitlines()[1].endswith(f"{job_id[:8]}:held.input")


# -- flows and graphs ------------------------------------------------------------------
def test_flows_lists_each_flow_with_its_versions(runtime, routilux):
    runtime.publish(basic_flows.chain_flow("pipeline", n_double=1))
    latest = runtime.publish(basic_flows.chain_flow("pipeline", n_double=2))
    result = routilux("flows")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].split() == ["FLOW", "LATEST", "VERSIONS", "PUBLISHED"]
    assert result.stdout.splitlines()[1].split()[:3] == ["pipeline", latest[:16], "2"]
    assert json.loads(routilux("flows", "--json").stdout)["latest"] == latest


def test_graph_draws_a_published_flow_or_a_file_as_text_mermaid_and_dot(runtime, routilux, tmp_path):
    runtime.publish(basic_flows.fan_in_flow("fanin"))
    text = routilux("graph", "fanin")
    assert text.returncode == 0, text.stderr
    assert "└─ out → input (append) ─▶ total" in text.stdout
    assert "total: basic_flows.Total" in text.stdout
    mermaid = routilux("graph", "fanin", "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart LR") and '-- "out → input (append)" -->' in mermaid
    dot = routilux("graph", "fanin", "--format", "dot").stdout
    assert dot.startswith('digraph "fanin"') and '"double" -> "total"' in dot

    spec = tmp_path / "flow.json"
    spec.write_text(json.dumps(basic_flows.fan_in_flow("from-file").serialize(), default=str))
    from_file = routilux("graph", str(spec), "--format", "dot", "--redis-url", "redis://127.0.0.1:1/0")
    assert from_file.returncode == 0 and 'digraph "from-file"' in from_file.stdout  # no Redis needed
    yaml_spec = routilux("graph", "examples/orders.yaml", "--import", "examples.orders", "--format", "mermaid")
    assert yaml_spec.returncode == 0 and '-- "priced → input {result→data}" -->' in yaml_spec.stdout
    assert "unknown routine class 'OrderSource'" in one_error_line(routilux("graph", "examples/orders.yaml"))
    assert "no such file: missing.yaml" in one_error_line(routilux("graph", "missing.yaml"))
    assert "no flow published with id 'nope'" in one_error_line(routilux("graph", "nope"))


def test_graph_renders_svg_with_graphviz_or_names_what_to_install(runtime, routilux, tmp_path):
    runtime.publish(basic_flows.chain_flow("chain"))
    out = tmp_path / "chain.svg"
    result = routilux("graph", "chain", "--format", "svg", "--output", str(out))
    if shutil.which("dot"):
        assert result.returncode == 0, result.stderr
        assert out.read_text().lstrip().startswith(("<?xml", "<svg")) and "double0" in out.read_text()
    else:
        assert "apt-get install graphviz" in one_error_line(result)


# -- bad input -----------------------------------------------------------------------
def test_bad_input_is_one_line_on_stderr_and_a_nonzero_exit(routilux):
    for args, says in ((("watch", "no-such-job"), "no job 'no-such-job'"),
                       (("events", "no-such-job", "--follow"), "no job 'no-such-job'"),
                       (("dead-letters", "show", "1-1"), "no dead letter '1-1'"),
                       (("dead-letters", "discard", "not-an-id"), "no dead letter 'not-an-id'")):
        assert says in one_error_line(routilux(*args)), args
    assert "Redis is unreachable" in one_error_line(routilux("events", "x", "--redis-url", "redis://127.0.0.1:1/0"))
    assert "--params is not valid JSON" in one_error_line(routilux("submit", "f", "e", "--params", "{oops", "--watch"))


# -- the demo ----------------------------------------------------------------------
def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.timeout(150)
def test_the_demo_kills_a_host_mid_run_and_every_job_still_ends_exact(settings):
    result = subprocess.run([sys.executable, "-m", "routilux.cli", "demo", "--jobs", "4", "--delay-s", "0.15"],
                            cwd=ROOT, env=cli_env(settings), capture_output=True, text=True, timeout=140)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "jobs completed:  4/4" in out and "results exact:   4/4" in out
    assert re.search(r"killed:          host-1 \(SIGKILL\) at [\d.]+ s, with \d+ activations? in flight", out)
    assert re.search(r"recovery:        (its \d+ lost activations? ran again within [\d.]+ s of the kill|nothing)", out)
    folder = re.search(r"\(in (\S+)\)", out).group(1)
    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", out)]
    assert len(pids) == 2 and all(_gone(pid) for pid in pids)
    assert not Path(folder).exists()


@pytest.mark.timeout(90)
def test_the_demo_cleans_up_everything_on_ctrl_c(settings):
    demo = subprocess.Popen([sys.executable, "-m", "routilux.cli", "demo", "--jobs", "3", "--no-kill", "--delay-s",
                             "2"], cwd=ROOT, env=cli_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=ctrl_c_works)
    lines = []
    try:
        while not any("submitted" in line for line in lines):
            line = demo.stdout.readline()
            assert line, demo.stderr.read()
            lines.append(line)
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 130
    assert "summary" not in out
    text = "".join(lines)
    port = int(re.search(r"127\.0\.0\.1:(\d+)", text).group(1))
    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", text)]
    assert pids and all(_gone(pid) for pid in pids)
    assert not Path(re.search(r"\(in (\S+)\)", text).group(1)).exists()
    import socket

    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the demo's redis-server is still up"
