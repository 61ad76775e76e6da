"""Signed activations: only producers holding a signing key can make a handler run."""

from __future__ import annotations

import pytest
import redis

import basic_flows
import security_routines
from waiting import wait_until
from routilux.distributed import DistributedRuntime, Settings
from routilux.distributed.protocol.signing import MAGIC, Keyring
from routilux.errors import SignatureError

pytestmark = pytest.mark.distributed

OLD = "old:0f1e2d3c4b5a69788796a5b4c3d2e1f0"
NEW = "new:a1b2c3d4e5f60718293a4b5c6d7e8f90"


@pytest.fixture
def keyed(settings: Settings) -> Settings:
    """Settings with the signing keys "new" (signs) and "old"; a short backstop so stored bodies are swept soon."""
    return settings.with_(signing_keys=f"{NEW},{OLD}", redispatch_s=1.5)


def _producer(settings: Settings, keys: str) -> DistributedRuntime:
    return DistributedRuntime(settings=settings.with_(signing_keys=keys))


def _reasons(runtime: DistributedRuntime) -> list[str]:
    return [letter["reason"] for letter in runtime.dead_letters()]


def test_the_keyring_signs_with_the_first_key_and_verifies_with_every_key() -> None:
    both, old = Keyring.parse(f"{NEW},{OLD}"), Keyring.parse(OLD)
    assert both.seal(b"body").startswith(MAGIC + b"\x03new")
    assert both.open(old.seal(b"body")) == b"body"  # rotation: the old key still verifies
    assert Keyring.key_id(old.seal(b"body")) == "old"
    with pytest.raises(SignatureError, match="unknown key id 'new'"):
        old.open(both.seal(b"body"))
    with pytest.raises(SignatureError, match="unsigned"):
        both.open(b"body")
    tampered = bytearray(both.seal(b"body"))
    tampered[-1] ^= 1
    with pytest.raises(SignatureError, match="bad signature"):
        both.open(bytes(tampered))
    assert Keyring().open(both.seal(b"body")) == b"body"  # a worker without keys strips the frame
    assert "0f1e2d" not in repr(both) and "0f1e2d" not in repr(Settings(signing_keys=OLD))


def test_malformed_signing_keys_are_a_settings_error() -> None:
    for bad in ("nokey", "k1:", ":secret", "k1:a,k1:b"):
        with pytest.raises(ValueError):
            Settings(signing_keys=bad)


def test_a_signed_job_runs_on_a_worker_holding_the_keys(keyed, start_workers, tmp_path):
    start_workers(settings_=keyed)
    trace = tmp_path / "trace"
    with DistributedRuntime(settings=keyed) as runtime:
        state = runtime.wait(runtime.submit(security_routines.witness_flow(trace), "witness", {"n": 3}), timeout=30)
    assert state.status == "completed"
    assert state.shared_data == {"got0": 0, "got1": 1, "got2": 2}
    assert len(security_routines.runs(trace)) == 1


@pytest.mark.parametrize("keys, reason", [
    ("", "unsigned activation"),
    ("new:not-the-secret-of-the-workers-at-all", "bad signature (key id 'new')"),
    ("mallory:0f1e2d3c4b5a69788796a5b4c3d2e1f0", "unknown key id 'mallory'"),
])
def test_a_producer_without_a_valid_key_cannot_make_a_handler_run(keyed, start_workers, tmp_path, keys, reason):
    start_workers(settings_=keyed)
    trace = tmp_path / "trace"
    with _producer(keyed, keys) as forger:
        job_id = forger.submit(security_routines.witness_flow(trace), "witness", {"n": 2})
        # The message is refused unread; the sweeper then finds the stored body and fails the job with the reason.
        state = forger.wait(job_id, timeout=30)
        assert any(reason in r for r in _reasons(forger))
    assert state.status == "failed"
    assert reason in state.error
    assert security_routines.runs(trace) == []
    with DistributedRuntime(settings=keyed) as runtime:  # the worker keeps serving signed work
        good = runtime.submit(security_routines.witness_flow(trace), "witness", {"n": 1})
        assert runtime.wait(good, timeout=30).status == "completed"
    assert len(security_routines.runs(trace)) == 1


def test_a_tampered_or_unsigned_task_body_is_dead_lettered_unread(keyed, start_workers, tmp_path):
    start_workers(settings_=keyed)
    trace = tmp_path / "trace"
    with DistributedRuntime(settings=keyed) as runtime:
        runtime.publish(security_routines.witness_flow(trace))
        signed = Keyring.parse(NEW).seal(b"\x81\xa1v\x01")
        forged = signed[:-1] + b"\x02"
        runtime.app.send_task("routilux.activate", args=[forged], queue=keyed.queue)
        runtime.app.send_task("routilux.activate", args=[{"v": 1, "job": "j", "id": "a"}], queue=keyed.queue)
        letters = wait_until(lambda: len(runtime.dead_letters()) >= 2 and runtime.dead_letters(), timeout=15)
        reasons = sorted(letter["reason"] for letter in letters)
        assert any("bad signature" in r for r in reasons) and any("unsigned" in r for r in reasons)
        assert any(letter["body"] == forged for letter in letters)
    assert security_routines.runs(trace) == []


def test_keys_rotate_mid_run_while_old_signed_work_is_still_stored(settings, spawn_worker, start_workers, tmp_path):
    old_only = settings.with_(signing_keys=OLD)
    rotated = settings.with_(signing_keys=f"{NEW},{OLD}")
    with DistributedRuntime(settings=old_only) as before:
        # The fleet signs with "old": one job pauses itself, the other is paused with work in flight.
        worker = spawn_worker(settings_=old_only)
        deferred = before.submit(basic_flows.deferred_flow(), "source", {"n": 1})
        slow = before.submit(basic_flows.slow_flow(sleep_s=0.3), "source", {"n": 4})
        wait_until(lambda: len(before.get_job(slow).execution_history) > 1, timeout=30)  # the source ran
        before.pause(slow, reason="maintenance")
        wait_until(lambda: before.get_job(deferred).status == "paused", timeout=30)
        assert worker.terminate() == 0
        assert set(before.signing_key_usage()) == {"old"}  # every stored body is signed with the old key
    # Rolling restart: the new key signs, the old one still verifies what is stored.
    start_workers(settings_=rotated)
    with DistributedRuntime(settings=rotated) as after:
        after.resume(deferred)
        after.resume(slow)
        assert after.wait(deferred, timeout=30).status == "completed"
        done = after.wait(slow, timeout=30)
        assert done.status == "completed"
        assert sorted(e["got"]["i"] for e in done.shared_log) == [0, 1, 2, 3]
        assert after.signing_key_usage() == {}  # nothing signed with "old" is left: it may be dropped
        fresh = after.submit(basic_flows.chain_flow(), "source", {"n": 1})
        assert after.wait(fresh, timeout=30).status == "completed"


def test_signing_keys_and_limits_are_read_from_the_environment() -> None:
    settings = Settings.from_env({"ROUTILUX_SIGNING_KEYS": f" {NEW} , {OLD} ", "ROUTILUX_MAX_DEPTH": "40",
                                  "ROUTILUX_MAX_MESSAGE_BYTES": "1000", "ROUTILUX_MAX_ITEMS": "7"})
    assert settings.keyring.signer == "new"
    assert (settings.limits.max_depth, settings.limits.max_bytes, settings.limits.max_str_bytes,
            settings.limits.max_items) == (40, 1000, 1000, 7)


def test_the_signing_keys_command_counts_stored_activations_per_key(settings, capsys):
    from routilux.cli import main

    args = ["signing-keys", "--redis-url", settings.redis_url, "--key-prefix", settings.key_prefix]
    assert main(args) == 0
    assert "no stored activations" in capsys.readouterr().out
    with _producer(settings, OLD) as old, _producer(settings, "") as unsigned:
        old.submit(basic_flows.chain_flow(), "source", {"n": 1})  # no worker runs: the root stays stored
        old.submit(basic_flows.chain_flow(), "source", {"n": 1})
        unsigned.submit(basic_flows.chain_flow(), "source", {"n": 1})
    assert main(args) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert sorted(rows) == [["(unsigned)", "1"], ["old", "2"]]


def test_a_validly_signed_activation_captured_and_replayed_later_does_not_run_its_handler_again(keyed, start_workers,
                                                                                               tmp_path):
    trace = tmp_path / "trace"
    raw = redis.Redis.from_url(keyed.redis_url)
    queue = f"{keyed.key_prefix}:broker:{keyed.queue}"
    with DistributedRuntime(settings=keyed) as runtime:
        job_id = runtime.submit(security_routines.witness_flow(trace), "witness", {"n": 2})  # no worker yet: it waits queued
        (captured,) = raw.lrange(queue, 0, -1)  # the real signed frame, as an eavesdropper with broker access sees it
        start_workers(settings_=keyed)
        before = runtime.wait(job_id, timeout=30)
        assert before.status == "completed" and len(security_routines.runs(trace)) == 1
        raw.lpush(queue, captured, captured)  # replayed twice, byte for byte
        wait_until(lambda: raw.llen(queue) == 0 and raw.hlen(f"{keyed.key_prefix}:broker:unacked") == 0, timeout=15)
        other = runtime.submit(basic_flows.chain_flow(), "source", {"n": 1})  # queued after the replays
        assert runtime.wait(other, timeout=30).status == "completed"
        after = runtime.get_job(job_id)
        assert runtime.dead_letters() == []  # a duplicate claim is skipped, not refused
    assert [line.split()[0] for line in security_routines.runs(trace)] == [job_id]  # the handler ran once
    assert after.serialize() == before.serialize()
