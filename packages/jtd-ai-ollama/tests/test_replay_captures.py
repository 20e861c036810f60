"""Replays every recorded Ollama capture in the shared wire folder through the driver.

Each file is used the way it was recorded: request bodies are turned back into a
ChatRequest and compared with what the driver builds; replies, NDJSON streams, listings and
errors are fed to the driver and checked against what the capture itself says (read here
independently of driver code). A file this module does not recognise fails the test: teach
:func:`kind_of` what it is. ``openai_compat/`` holds the OpenAI-compatible ``/v1`` API,
which this native driver does not speak (the openai driver pointed at ``<host>/v1`` does);
those files are named in a skip, not silently passed over. Skips when the folder is absent.
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
    Tool,
    ToolCall,
)
from jtd_ai.testing import CaptureFolder, error_status
from jtd_ai.wire import HttpResponse
from jtd_ai_ollama.callids import make_call_id

OPTION_NAMES = {"temperature": "temperature", "top_p": "top_p", "seed": "seed",
                "stop": "stop", "num_predict": "max_tokens"}


def kind_of(path: Path) -> str | None:
    """What a capture file is, from where it is and its name; None when unknown."""
    if path.parent.name == "openai_compat":
        return "openai_compat"
    rules = [
        (r".+\.headers\.json", "headers"),
        (r"show_request.*\.json", "show_request"),
        (r"show_response.*\.json", "show_response"),
        (r"ps_response.*\.json", "ps"),
        (r"version_response.*\.json", "version"),
        (r"models_list.*\.json", "tags"),
        (r"error_\d{3}.*\.json", "error"),
        (r".+_request(_\w+)?\.json", "chat_request"),
        (r".+_response(_\w+)?\.json", "chat_response"),
        (r".+\.ndjson", "stream"),
    ]
    return next((kind for pattern, kind in rules if re.fullmatch(pattern, path.name)), None)


@pytest.fixture
def folder(captures) -> CaptureFolder:
    return CaptureFolder(captures("ollama"), kind_of, recursive=True, skip_empty_kinds=True)


def test_every_capture_is_known(folder) -> None:
    folder.check_every_file_is_known()


def test_openai_compatible_captures_are_out_of_scope(folder) -> None:
    names = [p.name for p in folder.files("openai_compat")]
    pytest.skip(f"/v1 (OpenAI-compatible) captures are for the openai driver, not this native "
                f"one: {', '.join(names)}")


# -- requests --------------------------------------------------------------------------------


def request_from_wire(body: dict[str, Any]) -> tuple[ChatRequest, bool]:
    """The ChatRequest (and stream flag) a user would write to get ``body``."""
    body = copy.deepcopy(body)
    model = body.pop("model")
    stream = body.pop("stream", True)  # Ollama streams unless told not to
    messages: list[Message] = []
    last_calls: list[ToolCall] = []
    for item in body.pop("messages"):
        role, content = item["role"], item.get("content", "")
        if role == "system":
            messages.append(Message.system(content))
        elif role == "user":
            images = [ImagePart(data=b64, media_type="image/png")
                      for b64 in item.get("images") or []]
            messages.append(Message(Role.USER, ([TextPart(content)] if content else []) + images))
        elif role == "assistant":
            calls = []
            for wire_call in item.get("tool_calls") or []:
                function = wire_call["function"]
                arguments = json.dumps(function.get("arguments", {}), ensure_ascii=False)
                calls.append(ToolCall(make_call_id(index=len(calls), name=function["name"],
                                                   arguments=arguments,
                                                   given=wire_call.get("id")),
                                      function["name"], arguments))
            messages.append(Message.assistant(content, tool_calls=calls))
            last_calls = calls
        elif role == "tool":
            name = item.get("tool_name")
            call_id = item.get("tool_call_id") or next(
                (c.id for c in last_calls if c.name == name), "unmatched")
            messages.append(Message.tool(content, call_id=call_id, name=name))
        else:
            raise AssertionError(f"message role this test cannot express: {role}")
    options: dict[str, Any] = {}
    wire_options = body.pop("options", {})
    for wire_name, ours in OPTION_NAMES.items():
        if wire_name in wire_options:
            options[ours] = wire_options.pop(wire_name)
    if "format" in body:
        fmt = body.pop("format")
        options["response_format"] = "json" if fmt == "json" else fmt
    if "tools" in body:
        options["tools"] = [Tool(t["function"]["name"], t["function"].get("description", ""),
                                 t["function"].get("parameters")
                                 or {"type": "object", "properties": {}})
                            for t in body.pop("tools")]
    extra = dict(body)
    if wire_options:
        extra["options"] = wire_options
    return ChatRequest.build(messages, model, extra=extra, **options), stream


def normalise(built: dict[str, Any], captured: dict[str, Any]) -> tuple[dict, dict]:
    """Differences without meaning removed: ``stream`` left out means true, and a tool
    result the capture sent without ``tool_name`` (older clients) where we add it."""
    captured = copy.deepcopy(captured)
    built = copy.deepcopy(built)
    captured.setdefault("stream", True)
    for ours, theirs in zip(built.get("messages", []), captured.get("messages", []),
                            strict=False):
        if theirs.get("role") == "tool" and "tool_name" not in theirs:
            ours.pop("tool_name", None)
    return built, captured


def test_chat_requests_match_what_the_driver_builds(folder, ollama) -> None:
    driver, _ = ollama()
    for path in folder.files("chat_request"):
        captured = json.loads(path.read_text())
        request, stream = request_from_wire(captured)
        built = driver.protocol.chat_request(request, stream=stream)
        ours, theirs = normalise(built.json, captured)
        assert ours == theirs, path.name
        assert (built.method, built.path) == ("POST", "/api/chat")
        assert built.stream == ("ndjson" if stream else None)


def test_show_requests(folder, ollama) -> None:
    driver, _ = ollama()
    for path in folder.files("show_request"):
        captured = json.loads(path.read_text())
        built = driver.protocol.show_request(captured["model"])
        assert (built.method, built.path, built.json) == ("POST", "/api/show", captured)


# -- replies and streams -----------------------------------------------------------------------


def expected_from_lines(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """What a reply made of ``lines`` says, read straight from the JSON."""
    text, thinking, calls, done, error = "", "", [], None, None
    for line in lines:
        if "error" in line:
            error = line["error"]
            break
        message = line.get("message")
        text += message.get("content", "") if message else line.get("response", "")
        thinking += (message.get("thinking") if message else line.get("thinking")) or ""
        for wire_call in (message or {}).get("tool_calls") or []:
            calls.append((wire_call["function"]["name"], wire_call["function"]["arguments"]))
        if line.get("done"):
            done = line
    return {"text": text, "thinking": thinking, "calls": calls, "done": done, "error": error}


def check_outcome(name: str, expected: dict[str, Any], run: Any) -> None:
    if expected["error"] is not None or expected["done"] is None:
        with pytest.raises(StreamInterruptedError) as info:
            run()
        if expected["error"] is not None:
            assert str(expected["error"]) in str(info.value), name
        assert info.value.partial is not None, name
        assert info.value.partial.content == expected["text"], name
        return
    reply = run()
    done = expected["done"]
    assert reply.content == expected["text"], name
    assert (reply.reasoning or "") == expected["thinking"], name
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == expected["calls"]
    assert len({c.id for c in reply.tool_calls}) == len(reply.tool_calls), name
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (
        done.get("prompt_eval_count", 0), done.get("eval_count", 0)), name
    reason = done.get("done_reason")
    wanted = {None: FinishReason.STOP, "stop": FinishReason.STOP,
              "length": FinishReason.LENGTH}.get(reason, FinishReason.OTHER)
    if expected["calls"] and wanted is FinishReason.STOP:
        wanted = FinishReason.TOOL_CALLS
    assert reply.finish_reason is wanted, name
    assert reply.model == done["model"], name


def test_chat_responses(folder, ollama) -> None:
    for path in folder.files("chat_response"):
        data = json.loads(path.read_text())
        driver, _ = ollama(httpx.Response(200, content=path.read_bytes(),
                                          headers={"content-type": "application/json"}))
        expected = expected_from_lines([data])
        assert expected["done"] is not None, f"{path.name}: a whole reply without done: true"
        check_outcome(path.name, expected, lambda d=driver: d.send_message("replay"))


def test_ndjson_streams(folder, ollama) -> None:
    for path in folder.files("stream"):
        raw = path.read_bytes()
        lines = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
        driver, _ = ollama(httpx.Response(200, content=raw,
                                          headers={"content-type": "application/x-ndjson"}))

        def run(d=driver):  # type: ignore[no-untyped-def]
            return d.stream_message("replay", lambda chunk: None)

        check_outcome(path.name, expected_from_lines(lines), run)


# -- errors ----------------------------------------------------------------------------------


def expected_error(status: int) -> type[AIError]:
    if status == 404:
        return ModelNotFoundError
    if status in (401, 403):
        return InvalidCredentialsError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ProviderUnavailableError
    if status in (400, 499):
        return ProviderError
    pytest.fail(f"HTTP {status}: teach this replay test what it should become")


def test_errors(folder, ollama) -> None:
    for path in folder.files("error"):
        status = error_status(path.name)
        body = json.loads(path.read_text())
        driver, server = ollama(httpx.Response(status, content=path.read_bytes()),
                                retry_attempts=1)
        wanted = expected_error(status)
        with pytest.raises(wanted) as info:
            driver.send_message("replay")
        error = info.value
        if wanted is ProviderError:
            assert not error.retryable, path.name
        assert error.status == status and body["error"] in str(error), path.name
        model = re.search(r"model ['\"]([^'\"]+)['\"]", body["error"])
        if wanted is ModelNotFoundError and model:
            assert f"ollama pull {model.group(1)}" in str(error), path.name
        assert len(server.requests) == 1


# -- models ----------------------------------------------------------------------------------


def test_tags_listings(folder, ollama) -> None:
    for path in folder.files("tags"):
        data = json.loads(path.read_text())
        driver, _ = ollama(httpx.Response(200, content=path.read_bytes()))
        models = driver.get_available_models()
        assert [m.id for m in models] == [m["name"] for m in data["models"] or []], path.name
        for info, raw in zip(models, data["models"] or [], strict=True):
            assert (info.created is not None) == bool(raw.get("modified_at")), info.id
            if raw.get("capabilities") is None:
                assert info.kind is ModelKind.UNKNOWN, info.id


def test_show_responses(folder, ollama) -> None:
    driver, _ = ollama()
    for path in folder.files("show_response"):
        data = json.loads(path.read_text())
        info = driver.protocol.parse_show(HttpResponse(200, {}, path.read_bytes()), "replayed")
        capabilities = set(data.get("capabilities") or [])
        if "completion" in capabilities:
            assert info.kind is ModelKind.CHAT, path.name
        assert info.capabilities.vision is (("vision" in capabilities) if capabilities else None)
        assert info.capabilities.tools is (("tools" in capabilities) if capabilities else None)
        lengths = [v for k, v in (data.get("model_info") or {}).items()
                   if k.endswith(".context_length")]
        assert info.context_length == (lengths[0] if lengths else None), path.name


def test_running_models(folder, ollama) -> None:
    driver, _ = ollama()
    for path in folder.files("ps"):
        data = json.loads(path.read_text())
        running = driver.protocol.parse_running(HttpResponse(200, {}, path.read_bytes()))
        assert [(m.id, m.context_length) for m in running] == [
            (m["name"], m.get("context_length")) for m in data["models"]], path.name


def test_versions(folder, ollama) -> None:
    for path in folder.files("version"):
        data = json.loads(path.read_text())
        driver, server = ollama(httpx.Response(200, content=path.read_bytes()))
        assert driver.validate_credentials() is True
        assert driver.protocol.parse_version(
            HttpResponse(200, {}, path.read_bytes())) == data["version"]
        assert server.requests[0].url.path == "/api/version"
