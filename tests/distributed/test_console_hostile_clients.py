"""A console no client can take down or misuse: bounded streams and bodies, checks before reading, strict JSON.

Each test runs a real uvicorn server over the test's Redis; the body and stream tests speak raw HTTP
where what matters is what the server reads (or does not) before it answers.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from typing import Any
from urllib.parse import quote

import httpx
import pytest

import basic_flows
from conftest import ROOT, free_port
from console_helpers import JSON, OPERATOR, VIEWER, console, run_console, secured_console  # noqa: F401
from routilux import Flow
from routilux.distributed import DistributedRuntime
from routilux.cli import main
from routilux.errors import FlowValidationError
from routilux.server import ServerConfigError, ServerSettings, create_app

pytestmark = pytest.mark.distributed
MB = 1024 * 1024


def error_type(response: httpx.Response) -> str:
    """The typed error of a JSON error answer."""
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message"}, body
    return body["error"]["type"]


def raw_request(url: str, head: str, body: bytes = b"", wait_s: float = 20) -> tuple[int, bytes]:
    """Send ``head`` (request line and headers) and ``body`` on a socket; the status and bytes answered.

    The socket stays open, so a server still waiting for more body never answers (a timeout here).
    """
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait_s) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        while not _complete(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


def _complete(answer: bytes) -> bool:
    head, sep, body = answer.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                   if line.startswith(b"content-length:")), 0)
    return bool(sep) and len(body) >= length


def post_head(url: str, path: str, extra: str) -> str:
    """A POST's request line and headers, without the blank line that ends them."""
    return f"POST {path} HTTP/1.1\nHost: {url.removeprefix('http://')}\nContent-Type: application/json\n{extra}\n"


# -- bodies: capped and authenticated before they are read ------------------------------------------

def test_a_body_declared_over_the_cap_is_413_before_a_byte_of_it_is_read(console):
    status, answer = raw_request(console.url, post_head(console.url, "/api/jobs", f"Content-Length: {100 * MB}"))
    assert status == 413 and b"PayloadTooLarge" in answer


def test_a_chunked_body_is_refused_413_as_soon_as_it_passes_the_cap(runtime, console):
    runtime.publish(basic_flows.chain_flow("chunky"))
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(2 * MB // len(chunk)))  # no last chunk
    status, answer = raw_request(console.url, post_head(console.url, "/api/jobs", "Transfer-Encoding: chunked"), body)
    assert status == 413 and b"PayloadTooLarge" in answer
    assert runtime.jobs() == []


def test_an_unauthenticated_or_viewer_post_is_refused_before_its_body_is_read(secured_console):
    url = secured_console.url
    head = post_head(url, "/api/jobs", f"Content-Length: {50 * MB // 100}")  # under the cap, never sent
    assert raw_request(url, head)[0] == 401
    assert raw_request(url, post_head(url, "/api/jobs", f"Authorization: Bearer {VIEWER}\nContent-Length: 500000"))[0] == 403
    assert raw_request(url, post_head(url, "/api/jobs", "Authorization: Bearer wrong\nContent-Length: 500000"))[0] == 401


def test_a_body_within_the_cap_still_submits(runtime, start_workers):
    start_workers()
    runtime.publish(basic_flows.chain_flow("capped"))
    for small in run_console(runtime, max_body_bytes=200):
        padded = {"flow": "capped", "entry": "source", "params": {"n": 1}}
        assert small.http.post("/api/jobs", json=padded).status_code == 201
        padded["params"]["pad"] = "x" * 300
        refused = small.http.post("/api/jobs", json=padded)
        assert refused.status_code == 413 and error_type(refused) == "PayloadTooLarge"
    assert len(runtime.jobs()) == 1


# -- loopback mode: no DNS rebinding, no cross-site writes -----------------------------------------

def test_without_tokens_a_foreign_host_is_refused_and_loopback_names_are_served(console):
    port = console.settings.port
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.nip.io:{port}"):
        refused = console.http.get("/api/jobs", headers={"Host": host})
        assert refused.status_code == 421 and error_type(refused) == "MisdirectedRequest", host
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        assert console.http.get("/api/jobs", headers={"Host": host}).status_code == 200, host


def test_without_tokens_a_cross_site_or_non_json_cancel_does_not_touch_the_job(runtime, console):
    runtime.publish(basic_flows.chain_flow("csrf"))
    job_id = runtime.submit("csrf", "source")  # no worker: it stays running
    cancel = f"/api/jobs/{job_id}/cancel"
    plain = console.http.post(cancel, content=b'{"reason": "x"}', headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415 and error_type(plain) == "UnsupportedMediaType"
    assert console.http.post(cancel, content=b"reason=x",
                             headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 415
    assert console.http.post(cancel).status_code == 415  # a no-cors fetch with no body and no type
    foreign = console.http.post(cancel, json={}, headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403 and error_type(foreign) == "ForeignOrigin"
    assert console.http.post(cancel, json={}, headers={"Origin": "null"}).status_code == 403
    assert runtime.get_job(job_id).status == "running"
    same_origin = console.http.post(cancel, json={}, headers={"Origin": console.url})
    assert same_origin.status_code == 200 and runtime.get_job(job_id).status == "cancelled"


# -- strict JSON and stream ids ---------------------------------------------------------------------

def refuse_constant(name: str) -> Any:
    raise AssertionError(f"non-standard JSON constant {name} sent")


def test_nan_and_infinity_in_params_are_422_and_start_nothing(runtime, console):
    runtime.publish(basic_flows.chain_flow("nan"))
    for constant in ("NaN", "Infinity", "-Infinity"):
        body = f'{{"flow": "nan", "entry": "source", "params": {{"n": {constant}}}}}'.encode()
        answer = console.http.post("/api/jobs", content=body, headers=JSON)
        assert answer.status_code == 422 and constant in answer.json()["error"]["message"], answer.text
    assert runtime.jobs() == []


def test_a_job_holding_nan_reads_back_as_standard_json(runtime, start_workers, console):
    start_workers()
    flow = Flow(flow_id="nan-echo")
    flow.add_routine(basic_flows.Echo(), "echo")
    job_id = runtime.submit(flow, "echo", {"x": float("nan"), "y": float("-inf")})  # a Python producer may
    assert runtime.wait(job_id, timeout=30).status == "completed"
    answer = console.http.get(f"/api/jobs/{job_id}")
    job = json.loads(answer.text, parse_constant=refuse_constant)
    logged = job["job"]["shared_log"][0]
    assert (logged["x"], logged["y"]) == ("NaN", "-Infinity")
    with console.http.stream("GET", f"/api/jobs/{job_id}/events") as response:
        frames = [line for line in response.iter_lines() if line.startswith("data:")]
    assert frames and all(json.loads(f[5:], parse_constant=refuse_constant) for f in frames)


def test_stream_ids_beyond_redis_range_are_422_not_500(runtime, start_workers, console):
    start_workers()
    runtime.publish(basic_flows.chain_flow("ids"))
    job_id = runtime.submit("ids", "source", {"n": 1})
    runtime.wait(job_id, timeout=30)
    too_big = "99999999999999999999-0"
    for answer in (console.http.get(f"/api/jobs/{job_id}/state", params={"at": too_big}),
                   console.http.post(f"/api/jobs/{job_id}/fork", json={"at": too_big}),
                   console.http.get(f"/api/jobs/{job_id}/state", params={"at": "1-18446744073709551616"}),
                   console.http.get(f"/api/jobs/{job_id}/events", params={"cursor": too_big}),
                   console.http.get(f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": f"{too_big}.1"})):
        assert answer.status_code == 422 and error_type(answer) == "ValidationError", answer.text
    biggest = console.http.get(f"/api/jobs/{job_id}/state", params={"at": "18446744073709551615-18446744073709551615"})
    assert biggest.status_code == 409 and "not an entry" in biggest.json()["error"]["message"]


# -- headers and pages ------------------------------------------------------------------------------

def test_every_response_carries_the_security_headers_and_pages_run_no_inline_script(console):
    for path in ("/", "/docs", "/static/app.js", "/api/jobs", "/health/live", "/openapi.json", "/nowhere"):
        headers = console.http.get(path).headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp.split(
            "script-src")[1].split(";")[0], path
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY", path
        assert headers["referrer-policy"] == "no-referrer", path
    for page in ("/", "/docs"):
        html = console.http.get(page).text
        assert html.count("<script") == html.count("<script src=") and "swagger" not in html.lower()
    assert console.http.get("/docs/swagger").status_code == 404


# -- health -----------------------------------------------------------------------------------------

def test_liveness_answers_at_once_and_readiness_in_time_while_redis_hangs_under_load():
    hung = socket.socket()  # accepts connections (the kernel does) and never answers: a hung Redis
    hung.bind(("127.0.0.1", 0))
    hung.listen(512)
    runtime = DistributedRuntime(f"redis://127.0.0.1:{hung.getsockname()[1]}/0")
    try:
        for served in run_console(runtime, {OPERATOR: "operator"}):
            async def flood() -> None:
                async with httpx.AsyncClient(base_url=served.url, timeout=60,
                                             headers={"Authorization": f"Bearer {OPERATOR}"}) as client:
                    stuck = [asyncio.create_task(client.get("/api/jobs")) for _ in range(60)]
                    await asyncio.sleep(1.0)  # every API thread now waits on the hung Redis
                    probes = httpx.AsyncClient(base_url=served.url, timeout=8)
                    assert (await probes.get("/health/live")).json() == {"status": "ok"}
                    assert not any(task.done() for task in stuck)  # it did not wait for a thread to free up
                    anonymous = await probes.get("/health/ready")
                    assert anonymous.status_code == 503 and "127.0.0.1" not in anonymous.text
                    assert str(hung.getsockname()[1]) not in anonymous.text
                    await probes.aclose()
                    for task in stuck:
                        task.cancel()
                    await asyncio.gather(*stuck, return_exceptions=True)

            asyncio.run(flood())
            hung.close()  # the stuck threads get a reset and finish
    finally:
        hung.close()
        runtime.close()


def test_readiness_names_the_store_only_to_a_caller_with_a_token():
    runtime = DistributedRuntime(f"redis://127.0.0.1:{free_port()}/0")
    try:
        for served in run_console(runtime, {VIEWER: "viewer"}):
            anonymous = served.http.get("/health/ready")
            assert anonymous.status_code == 503 and "127.0.0.1" not in anonymous.text
            named = served.client(VIEWER).get("/health/ready")
            assert named.status_code == 503 and "127.0.0.1" in named.text
    finally:
        runtime.close()


# -- event streams: bounded, and never starving the rest --------------------------------------------

def test_event_streams_over_the_per_token_or_total_bound_are_refused_429(runtime, settings):
    runtime.publish(basic_flows.chain_flow("bounded"))
    job_id = runtime.submit("bounded", "source")  # no worker: the streams stay open

    async def scenario(url: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            async def one(token: str) -> httpx.Response:
                request = client.build_request("GET", f"/api/jobs/{job_id}/events",
                                               headers={"Authorization": f"Bearer {token}"})
                return await client.send(request, stream=True)

            held = [await one(t) for t in ("a", "a")]
            third = await one("a")
            assert third.status_code == 429 and (await third.aread()) and error_type(third) == "TooManyStreams"
            assert "this token" in third.json()["error"]["message"]
            every_job = await client.get("/api/events", headers={"Authorization": "Bearer a"})  # counted the same
            assert every_job.status_code == 429 and error_type(every_job) == "TooManyStreams"
            held += [await one(t) for t in ("b", "b")]
            assert [r.status_code for r in held] == [200] * 4
            full = await one("c")
            assert full.status_code == 429 and (await full.aread()) and "the server" in full.json()["error"]["message"]
            await held.pop(0).aclose()  # a slot comes back when a stream closes
            for _ in range(100):
                again = await one("c")
                if again.status_code == 200:
                    break
                await again.aclose()
                await asyncio.sleep(0.05)
            assert again.status_code == 200
            for response in [*held, again]:
                await response.aclose()

    tokens = {"a": "viewer", "b": "viewer", "c": "viewer"}
    for served in run_console(runtime, tokens, max_streams=4, max_streams_per_token=2):
        asyncio.run(scenario(served.url))


def test_a_flood_of_event_streams_leaves_every_endpoint_and_readiness_answering(runtime):
    runtime.publish(basic_flows.chain_flow("flood"))
    job_id = runtime.submit("flood", "source")
    tokens = {f"viewer-{k}": "viewer" for k in range(5)}
    for served in run_console(runtime, tokens):
        async def flood() -> list[int]:
            async with httpx.AsyncClient(base_url=served.url, timeout=60, limits=httpx.Limits(max_connections=None)) as client:
                async def one(token: str) -> Any:
                    request = client.build_request("GET", f"/api/jobs/{job_id}/events",
                                                   headers={"Authorization": f"Bearer {token}"})
                    return await client.send(request, stream=True)

                streams = await asyncio.gather(*(one(t) for t in tokens for _ in range(32)))
                await asyncio.sleep(BLOCK_WAIT_S)  # every stream is now blocked in XREAD on a connection
                reader = {"Authorization": f"Bearer {next(iter(tokens))}"}
                answers = [await client.get(path, headers=reader) for path in (
                    "/api/jobs", f"/api/jobs/{job_id}", "/api/flows", "/api/workers", "/health/ready")]
                for stream in streams:
                    await stream.aclose()
                return [s.status_code for s in streams] + [a.status_code for a in answers]

        statuses = asyncio.run(flood())
        assert statuses[:160] == [200] * 160 and statuses[160:] == [200] * 5, statuses[160:]


BLOCK_WAIT_S = 1.5


# -- configuration ----------------------------------------------------------------------------------

def test_a_redis_pool_too_small_for_the_stream_bound_is_refused_at_startup(settings):
    small = DistributedRuntime(settings=settings.with_(redis_max_connections=100))
    try:
        with pytest.raises(ServerConfigError, match="ROUTILUX_REDIS_MAX_CONNECTIONS=100"):
            create_app(small, ServerSettings(max_streams=200))
        create_app(small, ServerSettings(max_streams=50))
    finally:
        small.close()
    env = {"ROUTILUX_SERVER_MAX_STREAMS": "300", "ROUTILUX_SERVER_MAX_STREAMS_PER_TOKEN": "5",
           "ROUTILUX_SERVER_MAX_BODY_BYTES": "4096"}
    read = ServerSettings.from_env(env)
    assert (read.max_streams, read.max_streams_per_token, read.max_body_bytes) == (300, 5, 4096)
    with pytest.raises(ServerConfigError):
        ServerSettings.from_env({"ROUTILUX_SERVER_MAX_STREAMS": "many"})
    with pytest.raises(ServerConfigError):
        ServerSettings(max_body_bytes=0)


# -- flow ids ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("flow_id", ["team/flow", "pay\u202eyap", "a\u200bb", "line\nbreak", "x" * 201])
def test_publish_refuses_a_flow_id_the_console_could_not_open_or_show_truthfully(runtime, flow_id):
    with pytest.raises(FlowValidationError, match="flow id"):
        runtime.publish(basic_flows.chain_flow(flow_id))
    assert runtime.flows() == []


def test_the_api_refuses_the_same_flow_ids_with_a_typed_422(runtime, console):
    runtime.publish(basic_flows.chain_flow("x" * 200))
    assert console.http.get(f"/api/flows/{'x' * 200}").status_code == 200
    for bad in ("pay\u202eyap", "a\u2066b", "tab\tbed"):
        opened = console.http.get(f"/api/flows/{quote(bad)}")
        assert opened.status_code == 422 and error_type(opened) == "FlowValidationError", bad
        submitted = console.http.post("/api/jobs", json={"flow": bad, "entry": "source"})
        assert submitted.status_code == 422 and error_type(submitted) == "ValidationError", bad
        assert console.http.get("/api/jobs", params={"flow": bad}).status_code == 422
    assert runtime.jobs() == []


def test_routilux_server_with_a_pool_too_small_for_its_streams_exits_with_a_usage_error(settings):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "ROUTILUX_REDIS_URL": settings.redis_url,
           "ROUTILUX_REDIS_MAX_CONNECTIONS": "100", "ROUTILUX_SERVER_MAX_STREAMS": "200"}
    done = subprocess.run([sys.executable, "-m", "routilux.cli", "server", "--port", str(free_port())],
                          capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert "ROUTILUX_REDIS_MAX_CONNECTIONS=100 is too few" in done.stderr and "Traceback" not in done.stderr


def test_a_configured_cors_origin_may_still_write_and_refusals_show_in_the_metrics(runtime):
    runtime.publish(basic_flows.chain_flow("cors-ok"))
    job_id = runtime.submit("cors-ok", "source")
    allowed = "https://ops.example"
    for served in run_console(runtime, cors_origins=(allowed,)):
        preflight = served.http.options(f"/api/jobs/{job_id}/cancel", headers={
            "Origin": allowed, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
        assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == allowed
        assert served.http.post(f"/api/jobs/{job_id}/cancel", json={}, headers={"Origin": allowed}).status_code == 200
        assert served.http.get("/api/jobs", headers={"Origin": "https://other.example"}).status_code == 403
        assert 'route="other",status="403"} 1' in served.http.get("/metrics").text
    assert runtime.get_job(job_id).status == "cancelled"


def test_routilux_publish_of_a_spec_whose_flow_id_has_a_slash_exits_with_the_reason(runtime, settings, monkeypatch,
                                                                                    capsys, tmp_path):
    monkeypatch.setenv("ROUTILUX_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("ROUTILUX_KEY_PREFIX", settings.key_prefix)
    spec = (ROOT / "examples" / "orders.yaml").read_text().replace("flow_id: orders", "flow_id: team/orders")
    (tmp_path / "slash.yaml").write_text(spec)
    capsys.readouterr()
    assert main(["publish", str(tmp_path / "slash.yaml"), "--import", "examples.orders"]) != 0
    err = capsys.readouterr().err
    assert "no '/', control or bidi characters in a flow id" in err and "Traceback" not in err
    assert runtime.flows() == []
