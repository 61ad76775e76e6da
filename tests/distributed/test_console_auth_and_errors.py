"""Console auth roles and bad input: every failure is a typed JSON error with the right status, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

import basic_flows
from conftest import ROOT, free_port
from console_helpers import JSON, OPERATOR, VIEWER, console, run_console, secured_console  # noqa: F401
from routilux.distributed import DistributedRuntime
from routilux.server import ServerConfigError, ServerSettings
from routilux.server.settings import parse_tokens

pytestmark = pytest.mark.distributed
UNKNOWN = "00000000-0000-0000-0000-000000000000"


def error_of(response):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message"}, body
    assert "Traceback" not in response.text
    return body["error"]


def test_without_a_token_nothing_but_health_docs_and_the_ui_answers(runtime, secured_console):
    anonymous = secured_console.client()
    for path in ("/api/jobs", "/api/flows", "/api/workers", "/api/limits", "/api/dead-letters", "/metrics",
                 f"/api/jobs/{UNKNOWN}"):
        answer = anonymous.get(path)
        assert answer.status_code == 401, path
        assert error_of(answer)["type"] == "Unauthorized"
        assert answer.headers["www-authenticate"] == "Bearer"
    assert anonymous.get("/health/live").status_code == 200
    assert anonymous.get("/").status_code == 200 and anonymous.get("/docs").status_code == 200
    assert secured_console.client("not-a-token").get("/api/jobs").status_code == 401


def test_a_viewer_reads_but_cannot_steer_and_an_operator_can(runtime, start_workers, secured_console):
    start_workers()
    runtime.publish(basic_flows.chain_flow("chain-auth"))
    viewer, operator = secured_console.client(VIEWER), secured_console.client(OPERATOR)
    assert viewer.get("/api/jobs").status_code == 200
    assert viewer.get("/api/flows").status_code == 200 and viewer.get("/metrics").status_code == 200
    refused = viewer.post("/api/jobs", json={"flow": "chain-auth", "entry": "source"})
    assert refused.status_code == 403 and error_of(refused)["type"] == "Forbidden"
    assert runtime.jobs() == []
    submitted = operator.post("/api/jobs", json={"flow": "chain-auth", "entry": "source"})
    assert submitted.status_code == 201
    job_id = submitted.json()["job_id"]
    runtime.wait(job_id, timeout=30)
    for method, path in (("POST", f"/api/jobs/{job_id}/pause"), ("POST", f"/api/jobs/{job_id}/resume"),
                         ("POST", f"/api/jobs/{job_id}/cancel"), ("DELETE", f"/api/jobs/{job_id}"),
                         ("POST", f"/api/jobs/{job_id}/fork"), ("POST", "/api/dead-letters/1-0/replay"),
                         ("DELETE", "/api/dead-letters/1-0")):
        assert viewer.request(method, path).status_code == 403, path
    assert viewer.get(f"/api/jobs/{job_id}").status_code == 200
    assert operator.delete(f"/api/jobs/{job_id}").status_code == 204


def test_the_server_refuses_a_public_address_without_tokens():
    with pytest.raises(ServerConfigError, match="without tokens"):
        ServerSettings(host="0.0.0.0").check_bind()
    ServerSettings(host="0.0.0.0", tokens={"t": "viewer"}).check_bind()
    ServerSettings(host="::1").check_bind()
    with pytest.raises(ServerConfigError):
        parse_tokens("admin:abc")
    assert parse_tokens(" viewer:a , operator:b ") == {"a": "viewer", "b": "operator"}
    assert ServerSettings.from_env({"ROUTILUX_SERVER_TOKENS": "viewer:x", "ROUTILUX_SERVER_PORT": "9"}).port == 9


def test_routilux_server_on_a_public_address_without_tokens_exits_with_a_usage_error(settings):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "ROUTILUX_REDIS_URL": settings.redis_url}
    done = subprocess.run([sys.executable, "-m", "routilux.cli", "server", "--host", "0.0.0.0", "--port",
                           str(free_port())], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0 without tokens" in done.stderr and "Traceback" not in done.stderr


def test_cors_is_off_unless_origins_are_configured(runtime, console):
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    assert "access-control-allow-origin" not in console.http.options("/api/jobs", headers=preflight).headers
    assert "access-control-allow-origin" not in console.http.get("/api/jobs", headers={"Origin": "https://x"}).headers


@pytest.mark.parametrize("method,path", [
    ("GET", f"/api/jobs/{UNKNOWN}"), ("POST", f"/api/jobs/{UNKNOWN}/pause"), ("POST", f"/api/jobs/{UNKNOWN}/resume"),
    ("POST", f"/api/jobs/{UNKNOWN}/cancel"), ("DELETE", f"/api/jobs/{UNKNOWN}"), ("GET", f"/api/jobs/{UNKNOWN}/events"),
    ("GET", f"/api/jobs/{UNKNOWN}/history"), ("GET", f"/api/jobs/{UNKNOWN}/state"), ("POST", f"/api/jobs/{UNKNOWN}/fork"),
    ("GET", "/api/flows/no-such-flow"), ("GET", "/api/dead-letters/1-0"), ("POST", "/api/dead-letters/1-0/replay"),
    ("DELETE", "/api/dead-letters/1-0"), ("GET", "/api/no-such-thing"),
])
def test_unknown_ids_are_404(runtime, console, method, path):
    answer = console.http.request(method, path, headers=JSON)
    assert answer.status_code == 404, answer.text
    error_of(answer)


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'{"flow": "chain-bad"}', b'{"entry": "source"}', b'{"flow": "", "entry": "source"}',
    b'{"flow": "chain-bad", "entry": "source", "params": [1]}',
    b'{"flow": "chain-bad", "entry": "source", "unknown": 1}',
])
def test_malformed_submit_bodies_are_422(runtime, console, body):
    runtime.publish(basic_flows.chain_flow("chain-bad"))
    answer = console.http.post("/api/jobs", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert error_of(answer)["type"] == "ValidationError"
    assert runtime.jobs() == []


def test_other_bad_input_is_422_and_never_starts_a_job(runtime, start_workers, console):
    start_workers()
    runtime.publish(basic_flows.chain_flow("chain-bad"))
    wrong_entry = console.http.post("/api/jobs", json={"flow": "chain-bad", "entry": "nope"})
    assert wrong_entry.status_code == 422 and error_of(wrong_entry)["type"] == "FlowValidationError"
    no_flow = console.http.post("/api/jobs", json={"flow": "never-published", "entry": "source"})
    assert no_flow.status_code == 404 and error_of(no_flow)["type"] == "FlowNotPublishedError"
    assert runtime.jobs() == []
    for params in ({"status": "sleeping"}, {"limit": 0}, {"limit": 100000}, {"limit": "many"}):
        assert console.http.get("/api/jobs", params=params).status_code == 422, params
    job_id = runtime.submit("chain-bad", "source")
    runtime.wait(job_id, timeout=30)
    assert console.http.get(f"/api/jobs/{job_id}/state", params={"at": "yesterday"}).status_code == 422
    assert console.http.get(f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": "x"}).status_code == 422
    assert console.http.post(f"/api/jobs/{job_id}/fork", json={"at": 5}).status_code == 422
    assert console.http.post(f"/api/jobs/{job_id}/pause", json={"reason": 7}).status_code == 422
    missing = console.http.get(f"/api/jobs/{job_id}/state", params={"at": "1-0"})
    assert missing.status_code == 409 and "not an entry" in error_of(missing)["message"]
    finished_pause = console.http.post(f"/api/jobs/{job_id}/pause", headers=JSON)
    assert finished_pause.status_code == 409 and error_of(finished_pause)["type"] == "FlowError"


def test_an_unreachable_redis_is_503_and_not_ready():
    runtime = DistributedRuntime(f"redis://127.0.0.1:{free_port()}/0")
    try:
        for console in run_console(runtime):
            for path in ("/api/jobs", "/api/flows", "/api/workers", "/api/dead-letters", f"/api/jobs/{UNKNOWN}"):
                answer = console.http.get(path)
                assert answer.status_code == 503, (path, answer.text)
                assert error_of(answer)["type"] == "StoreUnavailableError"
            submitted = console.http.post("/api/jobs", json={"flow": "x", "entry": "source"})
            assert submitted.status_code == 503
            assert console.http.get("/health/ready").status_code == 503
            assert console.http.get("/health/live").status_code == 200
    finally:
        runtime.close()
