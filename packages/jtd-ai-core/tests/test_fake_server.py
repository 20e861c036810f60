"""The fake provider server answers each protocol, records requests and injects faults."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from jtd_ai.testing import FakeProviderServer, Fault

KEY = "sk-fake-server-key-01"


@pytest.fixture(scope="module")
def server():
    with FakeProviderServer(api_key=KEY) as running:
        yield running


@pytest.fixture
def client(server: FakeProviderServer):
    server.clear_faults()
    with httpx.Client(base_url=server.url, timeout=5) as http:
        yield http


def openai_chat(client: httpx.Client, **body) -> httpx.Response:
    payload = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi there"}],
               **body}
    return client.post("/v1/chat/completions", json=payload,
                       headers={"authorization": f"Bearer {KEY}"})


def sse_data(text: str) -> list[str]:
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]


def test_openai_chat_reply(client) -> None:
    data = openai_chat(client).json()
    assert data["choices"][0]["message"]["content"] == "echo: hi there"
    assert data["usage"]["prompt_tokens"] == 2
    assert data["usage"]["completion_tokens"] == 3
    assert data["choices"][0]["finish_reason"] == "stop"


def test_openai_stream_with_usage_and_done(client) -> None:
    response = openai_chat(client, stream=True, stream_options={"include_usage": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_data(response.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "echo: hi there"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 3


def test_openai_tool_call_then_tool_result(client) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    first = openai_chat(client, tools=tools).json()["choices"][0]
    assert first["finish_reason"] == "tool_calls"
    call = first["message"]["tool_calls"][0]
    assert call["function"]["name"] == "lookup"
    assert json.loads(call["function"]["arguments"]) == {"query": "hi there"}
    messages = [{"role": "user", "content": "hi there"}, first["message"],
                {"role": "tool", "tool_call_id": call["id"], "content": "42"}]
    second = openai_chat(client, tools=tools, messages=messages).json()["choices"][0]
    assert second["message"]["content"] == "tool said: 42"


def test_openai_wrong_key_and_missing_model(client) -> None:
    bad = client.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": []},
                      headers={"authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "invalid_api_key"
    missing = openai_chat(client, model="gpt-missing")
    assert missing.status_code == 404


def test_gemini_generate_and_stream(client) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hello gemini"}]}]}
    headers = {"x-goog-api-key": KEY}
    plain = client.post("/v1beta/models/gemini-2.5-flash:generateContent", json=body,
                        headers=headers).json()
    assert plain["candidates"][0]["content"]["parts"][0]["text"] == "echo: hello gemini"
    assert plain["usageMetadata"]["candidatesTokenCount"] == 3
    stream = client.post("/v1beta/models/gemini-2.5-flash:streamGenerateContent",
                         params={"alt": "sse"}, json=body, headers=headers)
    chunks = [json.loads(e) for e in sse_data(stream.text)]
    text = "".join(p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"])
    assert text == "echo: hello gemini"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert "\r\n\r\n" in stream.text


def test_gemini_models_are_paginated_and_bad_key_is_400(client) -> None:
    headers = {"x-goog-api-key": KEY}
    names, token = [], None
    while True:
        page = client.get("/v1beta/models", params={"pageToken": token} if token else {},
                          headers=headers).json()
        names += [m["name"] for m in page["models"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert len(names) == 4
    bad = client.get("/v1beta/models", headers={"x-goog-api-key": "wrong"})
    assert bad.status_code == 400
    assert bad.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"


def test_ollama_ndjson_stream_and_plain(client) -> None:
    body = {"model": "llama3.2:latest", "messages": [{"role": "user", "content": "hey you"}]}
    lines = [json.loads(line) for line in client.post("/api/chat", json=body).text.splitlines()]
    assert "".join(line["message"]["content"] for line in lines) == "echo: hey you"
    assert lines[-1]["done"] is True
    assert lines[-1]["eval_count"] == 3
    plain = client.post("/api/chat", json={**body, "stream": False}).json()
    assert plain["message"]["content"] == "echo: hey you"
    assert client.get("/api/version").json()["version"]
    missing = client.post("/api/chat", json={**body, "model": "missing:latest"})
    assert missing.status_code == 404
    assert "not found" in missing.json()["error"]


def test_injected_faults_apply_once(server, client) -> None:
    server.inject(Fault(status=429, retry_after="2"))
    limited = openai_chat(client)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    assert openai_chat(client).status_code == 200


def test_fault_header_and_malformed_body(client) -> None:
    response = client.post(
        "/v1/chat/completions", json={"model": "m", "messages": []},
        headers={"authorization": f"Bearer {KEY}", "x-fake-fault": "malformed=1"})
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_connection_reset_mid_stream(server, client) -> None:
    server.inject(Fault(reset_after=2))
    with pytest.raises(httpx.HTTPError):
        openai_chat(client, stream=True).read()


def test_slow_first_byte(server, client) -> None:
    server.inject(Fault(delay=0.3))
    started = time.monotonic()
    assert openai_chat(client).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_stream_that_never_ends_times_out(server) -> None:
    server.inject(Fault(hang=True))
    with httpx.Client(base_url=server.url, timeout=httpx.Timeout(5, read=0.3)) as client, \
            pytest.raises(httpx.ReadTimeout):
        openai_chat(client, stream=True).read()


def test_requests_are_recorded(server, client) -> None:
    server.requests.clear()
    openai_chat(client)
    (recorded,) = list(server.requests)
    assert recorded.path == "/v1/chat/completions"
    assert recorded.json()["model"] == "gpt-4o-mini"
    # The key is never kept; whether it was the server's key is.
    assert recorded.headers["authorization"] == "Bearer [REDACTED]"
    assert recorded.authorized is True


def test_fault_matches_body_and_carries_message_and_headers(server, client) -> None:
    server.inject(Fault(status=503, body_contains="#0002.", message="busy now",
                        headers={"retry-after-ms": "250"}), times=2)
    assert openai_chat(client, messages=[{"role": "user", "content": "item #0001."}]
                       ).status_code == 200
    second = openai_chat(client, messages=[{"role": "user", "content": "item #0002."}])
    assert second.status_code == 503
    assert second.json()["error"]["message"] == "busy now"
    assert second.headers["retry-after-ms"] == "250"
    assert openai_chat(client, messages=[{"role": "user", "content": "item #0002."}]
                       ).status_code == 503
    assert openai_chat(client, messages=[{"role": "user", "content": "item #0002."}]
                       ).status_code == 200


def test_stall_after_events_keeps_the_connection_open(server) -> None:
    server.inject(Fault(stall_after=2))
    received: list[str] = []
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "a b c"}]}
    with httpx.Client(base_url=server.url, timeout=httpx.Timeout(5, read=0.3)) as client, \
            pytest.raises(httpx.ReadTimeout), \
            client.stream("POST", "/v1/chat/completions", json=body,
                          headers={"authorization": f"Bearer {KEY}"}) as response:
        received.extend(line for line in response.iter_lines() if line)
    assert len(received) == 2


def test_reset_after_bytes_cuts_a_plain_body(server, client) -> None:
    server.inject(Fault(reset_after_bytes=10))
    with pytest.raises(httpx.RemoteProtocolError):
        openai_chat(client)
    assert openai_chat(client).status_code == 200


def test_interval_spaces_stream_events(server, client) -> None:
    server.inject(Fault(interval=0.05))
    started = time.monotonic()
    response = openai_chat(client, stream=True)
    # A role event, three words, the finish and [DONE]: five gaps of 50 ms.
    assert len(sse_data(response.text)) == 6
    assert time.monotonic() - started >= 0.25


def test_fault_header_reads_the_new_keys() -> None:
    fault = Fault.from_header("stall_after=2;reset_after_bytes=40;interval=0.1;message=no")
    assert (fault.stall_after, fault.reset_after_bytes, fault.interval, fault.message) == (
        2, 40, 0.1, "no")


def test_gemini_quota_kind_and_ollama_key_check(server, client) -> None:
    server.inject(Fault(status=429, kind="insufficient_quota"))
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    error = client.post("/v1beta/models/gemini-2.5-flash:generateContent", json=body,
                        headers={"x-goog-api-key": KEY}).json()["error"]
    assert "PerDay" in error["details"][0]["violations"][0]["quotaId"]
    chat = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}],
            "stream": False}
    assert client.post("/api/chat", json=chat).status_code == 200  # a local Ollama: no key
    assert client.post("/api/chat", json=chat,
                       headers={"authorization": f"Bearer {KEY}"}).status_code == 200
    assert client.post("/api/chat", json=chat,
                       headers={"authorization": "Bearer wrong"}).status_code == 401
