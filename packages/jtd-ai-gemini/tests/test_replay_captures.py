"""Replays every recorded Gemini capture in the shared wire folder through the driver.

Each file is used the way it was recorded: request bodies are turned back into a
ChatRequest and compared with what the driver builds from it; replies, streams, listings
and errors are fed to the driver and checked against what the capture itself says (read
here by a small independent reader, not by driver code). A file this module does not
recognise fails the test: teach :func:`kind_of` what it is. Skips when the folder is
absent (see the ``captures`` fixture in the repository's conftest.py).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from jtd_ai import (
    AIError,
    ChatRequest,
    ContentFilteredError,
    FinishReason,
    ImagePart,
    InvalidCredentialsError,
    Message,
    ModelKind,
    ModelNotFoundError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    Role,
    StreamInterruptedError,
    TextPart,
    TimeoutError,
    Tool,
    ToolCall,
)
from jtd_ai.protocol import StreamEvent
from jtd_ai.streaming import StreamAccumulator
from jtd_ai.testing import CaptureFolder, error_status, sidecar_headers
from jtd_ai.wire import HttpResponse
from jtd_ai_gemini.callids import make_call_id

MODEL = "gemini-2.5-flash"
FILTER_REASONS = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                  "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR"}
PROBABILITY = {"NEGLIGIBLE": 1, "LOW": 2, "MEDIUM": 3, "HIGH": 4}


def kind_of(path: Path) -> str | None:
    """What a capture file is, from its name; None when unknown."""
    name = path.name
    rules = [
        (r".+\.headers\.json", "headers"),
        (r"count_tokens_request.*\.json", "count_request"),
        (r"count_tokens_response.*\.json", "count_response"),
        (r"error_\d{3}.*\.json", "error"),
        (r"models_list.*\.json", "models"),
        (r"model_detail.*\.json", "model"),
        (r"stream_without_alt_sse.*\.json", "json_array_stream"),
        (r".+_request\.json", "chat_request"),
        (r".+_response\.json", "chat_response"),
        (r".+\.txt", "sse_stream"),
    ]
    return next((kind for pattern, kind in rules if re.fullmatch(pattern, name)), None)


@pytest.fixture
def folder(captures) -> CaptureFolder:
    return CaptureFolder(captures("gemini"), kind_of, recursive=True, skip_empty_kinds=True)


def test_every_capture_is_known(folder) -> None:
    folder.check_every_file_is_known()


# -- requests ------------------------------------------------------------------------------


def request_from_wire(body: dict[str, Any], model: str = MODEL) -> ChatRequest:
    """The ChatRequest a user would write to get ``body`` (the inverse of the driver)."""
    body = copy.deepcopy(body)
    messages: list[Message] = []
    system = body.pop("systemInstruction", None)
    if system:
        messages.append(Message(Role.SYSTEM, [TextPart(p["text"]) for p in system["parts"]]))
    last_calls: list[ToolCall] = []
    for content in body.pop("contents"):
        parts = content["parts"]
        if content.get("role", "user") == "model":
            text = "".join(p.get("text", "") for p in parts
                           if "text" in p and not p.get("thought"))
            calls = []
            for p in (p for p in parts if "functionCall" in p):
                call = p["functionCall"]
                arguments = json.dumps(call.get("args", {}), ensure_ascii=False)
                signature = p.get("thoughtSignature")
                calls.append(ToolCall(make_call_id(
                    index=len(calls), name=call["name"], arguments=arguments,
                    given=call.get("id")), call["name"], arguments,
                    metadata={"thought_signature": signature} if signature else {}))
            messages.append(Message.assistant(text, tool_calls=calls))
            last_calls = calls
        elif all("functionResponse" in p for p in parts):
            for p in parts:
                result = p["functionResponse"]
                call_id = result.get("id") or next(
                    c.id for c in last_calls if c.name == result["name"])
                messages.append(Message.tool(result["response"], call_id=call_id,
                                             name=result["name"]))
        else:
            user_parts: list[Any] = []
            for p in parts:
                if "text" in p:
                    user_parts.append(TextPart(p["text"]))
                elif "inlineData" in p:
                    user_parts.append(ImagePart(data=p["inlineData"]["data"],
                                                media_type=p["inlineData"]["mimeType"]))
                elif "fileData" in p:
                    user_parts.append(ImagePart(url=p["fileData"]["fileUri"],
                                                media_type=p["fileData"].get("mimeType")))
                else:
                    raise AssertionError(f"user part this test cannot express: {p}")
            messages.append(Message(Role.USER, user_parts))
    options: dict[str, Any] = {}
    generation = body.pop("generationConfig", {})
    for wire_name, ours in (("temperature", "temperature"), ("topP", "top_p"),
                            ("maxOutputTokens", "max_tokens"), ("stopSequences", "stop"),
                            ("seed", "seed")):
        if wire_name in generation:
            options[ours] = generation.pop(wire_name)
    if generation.get("responseMimeType") == "application/json":
        generation.pop("responseMimeType")
        schema = generation.pop("responseSchema", None) or generation.pop(
            "responseJsonSchema", None)
        options["response_format"] = schema if schema is not None else "json"
    declarations = [d for t in body.pop("tools", []) for d in t.get("functionDeclarations", [])]
    if declarations:
        options["tools"] = [
            Tool(d["name"], d.get("description", ""),
                 d.get("parameters") or d.get("parametersJsonSchema")
                 or {"type": "object", "properties": {}})
            for d in declarations]
    calling = body.pop("toolConfig", {}).get("functionCallingConfig")
    if calling:
        allowed = calling.get("allowedFunctionNames") or []
        options["tool_choice"] = (allowed[0] if len(allowed) == 1 else
                                  {"AUTO": "auto", "NONE": "none", "ANY": "required"}[
                                      calling["mode"]])
    extra = dict(body)
    if generation:
        extra["generationConfig"] = generation
    return ChatRequest.build(messages, model, extra=extra, **options)


def normalise(body: dict[str, Any]) -> dict[str, Any]:
    """Differences that carry no meaning, or that our Message cannot hold, removed:
    the ignored role of systemInstruction, a missing content role (= user), thought parts
    and text-part signatures in model turns (jtd-ai does not replay thoughts), empty text
    parts, and text split over several adjacent parts."""
    body = copy.deepcopy(body)
    if "systemInstruction" in body:
        body["systemInstruction"].pop("role", None)
    for content in body.get("contents", []):
        content.setdefault("role", "user")
        if content["role"] != "model":
            continue
        merged: list[dict[str, Any]] = []
        for part in content["parts"]:
            if part.get("thought") or part.get("text") == "":
                continue
            if "text" in part:
                part = {"text": part["text"]}
                if merged and set(merged[-1]) == {"text"}:
                    merged[-1] = {"text": merged[-1]["text"] + part["text"]}
                    continue
            merged.append(part)
        content["parts"] = merged
    return body


def test_chat_requests_match_what_the_driver_builds(folder, gemini) -> None:
    driver, _ = gemini()
    for path in folder.files("chat_request"):
        captured = json.loads(path.read_text())
        stream = "stream" in path.stem
        built = driver.protocol.chat_request(request_from_wire(captured), stream=stream)
        assert normalise(built.json) == normalise(captured), path.name
        method = "streamGenerateContent" if stream else "generateContent"
        assert built.path == f"/models/{MODEL}:{method}", path.name
        assert dict(built.params) == ({"alt": "sse"} if stream else {}), path.name


def test_count_tokens_requests(folder, gemini) -> None:
    driver, _ = gemini()
    for path in folder.files("count_request"):
        captured = json.loads(path.read_text())
        if "generateContentRequest" in captured:
            inner = dict(captured["generateContentRequest"])
            model = inner.pop("model").removeprefix("models/")
            request = request_from_wire(inner, model)
        else:
            request = request_from_wire(captured)
        built = driver.protocol.count_tokens_request(request)
        assert normalise(built.json) == normalise(captured), path.name
        assert built.path.endswith(":countTokens")


def test_count_tokens_responses(folder, gemini) -> None:
    driver, _ = gemini()
    for path in folder.files("count_response"):
        captured = json.loads(path.read_text())
        response = HttpResponse(200, {}, path.read_bytes())
        assert driver.protocol.parse_count_tokens(response) == captured["totalTokens"], path.name


# -- replies and streams ---------------------------------------------------------------------


def expected_from_chunks(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """What a reply made of ``chunks`` says, read straight from the JSON."""
    text, reasoning, calls, finish, usage, blocked = "", "", [], None, None, None
    for chunk in chunks:
        if chunk.get("promptFeedback", {}).get("blockReason"):
            blocked = chunk["promptFeedback"]
        for cand in chunk.get("candidates", [])[:1]:
            for part in cand.get("content", {}).get("parts", []):
                if "functionCall" in part:
                    calls.append((part["functionCall"]["name"],
                                  part["functionCall"].get("args", {})))
                elif part.get("thought"):
                    reasoning += part.get("text", "")
                else:
                    text += part.get("text", "")
            finish = cand.get("finishReason", finish)
        meta = chunk.get("usageMetadata")
        if meta is not None:
            usage = (meta.get("promptTokenCount", 0) + meta.get("toolUsePromptTokenCount", 0),
                     meta.get("candidatesTokenCount", 0) + meta.get("thoughtsTokenCount", 0),
                     meta.get("cachedContentTokenCount", 0), meta.get("thoughtsTokenCount", 0))
        candidate = chunk.get("candidates", [{}])[0] if chunk.get("candidates") else {}
        ratings = candidate.get("safetyRatings", [])
    return {"text": text, "reasoning": reasoning, "calls": calls, "finish": finish,
            "usage": usage, "blocked": blocked, "ratings": ratings}


def allowed_categories(ratings: list[dict[str, Any]], fallback: str) -> set[str]:
    blocked = {r["category"] for r in ratings if r.get("blocked")}
    if blocked:
        return blocked
    top = max((PROBABILITY.get(r.get("probability"), 0) for r in ratings), default=0)
    if top >= PROBABILITY["MEDIUM"]:
        return {r["category"] for r in ratings if PROBABILITY.get(r.get("probability")) == top}
    return {fallback}


def our_finish(raw: str, has_calls: bool) -> FinishReason:
    table = {"STOP": FinishReason.TOOL_CALLS if has_calls else FinishReason.STOP,
             "MAX_TOKENS": FinishReason.LENGTH,
             "MALFORMED_FUNCTION_CALL": FinishReason.ERROR,
             "UNEXPECTED_TOOL_CALL": FinishReason.ERROR,
             "TOO_MANY_TOOL_CALLS": FinishReason.ERROR}
    return table.get(raw, FinishReason.OTHER)


def check_outcome(name: str, expected: dict[str, Any], run: Any) -> None:
    """Run the driver on a capture and check the reply (or the error) against ``expected``."""
    if expected["blocked"] is not None:
        feedback = expected["blocked"]
        with pytest.raises(ContentFilteredError) as info:
            run()
        assert info.value.category in allowed_categories(
            feedback.get("safetyRatings", []), feedback["blockReason"]), name
        return
    if expected["finish"] in FILTER_REASONS:
        with pytest.raises(ContentFilteredError) as info:
            run()
        assert info.value.category in allowed_categories(expected["ratings"],
                                                         expected["finish"]), name
        assert info.value.partial is not None, name
        assert info.value.partial.content == expected["text"], name
        return
    if expected["finish"] is None:
        with pytest.raises(StreamInterruptedError) as info:
            run()
        assert info.value.partial is not None and info.value.partial.content == expected["text"]
        return
    reply = run()
    assert reply.content == expected["text"], name
    assert (reply.reasoning or "") == expected["reasoning"], name
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == expected["calls"]
    assert len({c.id for c in reply.tool_calls}) == len(reply.tool_calls), name
    assert reply.finish_reason is our_finish(expected["finish"], bool(expected["calls"])), name
    if expected["usage"] is None:
        assert reply.usage is None, name
    else:
        usage = reply.usage
        assert (usage.input_tokens, usage.output_tokens, usage.cached_input_tokens,
                usage.reasoning_tokens) == expected["usage"], name


def test_chat_responses(folder, gemini) -> None:
    for path in folder.files("chat_response"):
        data = json.loads(path.read_text())
        driver, _ = gemini(httpx.Response(200, content=path.read_bytes(),
                                          headers={"content-type": "application/json"}))
        expected = expected_from_chunks([data])
        if not data.get("candidates") and expected["blocked"] is None:
            pytest.fail(f"{path.name}: a reply with neither candidates nor promptFeedback")
        check_outcome(path.name, expected, lambda d=driver: d.send_message("replay"))


def sse_events(raw: bytes) -> list[dict[str, Any]]:
    """The JSON of each ``data:`` event, framed here independently of the core."""
    text = raw.decode().replace("\r\n", "\n")
    events = []
    for block in text.split("\n\n"):
        data = [line[5:].lstrip(" ") for line in block.split("\n") if line.startswith("data:")]
        if data:
            events.append(json.loads("\n".join(data)))
    return events


def test_sse_streams(folder, gemini) -> None:
    for path in folder.files("sse_stream"):
        raw = path.read_bytes()
        events = sse_events(raw)
        errors = [e["error"] for e in events if "error" in e]
        driver, _ = gemini(httpx.Response(200, content=raw,
                                          headers={"content-type": "text/event-stream"}))

        def run(d=driver):  # type: ignore[no-untyped-def]
            return d.stream_message("replay", lambda chunk: None)

        if errors:
            with pytest.raises(ProviderError):
                run()
            continue
        check_outcome(path.name, expected_from_chunks(events), run)


def test_json_array_streams_decode_chunk_by_chunk(folder, gemini) -> None:
    driver, _ = gemini()
    for path in folder.files("json_array_stream"):
        chunks = json.loads(path.read_text())

        def run(items=chunks):  # type: ignore[no-untyped-def]
            decoder = driver.protocol.stream_decoder(ChatRequest.build([Message.user("x")],
                                                                       MODEL))
            acc = StreamAccumulator("gemini", MODEL)
            for item in items:
                for chunk in decoder.feed(StreamEvent(json.dumps(item))):
                    acc.add(chunk)
            for chunk in decoder.end():
                acc.add(chunk)
            return acc.response()

        check_outcome(path.name, expected_from_chunks(chunks), run)


# -- errors ----------------------------------------------------------------------------------


def expected_error(body: dict[str, Any]) -> type[AIError]:
    error = body["error"]
    reasons = {d.get("reason") for d in error.get("details", [])}
    status = error.get("status")
    if "API_KEY_INVALID" in reasons or status in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return InvalidCredentialsError
    table: dict[str, type[AIError]] = {
        "NOT_FOUND": ModelNotFoundError, "RESOURCE_EXHAUSTED": RateLimitError,
        "UNAVAILABLE": ProviderUnavailableError, "INTERNAL": ProviderUnavailableError,
        "DEADLINE_EXCEEDED": TimeoutError, "INVALID_ARGUMENT": ProviderError,
        "FAILED_PRECONDITION": ProviderError,
    }
    if status not in table:
        pytest.fail(f"error status {status!r}: teach this replay test what it should become")
    return table[status]


def test_errors(folder, gemini) -> None:
    for path in folder.files("error"):
        status, headers = error_status(path.name), sidecar_headers(path)
        body = json.loads(path.read_text())
        driver, server = gemini(*(httpx.Response(status, content=path.read_bytes(),
                                                 headers=headers) for _ in range(3)),
                                retry_attempts=1)
        error = driver.protocol.parse_error(HttpResponse(status, headers, path.read_bytes()))
        wanted = expected_error(body)
        assert isinstance(error, wanted), f"{path.name}: {type(error).__name__}"
        if wanted is ProviderError:
            assert not error.retryable
        assert error.status == status and body["error"]["message"][:40] in str(error), path.name
        retry = [d for d in body["error"].get("details", []) if "retryDelay" in d]
        if retry:
            assert error.retry_after == float(retry[0]["retryDelay"].rstrip("s")), path.name
        with pytest.raises(wanted):
            driver.send_message("replay")
        assert len(server.requests) == 1


# -- models ----------------------------------------------------------------------------------


def test_model_listings(folder, gemini) -> None:
    for path in folder.files("models"):
        data = json.loads(path.read_text())
        token = data.get("nextPageToken")
        last_page = httpx.Response(200, json={"models": []})
        driver, server = gemini(httpx.Response(200, content=path.read_bytes()),
                                *([last_page] if token else []))
        models = driver.get_available_models()
        assert [m.id for m in models] == [m["name"].removeprefix("models/")
                                          for m in data["models"]], path.name
        if token:
            assert server.requests[1].url.params["pageToken"] == token
        for info, raw in zip(models, data["models"], strict=True):
            chat = "generateContent" in raw.get("supportedGenerationMethods", [])
            assert (info.kind is ModelKind.CHAT) == chat, info.id
            assert info.context_length == raw.get("inputTokenLimit"), info.id
            assert info.max_output_tokens == raw.get("outputTokenLimit"), info.id


def test_model_details(folder, gemini) -> None:
    driver, _ = gemini()
    for path in folder.files("model"):
        raw = json.loads(path.read_text())
        info = driver.protocol.parse_model(HttpResponse(200, {}, path.read_bytes()))
        assert info.id == raw["name"].removeprefix("models/")
        assert info.context_length == raw.get("inputTokenLimit")
