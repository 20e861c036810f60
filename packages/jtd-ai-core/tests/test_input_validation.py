"""Bad input is a typed jtd_ai error before any network call, never a raw Python exception.

Each case runs against the four real drivers (openai, xai, gemini, ollama), sync and async,
through an httpx transport that counts requests: a ValidationError must leave it at zero.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from jtd_ai import (
    AIManager,
    ChatRequest,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ValidationError,
)

DRIVERS = ("openai", "xai", "gemini", "ollama")
KEY_VARS = {"openai": "OPENAI_API_KEY", "xai": "XAI_API_KEY", "gemini": "GEMINI_API_KEY"}
MODELS = {"openai": "gpt-4o-mini", "xai": "grok-3-mini", "gemini": "gemini-2.5-flash",
          "ollama": "llama3.2"}
USER = (Message.user("hi"),)


def reply_for(driver: str, request: httpx.Request) -> httpx.Response:
    """A valid, minimal chat reply in ``driver``'s wire format."""
    if driver == "gemini":
        return httpx.Response(200, json={
            "candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1,
                              "totalTokenCount": 2}})
    if driver == "ollama":
        return httpx.Response(200, json={
            "model": "llama3.2", "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": "ok"}, "done": True,
            "done_reason": "stop", "prompt_eval_count": 1, "eval_count": 1})
    return httpx.Response(200, json={
        "id": "c1", "object": "chat.completion", "created": 1, "model": MODELS[driver],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})


class Counter:
    """An in-process server for one driver: answers every request, remembers each."""

    def __init__(self, driver: str) -> None:
        self.driver = driver
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return reply_for(self.driver, request)

    @property
    def bodies(self) -> list[Any]:
        return [json.loads(r.content) for r in self.requests]


@pytest.fixture(params=DRIVERS)
def driver_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def served() -> Iterator[Callable[..., tuple[AIManager, Counter]]]:
    """``served(driver, **settings)``: a manager whose provider ``driver`` talks to a
    request-counting in-process server."""
    made: list[AIManager] = []

    def make(driver: str, **settings: Any) -> tuple[AIManager, Counter]:
        counter = Counter(driver)
        env = {KEY_VARS[driver]: "test-key-0123456789"} if driver in KEY_VARS else {}
        manager = AIManager(providers={driver: {"default_model": MODELS[driver], **settings}},
                            config_file=False, env=env,
                            transports={driver: counter.transport})
        made.append(manager)
        return manager, counter

    yield make
    for manager in made:
        manager.close()


def send(manager: AIManager, driver: str, mode: str, prompt: Any, **options: Any) -> Any:
    target = manager.driver(driver)
    if mode == "sync":
        return target.send_message(prompt, **options)
    import asyncio

    return asyncio.run(target.asend_message(prompt, **options))


def rejected(manager: AIManager, counter: Counter, driver: str, mode: str, prompt: Any,
             **options: Any) -> ValidationError:
    """The ValidationError the call raised; fails if anything reached the server."""
    with pytest.raises(ValidationError) as info:
        send(manager, driver, mode, prompt, **options)
    assert counter.requests == [], "a request was sent for invalid input"
    return info.value


# -- options ---------------------------------------------------------------------------------


BAD_OPTIONS = [
    ("stop", 123), ("stop", b"END"), ("stop", ["ok", 5]), ("stop", {"a": 1}),
    ("tools", None), ("tools", "abc"), ("tools", 5), ("tools", [5]),
    ("tools", Tool("one")),  # one tool not in a list
    ("tools", [{"type": "web_search"}]), ("tools", [{"name": "f", "input_schema": {}}]),
    ("tools", [{"name": "f", "parameters": {"a": object()}}]),
    ("tools", [{"name": "f", "parameters": {"default": float("nan")}}]),
    ("tools", [{"name": "f"}, {"name": "f"}]),
    ("extra", "str"), ("extra", 5), ("extra", {"field": object()}), ("extra", {1: "x"}),
    ("extra", {"x": float("inf")}), ("extra", {"x": {1, 2}}), ("extra", {"x": "\ud800"}),
    ("extra", {"x": 10**5000}),
    ("tool_choice", {"weird": True}), ("tool_choice", 5),
    ("response_format", 5), ("response_format", {"type": "json_schema", "json_schema": 3}),
    ("seed", 10**5000), ("seed", 2**64), ("max_tokens", 10**40), ("timeout", float("inf")),
    ("timeout", 10**6), ("temperature", 10**5000),
]


@pytest.mark.parametrize(("name", "value"), BAD_OPTIONS,
                         ids=[f"{n}-{i}-{type(v).__name__}" for i, (n, v) in
                              enumerate(BAD_OPTIONS)])
def test_bad_option_is_a_validation_error(name: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        ChatRequest.build(USER, "m", **{name: value})
    assert info.value.field is not None and info.value.field.split(".")[0] == name


@pytest.mark.parametrize(("name", "value"), [
    ("stop", 123), ("tools", None), ("tools", "abc"), ("extra", "str"),
    ("tools", [{"name": "f", "parameters": {"a": object()}}]), ("extra", {"x": float("nan")}),
])
def test_bad_option_sends_nothing(served, driver_name: str, mode: str, name: str,
                                  value: Any) -> None:
    manager, counter = served(driver_name)
    error = rejected(manager, counter, driver_name, mode, "hi", **{name: value})
    assert error.field is not None and error.field.startswith(name)


def test_a_schema_that_is_not_json_is_refused_when_the_tool_is_made() -> None:
    with pytest.raises(ValidationError) as info:
        Tool("f", "d", {"type": "object", "properties": {"when": {"default": object()}}})
    assert info.value.field == "tools.parameters"
    assert "properties.when.default" in str(info.value)
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(500):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(ValidationError, match="levels deep"):
        Tool("f", "d", deep)
    looped: dict[str, Any] = {}
    looped["self"] = looped
    with pytest.raises(ValidationError, match=r"circular|levels deep"):
        Tool("f", "d", looped)
    with pytest.raises(ValidationError):
        Tool(123)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="64"):
        Tool("x" * 65)


def test_openai_style_and_plain_tool_dicts_become_tools(served, driver_name: str) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    openai_style = {"type": "function",
                    "function": {"name": "weather", "description": "Weather now",
                                 "parameters": schema}}
    plain = {"name": "clock", "parameters": {"type": "object", "properties": {}}}
    request = ChatRequest.build(USER, "m", tools=[openai_style, plain, Tool("third")])
    assert request.tools == (Tool("weather", "Weather now", schema),
                             Tool("clock", "", {"type": "object", "properties": {}}),
                             Tool("third"))
    manager, counter = served(driver_name)
    reply = manager.driver(driver_name).send_message("hi", tools=[openai_style, plain])
    assert reply.content == "ok"
    sent = json.dumps(counter.bodies[0])
    assert "weather" in sent and "Weather now" in sent and "clock" in sent


def test_tool_choice_in_openai_form_names_the_tool() -> None:
    request = ChatRequest.build(USER, "m", tools=[Tool("f")],
                                tool_choice={"type": "function", "function": {"name": "f"}})
    assert request.tool_choice == "f"


def test_openai_response_format_dicts() -> None:
    assert ChatRequest.build(USER, "m", response_format={"type": "json_object"}
                             ).response_format == ResponseFormat("json_object")
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    fmt = ChatRequest.build(USER, "m", response_format={
        "type": "json_schema", "json_schema": {"name": "answer", "schema": schema,
                                               "strict": False}}).response_format
    assert fmt == ResponseFormat("json_schema", schema, "answer", False)
    with pytest.raises(ValidationError, match=r"response_format\.name"):
        ResponseFormat.json_schema(schema, name="has space")


# -- messages --------------------------------------------------------------------------------


def test_text_parts_hold_text() -> None:
    for bad in (123, None, b"bytes", ["a"]):
        with pytest.raises(ValidationError) as info:
            TextPart(bad)  # type: ignore[arg-type]
        assert info.value.field == "text"
    with pytest.raises(ValidationError):
        Message.user(123)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Message.system(None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="role"):
        Message("robot", "hi")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="part 0"):
        Message("user", [123])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="ToolCall"):
        Message("assistant", (), [{"id": "x"}])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="images"):
        Message.user("look", images="http://x/cat.png")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        ImagePart(url=5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="call_id"):
        Message.tool("42", call_id=None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="tool result"):
        Message.tool({"when": object()}, call_id="c1")
    # Plain strings are fine as parts.
    assert Message("user", "hi").text == "hi"


def test_an_integer_as_content_is_refused_before_sending(served, driver_name: str,
                                                         mode: str) -> None:
    # Gemini used to send {"text": 123}; the others crashed while building the body.
    manager, counter = served(driver_name)
    rejected(manager, counter, driver_name, mode, [123])
    with pytest.raises(ValidationError):
        send(manager, driver_name, mode, Message("user", [TextPart(123)]))  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        send(manager, driver_name, mode, 123)
    assert counter.requests == []


@pytest.mark.parametrize("where", ["prompt", "system", "tool call", "image", "extra"])
def test_a_lone_surrogate_is_refused_naming_where(served, driver_name: str, mode: str,
                                                   where: str) -> None:
    manager, counter = served(driver_name)
    bad = "broken \ud800 text"
    prompt: Any
    options: dict[str, Any] = {}
    if where == "prompt":
        prompt = bad
    elif where == "system":
        prompt = [Message.system(bad), Message.user("hi")]
    elif where == "tool call":
        # Raw surrogate in the arguments text (json.dumps would have escaped it).
        prompt = [Message.user("q"),
                  Message.assistant(tool_calls=[ToolCall("c1", "f", '{"a": "' + bad + '"}')]),
                  Message.tool("r", call_id="c1", name="f")]
    elif where == "image":
        prompt = [Message.user("look", images=[ImagePart(data="aGk=" + bad,
                                                         media_type="image/png")])]
    else:
        prompt = "hi"
        options["extra"] = {"note": bad}
    error = rejected(manager, counter, driver_name, mode, prompt, **options)
    assert "surrogate" in str(error) and "U+D800" in str(error)
    if where == "system":
        assert "(system)" in str(error) and error.field == "messages"


def test_the_conversation_checks_text_as_it_is_given(served) -> None:
    manager, counter = served("openai")
    conversation = manager.conversation("openai")
    with pytest.raises(ValidationError) as info:
        conversation.system("be \udcff brief")
    assert info.value.field == "system"
    with pytest.raises(ValidationError) as info:
        conversation.message("hi \ud83d")
    assert info.value.field == "message"
    with pytest.raises(ValidationError):
        conversation.message(42)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        conversation.messages(None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        conversation.provider(None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        conversation.stop(123)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        conversation.tools("abc")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        conversation.extra(note=object())
    assert conversation.message("fine").send().content == "ok"
    assert len(counter.requests) == 1


def test_a_bad_batch_prompt_is_that_items_error(served) -> None:
    manager, counter = served("openai")
    results = manager.conversation("openai").system("be brief").send_batch(
        ["one", 42, "two \ud800", "three"])  # type: ignore[list-item]
    assert [type(r).__name__ for r in results] == [
        "Response", "ValidationError", "ValidationError", "Response"]
    assert len(counter.requests) == 2
    with pytest.raises(ValidationError):
        manager.conversation("openai").send_batch(None)  # type: ignore[arg-type]


def test_model_names_with_control_characters_are_refused(served, driver_name: str) -> None:
    manager, counter = served(driver_name)
    for model in ("gpt\n4", "x" * 600, "m\ud800"):
        rejected(manager, counter, driver_name, "sync", "hi", model=model)
    with pytest.raises(ValidationError):
        manager.driver(driver_name).send_message("hi", model=5)
    with pytest.raises(ValidationError):
        manager.driver(123)  # type: ignore[arg-type]


# -- model names in URL paths ------------------------------------------------------------------


@pytest.mark.parametrize("model", [
    "..", "../secrets", "models/../../v1/files", "gemini/../x", "a/b/c", "x?alt=json",
    "x#frag", "x y", "x%2e%2e", "/gemini", "models/", ".hidden", "gemini\\x",
])
@pytest.mark.parametrize("kind", ["send", "stream"])
def test_gemini_refuses_a_model_name_that_changes_the_url(served, mode: str, model: str,
                                                          kind: str) -> None:
    manager, counter = served("gemini")
    driver = manager.driver("gemini")
    with pytest.raises(ValidationError) as info:
        if kind == "send":
            send(manager, "gemini", mode, "hi", model=model)
        elif mode == "sync":
            list(driver.stream("hi", model=model))
        else:
            import asyncio

            async def drain() -> None:
                async for _ in driver.astream("hi", model=model):
                    pass

            asyncio.run(drain())
    assert info.value.field == "model"
    assert counter.requests == []


def test_gemini_model_names_that_are_fine(served) -> None:
    manager, counter = served("gemini")
    driver = manager.driver("gemini")
    for model in ("gemini-2.5-flash", "models/gemini-2.5-flash", "tunedModels/my-model-1",
                  "gemini-1.5-flash-001"):
        driver.send_message("hi", model=model)
    assert [r.url.path for r in counter.requests] == [
        "/v1beta/models/gemini-2.5-flash:generateContent",
        "/v1beta/models/gemini-2.5-flash:generateContent",
        "/v1beta/tunedModels/my-model-1:generateContent",
        "/v1beta/models/gemini-1.5-flash-001:generateContent",
    ]


def test_models_in_request_bodies_keep_their_provider_syntax(served) -> None:
    # Only Gemini puts the model in the path; Ollama tags and OpenAI fine-tune ids have
    # ':' and '/', and go in the body as given.
    manager, counter = served("ollama")
    manager.driver("ollama").send_message("hi", model="hf.co/org/repo:Q4_K_M")
    assert counter.bodies[0]["model"] == "hf.co/org/repo:Q4_K_M"
    manager, counter = served("openai")
    manager.driver("openai").send_message("hi", model="ft:gpt-4o-mini:org::abc123")
    assert counter.bodies[0]["model"] == "ft:gpt-4o-mini:org::abc123"


def test_reserved_extra_fields_are_refused_before_sending(served) -> None:
    manager, counter = served("ollama")
    rejected(manager, counter, "ollama", "sync", "hi", extra={"stream": True})
    manager, counter = served("gemini")
    rejected(manager, counter, "gemini", "sync", "hi", extra={"contents": []})


def test_deep_tool_arguments_in_the_history_are_not_a_crash(served, driver_name: str) -> None:
    # Gemini and Ollama parse the arguments of earlier calls; 100,000 nested arrays must not
    # end in a RecursionError.
    manager, counter = served(driver_name)
    deep = "[" * 100_000 + "]" * 100_000
    history = [Message.user("q"), Message.assistant(tool_calls=[ToolCall("c1", "f", deep)]),
               Message.tool("r", call_id="c1", name="f"), Message.user("and?")]
    try:
        manager.driver(driver_name).send_message(history)
    except ValidationError:
        assert counter.requests == []
    else:
        assert len(counter.requests) == 1
