"""The fake provider server speaks real HTTP/1.1 (and 1.0), keeps every fault, answers closer
to the real captures, and records requests without their keys. Raw sockets and httpx on
loopback; every wait is bounded by a socket or client timeout."""

from __future__ import annotations

import hashlib
import http.client
import json
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from jtd_ai.testing import FakeProviderServer, Fault
from jtd_ai.testing.server import REDACTED

KEY = "sk-http-test-key-7f3a9c"
AUTH = {"authorization": f"Bearer {KEY}"}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "one two three"}]}
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hello gemini"}]}]}
WAIT = 3.0  # the longest any socket read here may block


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(api_key=KEY) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(server: FakeProviderServer) -> Iterator[None]:
    server.clear_faults()
    server.requests.clear()
    yield
    server.clear_faults()


@pytest.fixture
def client(server: FakeProviderServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=WAIT) as http:
        yield http


# -- raw HTTP helpers ------------------------------------------------------------------------


def connect(server: FakeProviderServer) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=WAIT)
    sock.settimeout(WAIT)
    return sock


def request_bytes(method: str, path: str, body: bytes = b"", *, version: str = "1.1",
                  headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: 127.0.0.1",
             f"Content-Length: {len(body)}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by WAIT)."""
    data = b""
    while True:
        try:
            piece = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not piece:
            return data
        data += piece


def read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The head of one response (through the blank line), and what came after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        assert piece, f"connection closed inside the head: {data!r}"
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def header(head: bytes, name: str) -> str | None:
    for line in head.decode("latin-1").split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def dechunk(raw: bytes) -> bytes:
    """The payload of a complete chunked body."""
    out = b""
    while True:
        size_line, _, raw = raw.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return out
        out, raw = out + raw[:size], raw[size + 2:]


def sse_data(text: str) -> list[str]:
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]


def chat(client: httpx.Client, **extra: object) -> httpx.Response:
    return client.post("/v1/chat/completions", json={**CHAT, **extra}, headers=AUTH)


def collect_raw(response: httpx.Response) -> tuple[bytes, BaseException | None]:
    """The body bytes that arrived before the stream ended or broke, and the error."""
    got = b""
    try:
        for piece in response.iter_raw():
            got += piece
    except httpx.HTTPError as exc:
        return got, exc
    return got, None


# -- HTTP/1.1 as real clients speak it --------------------------------------------------------


def test_chunked_request_body_is_read_whole(server: FakeProviderServer,
                                            client: httpx.Client) -> None:
    body = json.dumps(CHAT).encode()
    pieces = iter([body[:7], body[7:30], body[30:]])  # no length known: httpx sends chunks
    response = client.post("/v1/chat/completions", content=pieces,
                           headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "echo: one two three"
    (recorded,) = server.requests
    assert recorded.headers["transfer-encoding"] == "chunked"
    assert recorded.body == body


def test_expect_100_continue_is_answered_before_the_body(server: FakeProviderServer) -> None:
    body = json.dumps({**CHAT, "stream": False}).encode()
    with connect(server) as sock:
        whole = request_bytes("POST", "/v1/chat/completions", body,
                              headers={**AUTH, "Expect": "100-continue"})
        sock.sendall(whole[:-len(body)])  # the head alone
        interim = sock.recv(65536)  # the server must speak first: the body is not sent yet
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")
        sock.sendall(body)
        head, rest = read_head(sock)
        assert head.startswith(b"HTTP/1.1 200")
        length = int(header(head, "content-length") or 0)
        while len(rest) < length:
            rest += sock.recv(65536)
    assert json.loads(rest)["choices"][0]["message"]["content"] == "echo: one two three"


def test_http_1_0_client_gets_a_whole_reply_then_close(server: FakeProviderServer) -> None:
    body = json.dumps({"model": "llama3.2", "stream": False,
                       "messages": [{"role": "user", "content": "old client"}]}).encode()
    with connect(server) as sock:
        sock.sendall(request_bytes("POST", "/api/chat", body, version="1.0"))
        reply = read_until_closed(sock)
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200")
    assert json.loads(payload)["message"]["content"] == "echo: old client"


def test_http_1_0_stream_is_not_chunked_and_ends_with_the_connection(
        server: FakeProviderServer) -> None:
    body = json.dumps({"model": "llama3.2",
                       "messages": [{"role": "user", "content": "old stream"}]}).encode()
    with connect(server) as sock:
        sock.sendall(request_bytes("POST", "/api/chat", body, version="1.0"))
        reply = read_until_closed(sock)
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert header(head, "transfer-encoding") is None
    lines = [json.loads(line) for line in payload.splitlines()]
    assert "".join(line["message"]["content"] for line in lines) == "echo: old stream"
    assert lines[-1]["done"] is True


def test_keep_alive_serves_several_requests_on_one_connection(
        server: FakeProviderServer) -> None:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=WAIT)
    try:
        answers = []
        sockets = []
        for word in ("first", "second", "third"):
            body = json.dumps({**CHAT, "messages": [{"role": "user", "content": word}]})
            conn.request("POST", "/v1/chat/completions", body=body,
                         headers={**AUTH, "content-type": "application/json"})
            response = conn.getresponse()
            answers.append(json.loads(response.read())["choices"][0]["message"]["content"])
            sockets.append(conn.sock)
    finally:
        conn.close()
    assert answers == ["echo: first", "echo: second", "echo: third"]
    assert sockets[0] is not None and all(s is sockets[0] for s in sockets)


def test_streamed_reply_is_chunked_over_http_1_1(server: FakeProviderServer) -> None:
    body = json.dumps({**CHAT, "stream": True}).encode()
    with connect(server) as sock:
        sock.sendall(request_bytes("POST", "/v1/chat/completions", body,
                                   headers={**AUTH, "Connection": "close"}))
        reply = read_until_closed(sock)
    head, _, raw = reply.partition(b"\r\n\r\n")
    assert header(head, "transfer-encoding") == "chunked"
    assert header(head, "content-type") == "text/event-stream; charset=utf-8"
    assert sse_data(dechunk(raw).decode())[-1] == "[DONE]"


# -- every fault, seen on the wire --------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_reset_after_zero_drops_before_any_byte(server: FakeProviderServer,
                                                stream: bool) -> None:
    server.inject(Fault(reset_after=0))
    body = json.dumps({**CHAT, "stream": stream}).encode()
    with connect(server) as sock:
        sock.sendall(request_bytes("POST", "/v1/chat/completions", body, headers=AUTH))
        assert read_until_closed(sock) == b""
    assert len(server.requests) == 1


def test_reset_after_events_cuts_the_stream_between_events(server: FakeProviderServer,
                                                           client: httpx.Client) -> None:
    server.inject(Fault(reset_after=2))
    with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True},
                       headers=AUTH) as response:
        got, error = collect_raw(response)
    assert isinstance(error, httpx.RemoteProtocolError)
    events = sse_data(got.decode())
    assert len(events) == 2  # the role event, then "echo:"
    assert json.loads(events[1])["choices"][0]["delta"]["content"] == "echo:"


@pytest.mark.parametrize("stream", [False, True])
def test_reset_after_bytes_delivers_exactly_that_many_body_bytes(
        server: FakeProviderServer, client: httpx.Client, stream: bool) -> None:
    server.inject(Fault(reset_after_bytes=20))  # inside the id, the same in every reply
    with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": stream},
                       headers=AUTH) as response:
        assert response.status_code == 200
        got, error = collect_raw(response)
    assert isinstance(error, httpx.RemoteProtocolError)
    assert got == chat(client, stream=stream).content[:20]


def test_stall_after_on_a_plain_reply_sends_the_head_only(server: FakeProviderServer) -> None:
    server.inject(Fault(stall_after=0))
    with connect(server) as sock:
        sock.sendall(request_bytes("POST", "/v1/chat/completions", json.dumps(CHAT).encode(),
                                   headers=AUTH))
        head, rest = read_head(sock)
        assert head.startswith(b"HTTP/1.1 200")
        assert int(header(head, "content-length") or 0) > 0
        assert rest == b""
        ready, _, _ = select.select([sock], [], [], 0.3)
        assert ready == []  # silence, with the connection still open


def test_stall_after_events_then_silence(server: FakeProviderServer) -> None:
    server.inject(Fault(stall_after=3))
    with httpx.Client(base_url=server.url, timeout=httpx.Timeout(WAIT, read=0.3)) as client, \
            client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True},
                          headers=AUTH) as response:
        got, error = collect_raw(response)
    assert isinstance(error, httpx.ReadTimeout)
    assert len(sse_data(got.decode())) == 3


def test_hang_sends_every_event_but_never_ends(server: FakeProviderServer) -> None:
    server.inject(Fault(hang=True))
    with httpx.Client(base_url=server.url, timeout=httpx.Timeout(WAIT, read=0.3)) as client, \
            client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True},
                          headers=AUTH) as response:
        got, error = collect_raw(response)
    assert isinstance(error, httpx.ReadTimeout)
    assert sse_data(got.decode())[-1] == "[DONE]"


def test_stop_closes_stalled_connections_promptly() -> None:
    stalled = FakeProviderServer().start()
    stalled.inject(Fault(stall_after=1))
    sock = connect(stalled)
    try:
        sock.sendall(request_bytes("POST", "/v1/chat/completions",
                                   json.dumps({**CHAT, "stream": True}).encode()))
        read_head(sock)
        started = time.monotonic()
        stalled.stop()
        assert time.monotonic() - started < 2.5
        # Closed, not left hanging (a hanging socket would time out here), and not ended.
        assert b"[DONE]" not in read_until_closed(sock)
    finally:
        sock.close()


def test_delay_holds_back_the_first_byte(server: FakeProviderServer,
                                         client: httpx.Client) -> None:
    server.inject(Fault(delay=0.25))
    started = time.monotonic()
    assert chat(client).status_code == 200
    assert time.monotonic() - started >= 0.25


def test_interval_spaces_each_event(server: FakeProviderServer) -> None:
    server.inject(Fault(interval=0.06))
    arrivals: list[float] = []
    with httpx.Client(base_url=server.url, timeout=WAIT) as client, \
            client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True},
                          headers=AUTH) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.monotonic())
    # role, "echo:", " one", " two", " three", finish, [DONE]: six gaps of at least 60 ms
    assert len(arrivals) == 7
    assert arrivals[-1] - arrivals[0] >= 6 * 0.06 - 0.01


def test_status_fault_with_kind_message_retry_after_and_headers(
        server: FakeProviderServer, client: httpx.Client) -> None:
    server.inject(Fault(status=429, retry_after="3", kind="insufficient_quota",
                        message="out of credit", headers={"x-should-retry": "false"}))
    response = chat(client)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.headers["x-should-retry"] == "false"
    assert response.json()["error"] == {"message": "out of credit", "type": "insufficient_quota",
                                        "param": None, "code": "insufficient_quota"}


def test_malformed_plain_and_stream(server: FakeProviderServer, client: httpx.Client) -> None:
    server.inject(Fault(malformed=True), times=2)
    plain = chat(client)
    assert plain.status_code == 200
    assert plain.content == b"{not json"
    events = sse_data(chat(client, stream=True).text)
    json.loads(events[0])
    with pytest.raises(json.JSONDecodeError):
        json.loads(events[1])


def test_path_and_body_matching_pick_the_request(server: FakeProviderServer,
                                                 client: httpx.Client) -> None:
    server.inject(Fault(status=503, path_contains="/api/"))
    server.inject(Fault(status=500, body_contains="pick me"))
    assert chat(client).status_code == 200
    assert chat(client, messages=[{"role": "user", "content": "pick me"}]).status_code == 500
    ollama = client.post("/api/chat", json={"model": "llama3.2", "stream": False,
                                            "messages": [{"role": "user", "content": "x"}]})
    assert ollama.status_code == 503
    assert ollama.json() == {"error": "fake fault: HTTP 503"}


def test_fault_header_with_reply_headers(client: httpx.Client) -> None:
    response = client.post("/v1/chat/completions", json=CHAT, headers={
        **AUTH, "x-fake-fault": "status=503;message=busy;header.retry-after-ms=250"})
    assert response.status_code == 503
    assert response.headers["retry-after-ms"] == "250"
    assert response.json()["error"]["message"] == "busy"


def test_bad_fault_header_is_a_400(client: httpx.Client) -> None:
    response = client.post("/v1/chat/completions", json=CHAT,
                           headers={**AUTH, "x-fake-fault": "status=soon"})
    assert response.status_code == 400
    assert "x-fake-fault" in response.json()["error"]


# -- closer to the real providers ---------------------------------------------------------------


def test_openai_chunks_carry_usage_null_tier_and_fingerprint(client: httpx.Client) -> None:
    chunks = [json.loads(e) for e in sse_data(chat(
        client, stream=True, stream_options={"include_usage": True}).text)[:-1]]
    assert all(c["model"] == "gpt-4o-mini-2024-07-18" for c in chunks)
    assert all(c["service_tier"] == "default" and c["system_fingerprint"] for c in chunks)
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 3
    assert chunks[-1]["usage"]["completion_tokens"] == 4
    without = [json.loads(e) for e in sse_data(chat(client, stream=True).text)[:-1]]
    assert all("usage" not in c for c in without)


def test_openai_plain_reply_names_the_dated_snapshot(client: httpx.Client) -> None:
    response = chat(client)
    assert response.text.startswith('{\n  "id": ')  # pretty-printed, as OpenAI sends it
    data = response.json()
    assert data["model"] == "gpt-4o-mini-2024-07-18"
    assert data["service_tier"] == "default"
    assert data["usage"]["total_tokens"] == 7


def test_xai_models_keep_xais_shape(client: httpx.Client) -> None:
    chunks = [json.loads(e) for e in sse_data(chat(
        client, model="grok-3-mini", stream=True,
        stream_options={"include_usage": True}).text)[:-1]]
    assert {c["model"] for c in chunks} == {"grok-3-mini"}
    assert all("service_tier" not in c and "obfuscation" not in c for c in chunks)
    assert all("usage" not in c for c in chunks[:-1])
    assert chunks[-1]["usage"]["completion_tokens"] == 4


def test_gemini_stream_without_alt_sse_is_a_json_array(client: httpx.Client) -> None:
    response = client.post("/v1beta/models/gemini-2.5-flash:streamGenerateContent",
                           json=GEMINI_BODY, headers={"x-goog-api-key": KEY})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    raw = response.text
    assert raw.startswith("[{\n") and raw.endswith("\n]")
    assert "\n,\r\n{" in raw
    chunks = json.loads(raw)
    assert isinstance(chunks, list) and len(chunks) == 3
    text = "".join(p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"])
    assert text == "echo: hello gemini"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 3
    assert chunks[-1]["usageMetadata"]["promptTokenCount"] == 2


def test_gemini_sse_stream_has_crlf_framing_and_attachment(client: httpx.Client) -> None:
    response = client.post("/v1beta/models/gemini-2.5-flash:streamGenerateContent",
                           params={"alt": "sse"}, json=GEMINI_BODY,
                           headers={"x-goog-api-key": KEY})
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["content-disposition"] == "attachment"
    assert response.text.count("\r\n\r\n") == 3


def test_gemini_key_in_the_query(server: FakeProviderServer, client: httpx.Client) -> None:
    url = "/v1beta/models/gemini-2.5-flash:generateContent"
    ok = client.post(url, params={"key": KEY}, json=GEMINI_BODY)
    assert ok.status_code == 200
    assert ok.json()["candidates"][0]["content"]["parts"][0]["text"] == "echo: hello gemini"
    bad = client.post(url, params={"key": "AIzaWrong"}, json=GEMINI_BODY)
    assert bad.status_code == 400
    assert bad.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    first, second = server.requests
    assert (first.query, first.key_source, first.authorized) == ({"key": REDACTED}, "key", True)
    assert (second.query, second.authorized) == ({"key": REDACTED}, False)


def test_gemini_under_v1_for_a_google_key(client: httpx.Client) -> None:
    reply = client.post("/v1/models/gemini-2.5-flash:generateContent", json=GEMINI_BODY,
                        headers={"x-goog-api-key": KEY})
    assert reply.json()["usageMetadata"]["candidatesTokenCount"] == 3
    detail = client.get("/v1/models/gemini-2.5-pro", headers={"x-goog-api-key": KEY})
    assert detail.json()["name"] == "models/gemini-2.5-pro"


def test_ollama_streamed_tool_call_comes_on_a_done_false_line(client: httpx.Client) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    body = {"model": "llama3.2", "tools": tools,
            "messages": [{"role": "user", "content": "find cats"}]}
    response = client.post("/api/chat", json=body)
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == 2
    call, final = lines
    assert call["done"] is False
    assert call["message"]["tool_calls"] == [
        {"function": {"name": "lookup", "arguments": {"query": "find cats"}}}]
    assert final["done"] is True and final["done_reason"] == "stop"
    assert "tool_calls" not in final["message"]
    assert (final["prompt_eval_count"], final["eval_count"]) == (2, 3)


def test_ollama_ps_lists_loaded_models(client: httpx.Client) -> None:
    response = client.get("/api/ps")
    assert response.status_code == 200
    (model,) = response.json()["models"]
    assert model["name"] == model["model"] == "llama3.2:latest"
    assert model["context_length"] == 4096
    assert model["size_vram"] > 0 and model["expires_at"].startswith("2026-")
    assert model["details"]["quantization_level"] == "Q4_K_M"


# -- secrets are never recorded ---------------------------------------------------------------


def test_recorded_requests_mask_every_key(server: FakeProviderServer,
                                          client: httpx.Client) -> None:
    chat(client)
    client.post("/v1beta/models/gemini-2.5-flash:generateContent", json=GEMINI_BODY,
                headers={"x-goog-api-key": KEY})
    client.post("/v1/chat/completions", json=CHAT, headers={"api-key": KEY})
    client.post("/v1/chat/completions", json=CHAT, headers={"authorization": "Bearer wrong-one"})
    client.post("/v1beta/models/gemini-2.5-flash:countTokens", params={"key": KEY},
                json=GEMINI_BODY)
    recorded = list(server.requests)
    assert len(recorded) == 5
    assert KEY not in repr(recorded) and "wrong-one" not in repr(recorded)
    assert recorded[0].headers["authorization"] == f"Bearer {REDACTED}"
    assert recorded[1].headers["x-goog-api-key"] == REDACTED
    assert recorded[2].headers["api-key"] == REDACTED
    assert recorded[3].headers["authorization"] == f"Bearer {REDACTED}"
    assert recorded[4].query == {"key": REDACTED}
    assert [r.key_source for r in recorded] == [
        "authorization", "x-goog-api-key", "api-key", "authorization", "key"]
    assert [r.authorized for r in recorded] == [True, True, True, False, True]
    assert hashlib.sha256(KEY.encode()).hexdigest() not in repr(recorded)


def test_without_a_configured_key_nothing_is_judged() -> None:
    with FakeProviderServer() as open_server, httpx.Client(timeout=WAIT) as client:
        client.get(open_server.url + "/v1/models", headers={"authorization": "Bearer any"})
        client.get(open_server.url + "/api/tags")
        first, second = open_server.requests
    assert (first.authorized, first.key_source) == (None, "authorization")
    assert first.headers["authorization"] == f"Bearer {REDACTED}"
    assert (second.authorized, second.key_source) == (None, None)


# -- lifecycle -----------------------------------------------------------------------------------


async def test_async_context_manager_serves_in_the_running_loop() -> None:
    async with FakeProviderServer() as running, httpx.AsyncClient(timeout=WAIT) as client:
        reply = await client.post(running.url + "/api/chat", json={
            "model": "llama3.2", "stream": False,
            "messages": [{"role": "user", "content": "in loop"}]})
    assert reply.json()["message"]["content"] == "echo: in loop"


def test_module_entry_point_serves_on_the_given_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "jtd_ai.testing.server", "--port", str(port),
         "--api-key", KEY], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 20)
        assert ready, "the server printed nothing within 20 s"
        assert f"http://127.0.0.1:{port}" in process.stdout.readline()
        with httpx.Client(timeout=WAIT) as client:
            models = client.get(f"http://127.0.0.1:{port}/v1/models", headers=AUTH)
            unauthorized = client.get(f"http://127.0.0.1:{port}/v1/models")
        assert [m["id"] for m in models.json()["data"]] == ["gpt-4o-mini", "gpt-4o",
                                                            "gpt-5-mini"]
        assert unauthorized.status_code == 401
    finally:
        process.terminate()
        process.communicate(timeout=10)
