"""Strategies, a request-counting server and the property itself, for tests/property.

The property (:func:`holds`): a call either returns, or raises a :class:`jtd_ai.AIError`;
when it raises :class:`~jtd_ai.ValidationError` or :class:`~jtd_ai.ConfigurationError`, the
server received nothing for it; and no error text shows the API key. Any other exception
escapes and fails the example.

Inputs are generated as *recipes* (plain data) and turned into messages and tools inside the
call, because making a ``Message`` or ``Tool`` from bad input is itself part of the API
under test.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import settings
from hypothesis import strategies as st

from jtd_ai import (
    AIError,
    ConfigurationError,
    ImagePart,
    Message,
    ResponseFormat,
    Tool,
    ToolCall,
    ValidationError,
)

DRIVERS = ("openai", "xai", "gemini", "ollama")
KEY = "test-key-PROPERTY-0123456789abcdef"
KEY_VARS = {"openai": "OPENAI_API_KEY", "xai": "XAI_API_KEY", "gemini": "GEMINI_API_KEY"}
MODELS = {"openai": "gpt-4o-mini", "xai": "grok-3-mini", "gemini": "gemini-2.5-flash",
          "ollama": "llama3.2"}
#: Drivers installed in this repository besides the four; never chosen at random.
OTHER_DRIVERS = frozenset({"echo", "testplugin", "brokenplugin", "anthropic", "groq"})


def examples(count: int) -> settings:
    """Settings for one property test: a fixed seed, ``count`` examples, no deadline, no
    example database. For a longer hunt on a workstation, ``JTD_AI_PROPERTY_SCALE=10``
    multiplies the count and ``JTD_AI_PROPERTY_RANDOM=1`` draws new examples each run."""
    scale = float(os.environ.get("JTD_AI_PROPERTY_SCALE", "1"))
    fixed = os.environ.get("JTD_AI_PROPERTY_RANDOM", "") in ("", "0")
    return settings(max_examples=max(1, int(count * scale)), derandomize=fixed, database=None,
                    deadline=None, print_blob=not fixed)


# -- the server --------------------------------------------------------------------------------


def _openai_chunk(delta: dict[str, Any], finish: str | None = None,
                  **extra: Any) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


def reply(driver: str, request: httpx.Request) -> httpx.Response:
    """A valid chat reply in ``driver``'s wire format; streamed when the request asks."""
    try:
        body = json.loads(request.content) if request.content else {}
    except ValueError:
        body = {}
    stream = (":streamGenerateContent" in request.url.path if driver == "gemini"
              else isinstance(body, dict) and body.get("stream") is True)
    if driver == "gemini":
        data = {"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1,
                                  "totalTokenCount": 2}}
        if stream:
            return httpx.Response(200, headers={"content-type": "text/event-stream"},
                                  content=f"data: {json.dumps(data)}\n\n".encode())
        return httpx.Response(200, json=data)
    if driver == "ollama":
        final = {"model": "llama3.2", "created_at": "2026-01-01T00:00:00Z",
                 "message": {"role": "assistant", "content": "ok" if not stream else ""},
                 "done": True, "done_reason": "stop", "prompt_eval_count": 1,
                 "eval_count": 1}
        if stream:
            first = {"model": "llama3.2", "created_at": "2026-01-01T00:00:00Z",
                     "message": {"role": "assistant", "content": "ok"}, "done": False}
            return httpx.Response(200, headers={"content-type": "application/x-ndjson"},
                                  content=(json.dumps(first) + "\n" + json.dumps(final)
                                           + "\n").encode())
        return httpx.Response(200, json=final)
    if stream:
        events = [_openai_chunk({"role": "assistant", "content": "ok"}),
                  _openai_chunk({}, "stop"),
                  {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                            "total_tokens": 2}}]
        text = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        return httpx.Response(200, headers={"content-type": "text/event-stream"},
                              content=text.encode())
    return httpx.Response(200, json={
        "id": "c1", "object": "chat.completion", "created": 1, "model": MODELS[driver],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})


class Server:
    """In-process servers for the four drivers behind one request counter."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.transports = {name: httpx.MockTransport(self._handler(name)) for name in DRIVERS}

    def _handler(self, driver: str) -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return reply(driver, request)

        return answer


# -- the property ------------------------------------------------------------------------------


def holds(server: Server, call: Callable[[], Any]) -> Any:
    """Run ``call``; check the property; return its result or the AIError it raised."""
    before = len(server.requests)
    try:
        result = call()
    except AIError as error:
        result = error
    sent = len(server.requests) - before
    if isinstance(result, ValidationError | ConfigurationError):
        assert sent == 0, f"{type(result).__name__} raised after {sent} request(s): {result}"
    if isinstance(result, AIError):
        _clean(result)
    else:
        assert sent > 0, "the call succeeded without asking the server"
    return result


def _clean(error: AIError) -> None:
    text = str(error)
    assert isinstance(error.message, str) and text
    assert KEY not in text, "the API key is in the error message"


# -- strategies: values ------------------------------------------------------------------------


class Huge(int):
    """An integer too long for ``repr`` (past Python's 4,300-digit limit), with a repr."""

    def __repr__(self) -> str:
        return f"Huge(~10**{int(self.bit_length() * 0.30103)})"


HUGE = Huge(10**5000)

def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any],
           weight: int = 4) -> st.SearchStrategy[Any]:
    """``good`` about ``weight`` times in ``weight + 1``, else ``bad``: enough valid input
    that the paths after validation (building, encoding, sending, reading) run too."""
    return st.one_of(*([good] * weight), bad)


#: Any character but a lone surrogate (hypothesis draws those rarely, even by default).
NO_SURROGATES = st.characters(exclude_categories=["Cs"])
clean_text = st.text(NO_SURROGATES, max_size=12)
#: Text with a lone surrogate somewhere (hypothesis leaves those out of text by default).
surrogate_text = st.builds(lambda a, s, b: a + s + b, clean_text,
                           st.characters(categories=["Cs"]), clean_text)
text = mostly(clean_text, surrogate_text)
#: Text for a secret: distinctive, since every Secret made is masked for the whole session.
secret_text = text.map(lambda t: "prop-secret-" + t)
short_text = st.text(st.characters(codec="ascii"), max_size=8)

junk = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), HUGE, Huge(-(10**400)), 1e308]),
    text, st.binary(max_size=4), st.just(object()), st.lists(st.integers(), max_size=2),
    st.dictionaries(short_text, st.integers(), max_size=2), st.tuples(st.integers()),
    st.frozensets(st.integers(), max_size=2),
)


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), text,
                      st.sampled_from([HUGE, float("nan")]))
json_values = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
) | st.integers(min_value=95, max_value=110).map(_nested) | st.just(object())
json_object = st.dictionaries(text, json_values, max_size=3)

schemas = mostly(st.sampled_from([
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    {"type": "object", "properties": {}},
    {"type": "object", "additionalProperties": False,
     "properties": {"n": {"type": ["integer", "null"]}}},
]), json_object, weight=2)
tool_names = mostly(st.sampled_from(["lookup", "get_weather", "f", "x" * 64]),
                    st.one_of(st.sampled_from(["x" * 65, "", "has space", "naïve", "a.b"]),
                              text, junk), weight=3)
tool_items = st.one_of(
    st.builds(lambda name, desc, params: {"type": "function", "function": {
        "name": name, "description": desc, "parameters": params}},
        tool_names, mostly(text, junk), mostly(schemas, junk)),
    st.builds(lambda name, params: {"name": name, "parameters": params}, tool_names,
              mostly(schemas, junk)),
    st.sampled_from([Tool("lookup"), Tool("get_weather", "Weather", {"type": "object"})]),
    st.sampled_from([{"type": "web_search"}, {"name": "f", "input_schema": {}},
                     {"type": "function"}, {"type": "function", "function": "f"}]),
    junk,
)
tools = mostly(st.lists(tool_items, max_size=3), junk, weight=3)

formats = st.one_of(
    st.sampled_from(["json", "text", "json_object", {"type": "json_object"},
                     ResponseFormat.json()]),
    schemas,
    st.builds(lambda schema, name, strict: {"type": "json_schema", "json_schema": {
        "name": name, "schema": schema, "strict": strict}},
        mostly(schemas, junk), mostly(st.just("answer"), st.sampled_from(["bad name", ""])
                                      | junk), mostly(st.booleans(), junk)),
    st.sampled_from(["json_schema", "xml"]) | junk,
)

extra_keys = st.sampled_from(["model", "messages", "stream", "n", "stream_options", "contents",
                              "options", "generationConfig", "top_k", "user", "keep_alive"])
options = mostly(st.fixed_dictionaries({}, optional={
    "temperature": mostly(st.floats(0, 2) | st.integers(0, 2),
                          st.floats() | st.integers() | junk),
    "top_p": mostly(st.floats(0, 1), st.floats() | junk),
    "max_tokens": mostly(st.integers(1, 4096), st.integers() | junk),
    "stop": mostly(st.one_of(clean_text.filter(bool),
                             st.lists(clean_text.filter(bool), max_size=3)),
                   st.one_of(text, st.lists(text, max_size=3), junk)),
    "seed": mostly(st.integers(-(2**63), 2**63 - 1), st.integers() | junk),
    "tools": tools,
    "tool_choice": mostly(st.sampled_from(["auto", "none", "required", "lookup"]),
                          st.sampled_from(["get_weather", {"type": "function",
                                                          "function": {"name": "lookup"}}])
                          | junk, weight=2),
    "response_format": formats,
    "extra": mostly(st.dictionaries(st.sampled_from(["user", "top_k", "metadata"]),
                                    mostly(st.integers(0, 10) | clean_text, json_values),
                                    max_size=2),
                    st.dictionaries(extra_keys | text, json_values, max_size=3) | junk),
    "timeout": mostly(st.floats(0.5, 120), st.floats() | junk),
}), st.dictionaries(st.sampled_from(["temprature", "max_token", "foo", "stream"]), junk,
                    min_size=1, max_size=1), weight=6)


# -- strategies: prompts (recipes) ----------------------------------------------------------------


image_recipes = st.one_of(
    st.tuples(st.just("url"), mostly(st.sampled_from(["https://example.com/cat.png",
                                                      "data:image/png;base64,aGk="]),
                                     st.just("data:bad") | text | junk)),
    st.tuples(st.just("data"), mostly(st.just("aGk="), text | junk),
              mostly(st.just("image/png"), st.just("") | junk)),
    st.tuples(st.just("bytes"), mostly(st.binary(max_size=8), junk),
              mostly(st.just("image/png"), junk)),
    st.tuples(st.just("raw"), junk),
)
call_recipes = st.tuples(
    mostly(st.sampled_from(["call_1", "c2", "gemini-call-0-abc#sig"]), text | junk),
    tool_names,
    mostly(st.sampled_from(['{"city": "Paris"}', "{}"]),
           st.sampled_from(["[1]", "not json", "[" * 3000 + "]" * 3000]) | text | junk))
message_recipes = mostly(st.one_of(
    st.tuples(st.just("system"), text),
    st.tuples(st.just("user"), text, mostly(st.just([]), st.lists(image_recipes, max_size=2))),
), st.one_of(
    st.tuples(st.just("system"), junk),
    st.tuples(st.just("user"), junk, st.just([])),
    st.tuples(st.just("assistant"), text | junk, st.lists(call_recipes, max_size=2)),
    st.tuples(st.just("tool"), text | json_object | junk,
              mostly(st.sampled_from(["call_1", "c2"]), text | junk),
              st.none() | tool_names),
    st.tuples(st.just("raw"), st.sampled_from(["user", "assistant", "system", "tool", "bot"])
              | junk, st.lists(text | junk, max_size=2) | junk),
), weight=2)
conversation_turns = st.builds(
    lambda q, call, result: [("user", q, []), ("assistant", "", [call]),
                             ("tool", result, call[0], call[1]), ("user", "and?", [])],
    clean_text, call_recipes, mostly(clean_text, json_object | junk))
prompts = st.one_of(
    st.tuples(st.just("text"), text),
    st.tuples(st.just("text"), text),
    st.tuples(st.just("messages"), st.lists(message_recipes, min_size=1, max_size=4)),
    st.tuples(st.just("messages"), conversation_turns),
    st.tuples(st.just("junk"), junk),
)


# -- strategies: input that must succeed ----------------------------------------------------------

valid_text = st.text(NO_SURROGATES, min_size=1, max_size=12)
valid_tools = st.lists(st.one_of(
    st.sampled_from([Tool("lookup"), Tool("get_weather", "Weather", {"type": "object"})]),
    st.builds(lambda name, desc, params: {"type": "function", "function": {
        "name": name, "description": desc, "parameters": params}},
        st.sampled_from(["search", "x" * 64, "a-b_c"]), clean_text, schemas.filter(
            lambda s: s.get("type") == "object")),
    st.builds(lambda name: {"name": name}, st.sampled_from(["clock", "now"])),
), max_size=3, unique_by=lambda t: t.name if isinstance(t, Tool) else (
    t.get("function", t)["name"]))
valid_options = st.fixed_dictionaries({}, optional={
    "temperature": st.floats(0, 2) | st.integers(0, 2),
    "top_p": st.floats(0, 1),
    "max_tokens": st.integers(1, 2**31 - 1),
    "stop": valid_text | st.lists(valid_text, max_size=3),
    "seed": st.integers(-(2**31), 2**31 - 1),
    "tools": valid_tools,
    "tool_choice": st.sampled_from(["auto", "none"]),
    "response_format": st.sampled_from(["json", "text", {"type": "json_object"},
                                        {"type": "object", "properties": {}}]),
    "extra": st.dictionaries(st.sampled_from(["user", "metadata_x"]),
                             st.integers(0, 10) | clean_text, max_size=2),
    "timeout": st.floats(1, 120),
})
valid_messages = st.one_of(
    st.tuples(st.just("system"), clean_text),
    st.tuples(st.just("user"), valid_text, st.lists(st.sampled_from([
        ("url", "data:image/png;base64,aGk="), ("bytes", b"\x89PNG", "image/png")]),
        max_size=1)),
)
valid_turns = st.builds(
    lambda q, name, result: [("user", q, []),
                             ("assistant", "", [("call_1", name, '{"city": "Paris"}')]),
                             ("tool", result, "call_1", name), ("user", "and?", [])],
    valid_text, st.sampled_from(["lookup", "get_weather"]), valid_text)
valid_prompts = st.one_of(
    st.tuples(st.just("text"), valid_text),
    st.tuples(st.just("messages"), st.tuples(valid_messages, st.lists(
        valid_messages, max_size=3)).map(lambda t: [*t[1], ("user", "go", [])])),
    st.tuples(st.just("messages"), valid_turns),
)


def calls(driver: str) -> st.SearchStrategy[tuple[str, Any, Any, dict[str, Any]]]:
    """``(broken, prompt recipe, model, options)`` for one call to ``driver``: at most one
    of the three is drawn from the strategies that include invalid values (``broken`` says
    which, or ``"nothing"``: then the call must succeed)."""
    return st.sampled_from(["nothing", "prompt", "model", "options"]).flatmap(
        lambda broken: st.tuples(
            st.just(broken),
            prompts if broken == "prompt" else valid_prompts,
            models(driver) if broken == "model" else st.sampled_from([None, MODELS[driver]]),
            options if broken == "options" else valid_options,
        ))


def image(recipe: tuple[Any, ...]) -> Any:
    kind = recipe[0]
    if kind == "url":
        return ImagePart(url=recipe[1])
    if kind == "data":
        return ImagePart(data=recipe[1], media_type=recipe[2])
    if kind == "bytes":
        return ImagePart.from_bytes(recipe[1], recipe[2])
    return recipe[1]


def message(recipe: tuple[Any, ...]) -> Any:
    kind = recipe[0]
    if kind == "system":
        return Message.system(recipe[1])
    if kind == "user":
        return Message.user(recipe[1], images=[image(i) for i in recipe[2]])
    if kind == "assistant":
        return Message.assistant(recipe[1], tool_calls=[ToolCall(*c) for c in recipe[2]])
    if kind == "tool":
        return Message.tool(recipe[1], call_id=recipe[2], name=recipe[3])
    return Message(recipe[1], recipe[2])


def prompt(recipe: tuple[Any, ...]) -> Any:
    """The prompt a recipe stands for; made inside the call (making it may be the error)."""
    kind, value = recipe
    if kind == "messages":
        return [message(m) for m in value]
    return value


def models(driver: str) -> st.SearchStrategy[Any]:
    return mostly(st.sampled_from([None, MODELS[driver]]), st.one_of(
        st.sampled_from(["models/gemini-2.5-flash", "tunedModels/t-1", "..", "../v1/files",
                         "a/b/c", "x?alt=json", "x#y", "x y", "llama3.2:latest",
                         "ft:gpt-4o-mini:org::abc", "m\n", "x" * 600]),
        text, junk), weight=2)


# -- strategies: configuration ------------------------------------------------------------------


good_seconds = st.floats(0.5, 600) | st.integers(1, 600)
bad_seconds = st.one_of(st.floats(), st.integers(), st.sampled_from([1e308, 86_401, 0, -1]),
                        junk)
good_urls = st.sampled_from([
    "https://api.example.com/v1", "HTTPS://API.example.com/v1", "http://127.0.0.1:9/v1",
    "http://[::1]:8080/v1", "https://u:p4ss-word@llm.example.com/v1", "http://h/my path/v1",
    "https://" + "a" * 63 + ".example.com/v1"])
bad_urls = st.one_of(st.sampled_from([
    "ftp://x", "file:///x", "https://" + "a" * 64 + ".com", "http://host:99999", "https://",
    "https://h/v1?x=1", "https://hôst/v1", "http://h/v1\n", "https://bad..host",
    "example.com"]), text, junk)
good_prices = st.dictionaries(st.sampled_from(list(MODELS.values())), st.fixed_dictionaries(
    {"input": st.floats(0, 100) | st.integers(0, 100) | st.sampled_from(["0.15", "1e-3"]),
     "output": st.floats(0, 100)},
    optional={"cached_input": st.floats(0, 10),
              "tiers": st.just([{"above_input_tokens": 200_000, "input": 2, "output": 4}])}),
    max_size=2)
bad_prices = st.one_of(
    st.dictionaries(st.sampled_from(list(MODELS.values())) | short_text, st.one_of(
        st.fixed_dictionaries({"input": st.floats() | st.integers() | short_text | junk,
                               "output": st.floats() | junk},
                              optional={"cached_input": st.floats() | junk,
                                        "inptu": st.integers(), "tiers": junk}),
        junk), min_size=1, max_size=2),
    junk)
#: Each key of a provider table: (values that must work, values that may not).
CORE: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    # Every key value made into a Secret is remembered for redaction for the rest of the
    # session, so generated keys are distinctive: never text a later test may print.
    "api_key": (st.just(KEY), st.sampled_from([KEY + "\n", KEY + "é", " " + KEY])
                | secret_text | junk),
    "api_key_env": (st.sampled_from(["OPENAI_API_KEY", "GEMINI_API_KEY", "XAI_API_KEY"]),
                    st.just("MY_KEY") | text | junk),
    "base_url": (good_urls, bad_urls),
    "default_model": (st.sampled_from(list(MODELS.values())), text | junk),
    "timeout": (good_seconds, bad_seconds), "connect_timeout": (good_seconds, bad_seconds),
    "deadline": (good_seconds, bad_seconds),
    "stream_idle_timeout": (good_seconds, bad_seconds),
    "retry_max_delay": (good_seconds | st.just(0), bad_seconds),
    "retry_attempts": (st.integers(1, 100) | st.just(3.0), st.integers() | st.floats() | junk),
    "retry_delay": (st.integers(0, 10_000), st.integers() | st.floats() | junk),
    "headers": (st.fixed_dictionaries({}, optional={
                    "X-Team": st.text(st.characters(min_codepoint=32, max_codepoint=126)),
                    "Authorization": st.just("Bearer prop-header-secret-0123"),
                    "api-key": st.just("prop-header-secret-4567")}),
                st.dictionaries(st.sampled_from(["bad name", ""]) | text, text | junk,
                                max_size=2) | junk),
    "requests_per_minute": (good_seconds, bad_seconds),
    "tokens_per_minute": (good_seconds, bad_seconds),
    "proxy": (st.sampled_from(["", "http://proxy.invalid:3128", "HTTP://u:pw@P.invalid:1"]),
              st.sampled_from(["socks5://p:1", "ftp://p"]) | text | junk),
    "ca_bundle": (st.just("/nonexistent/ca.pem"), st.just("") | junk),
    "trust_store": (st.just("certifi"), st.just("sytem") | junk),
    "verify": (st.booleans(), junk),
    "max_response_size": (st.integers(1 << 20, 1 << 30), st.integers() | st.floats() | junk),
    "max_line_size": (st.integers(1 << 20, 1 << 30), st.integers() | junk),
    "keep_raw": (st.booleans(), junk),
    "prices": (good_prices, bad_prices),
    "http_backend": (st.sampled_from(["auto", "httpx"]), st.just("curl") | junk),
    "models_ttl": (good_seconds | st.just(0), bad_seconds),
    "api_key_required": (st.just(True), junk),
}
#: Keys no driver knows (misspelled core settings, made-up options): invalid whatever the value.
UNKNOWN = ("retry_attemps", "timout", "organisation", "region", "apikey")
DRIVER_OPTIONS: dict[str, dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]]] = {
    "openai": {
        "organization": (st.just("org-123"), short_text | junk),
        "project": (st.just("proj_1"), text | junk),
        "auth_header": (st.sampled_from(["api-key", "X-Api-Key"]), st.just("bad header") | junk),
        "api_version": (st.just("2024-10-21"), short_text | junk),
        "max_tokens_field": (st.sampled_from(["auto", "max_tokens", "max_completion_tokens"]),
                             st.just("x") | junk),
        "system_role": (st.sampled_from(["system", "developer"]), st.just("x") | junk)},
    "gemini": {
        "generation_config": (st.just({"topK": 40}), json_object | junk),
        "safety_settings": (st.just([{"category": "HARM_CATEGORY_HARASSMENT",
                                      "threshold": "BLOCK_NONE"}]),
                            st.lists(json_object, max_size=2) | junk),
        "models_page_size": (st.integers(1, 1000), st.integers() | junk)},
    "ollama": {
        "options": (st.just({"top_k": 20}), json_object | junk),
        "num_ctx": (st.integers(1, 2**20), st.integers() | junk),
        "keep_alive": (st.sampled_from(["10m", 0, -1]), junk),
        "think": (st.sampled_from([True, False, "low", "high"]), st.just("max") | junk)},
}
DRIVER_OPTIONS["xai"] = DRIVER_OPTIONS["openai"]


def provider_tables(driver: str) -> st.SearchStrategy[dict[str, Any]]:
    """A ``[providers.<driver>]`` table of a few keys, each value valid four times in five;
    now and then a key no driver knows, or another ``driver``."""
    keys = {**CORE, **DRIVER_OPTIONS[driver]}
    chosen = st.lists(st.sampled_from(sorted(keys)), max_size=4, unique=True)
    values = chosen.flatmap(lambda names: st.fixed_dictionaries(
        {k: mostly(keys[k][0], keys[k][1], weight=6) for k in names}))
    odd = st.one_of(st.fixed_dictionaries({}), st.fixed_dictionaries({}),
                    st.fixed_dictionaries({}), st.fixed_dictionaries({}),
                    st.dictionaries(st.sampled_from(UNKNOWN), junk, min_size=1, max_size=1),
                    st.fixed_dictionaries({"driver": st.sampled_from(["nope", "openai"])
                                           | junk}))
    return st.tuples(values, odd).map(lambda t: {**t[0], **t[1]})


# -- TOML text ---------------------------------------------------------------------------------


def toml_value(value: Any) -> str | None:
    """``value`` in TOML, or None when TOML cannot hold it (it is left out)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if abs(value) < 2**63 else None
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), -float("inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string, surrogates kept
    if isinstance(value, list | tuple):
        items = [toml_value(v) for v in value]
        return "[" + ", ".join(i for i in items if i is not None) + "]"
    if isinstance(value, dict):
        pairs = [(json.dumps(str(k), ensure_ascii=False), toml_value(v)) for k, v in value.items()]
        return "{" + ", ".join(f"{k} = {v}" for k, v in pairs if v is not None) + "}"
    return None


def toml_text(top: dict[str, Any], providers: dict[str, dict[str, Any]]) -> str:
    lines = [f"{k} = {v}" for k, v in ((k, toml_value(v)) for k, v in top.items())
             if v is not None]
    for name, table in providers.items():
        lines.append(f"[providers.{json.dumps(name)}]")
        lines += [f"{json.dumps(k)} = {v}" for k, v in
                  ((k, toml_value(v)) for k, v in table.items()) if v is not None]
    return "\n".join(lines) + "\n"


good_top_level = st.fixed_dictionaries({}, optional={
    "store": st.fixed_dictionaries({}, optional={"enabled": st.booleans(),
                                                 "ledger": st.booleans(),
                                                 "busy_timeout": good_seconds,
                                                 "models_ttl": good_seconds}),
    "pricing": st.fixed_dictionaries({}, optional={"genai_prices": st.just(False)}),
})
bad_top_level = st.fixed_dictionaries({}, optional={
    "default": st.sampled_from(list(DRIVERS)) | text.filter(lambda t: t not in OTHER_DRIVERS)
               | junk,
    "stor": st.just({"enabled": False}),
    "store": st.fixed_dictionaries({}, optional={"enabled": junk, "ledger": junk,
                                                 "busy_timeout": bad_seconds,
                                                 "models_ttl": bad_seconds}),
    "pricing": st.dictionaries(st.sampled_from(["genai_prices", "genai"]), junk, max_size=1),
    "budget": st.dictionaries(st.sampled_from(["limit", "period", "providers", "limt"]),
                              junk | st.sampled_from(["100", "day", "month"]), max_size=2),
    "providers": junk,
})
top_level = mostly(good_top_level, bad_top_level, weight=2)

#: Ways a written file is damaged before it is read.
damage = mostly(st.none(), st.one_of(
    st.tuples(st.just("bytes"), st.integers(0, 400), st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("truncate"), st.integers(0, 400)),
    st.tuples(st.just("nest"), st.integers(50, 60_000)),
), weight=3)


def damaged(data: bytes, how: Any) -> bytes:
    if how is None:
        return data
    if how[0] == "bytes":
        at = min(how[1], len(data))
        return data[:at] + how[2] + data[at:]
    if how[0] == "truncate":
        return data[:how[1]]
    return data + f"deep = {'[' * how[1]}{']' * how[1]}\n".encode()


env_text = st.text(st.characters(exclude_characters="\x00") | st.characters(categories=["Cs"]),
                   max_size=20)
secret_env_text = env_text.map(lambda t: "prop-env-key-" + t)
good_environments = st.fixed_dictionaries({"OPENAI_API_KEY": st.just(KEY)}, optional={
    "XAI_API_KEY": st.just(KEY), "GEMINI_API_KEY": st.just(KEY),
    "GOOGLE_API_KEY": st.just(KEY),
    "OLLAMA_HOST": st.sampled_from(["gpu-box", "gpu-box:11500", "10.0.0.9", "[::1]:11434",
                                    "HTTP://gpu-box:1", "https://ollama.example/api"]),
    "JTD_AI_DEFAULT_PROVIDER": st.sampled_from(DRIVERS),
    "JTD_AI_PLUGINS": st.sampled_from(["openai,gemini,ollama,xai"]),
})
bad_environments = st.fixed_dictionaries({}, optional={
    "OPENAI_API_KEY": st.just(KEY) | st.sampled_from([KEY + "\n", KEY + "\udcff"])
                      | secret_env_text,
    "XAI_API_KEY": st.just(KEY) | secret_env_text,
    "GEMINI_API_KEY": st.just(KEY) | secret_env_text,
    "GOOGLE_API_KEY": st.just(KEY) | secret_env_text,
    "OLLAMA_API_KEY": st.just(KEY) | secret_env_text,
    "OLLAMA_HOST": st.sampled_from(["gpu-box", "gpu-box:11500", "10.0.0.9", "[::1]:11434",
                                    "HTTP://gpu-box:1", "https://ollama.com/api", "file:///x",
                                    "unix:///sock", ":::", "http://", "a" * 70 + ".lan",
                                    "h:99999", "gpu box"]) | env_text,
    "JTD_AI_DEFAULT_PROVIDER": st.sampled_from([*DRIVERS, "nope", "OpenAI"])
                               | env_text.filter(lambda t: t not in OTHER_DRIVERS),
    "JTD_AI_PLUGINS": st.sampled_from(["", "openai", "openai,gemini,ollama,xai", ",,"])
                      | env_text,
    "JTD_AI_CONFIG": st.sampled_from(["/nonexistent/jtd-ai.toml", "/", "~nouser/x.toml",
                                      "", " "]),
})
environments = mostly(good_environments, bad_environments, weight=2)
