"""The official Python clients (openai, google-genai, ollama) work against the fake provider
server, over real HTTP on loopback. Expected values come from the fake's reply rule:
``"echo: <prompt>"``, one token per whitespace-separated word."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jtd_ai.testing import FakeProviderServer, Fault

openai = pytest.importorskip("openai")
genai = pytest.importorskip("google.genai")
genai_types = pytest.importorskip("google.genai.types")
ollama = pytest.importorskip("ollama")

KEY = "sk-official-sdk-key-4d2e"
PROMPT = "hello there friend"  # 3 prompt tokens
REPLY = "echo: hello there friend"  # 4 completion tokens
PIECES = ["echo:", " hello", " there", " friend"]


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


def user(text: str = PROMPT) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# -- openai -----------------------------------------------------------------------------------


@pytest.fixture
def openai_client(server: FakeProviderServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=KEY, base_url=server.base_url("openai"), max_retries=0,
                       timeout=5) as client:
        yield client


def test_openai_chat(openai_client: openai.OpenAI, server: FakeProviderServer) -> None:
    completion = openai_client.chat.completions.create(model="gpt-4o-mini", messages=user())
    assert completion.choices[0].message.content == REPLY
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-4o-mini-2024-07-18"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens,
            completion.usage.total_tokens) == (3, 4, 7)
    (sent,) = server.requests
    assert sent.authorized is True and sent.key_source == "authorization"


def test_openai_stream_with_usage(openai_client: openai.OpenAI) -> None:
    stream = openai_client.chat.completions.create(
        model="gpt-4o-mini", messages=user(), stream=True,
        stream_options={"include_usage": True})
    chunks = list(stream)
    deltas = [c.choices[0].delta.content for c in chunks if c.choices]
    assert [d for d in deltas if d] == PIECES
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (3, 4)


def test_openai_tool_call_stream(openai_client: openai.OpenAI) -> None:
    tools = [{"type": "function", "function": {
        "name": "lookup", "parameters": {"type": "object",
                                         "properties": {"query": {"type": "string"}}}}}]
    with openai_client.chat.completions.stream(model="gpt-4o-mini", messages=user("cats"),
                                               tools=tools) as stream:
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls or []
    assert call.function.name == "lookup"
    assert call.function.arguments == '{"query": "cats"}'
    assert final.choices[0].finish_reason == "tool_calls"


def test_openai_models_list_and_errors(openai_client: openai.OpenAI,
                                       server: FakeProviderServer) -> None:
    assert [m.id for m in openai_client.models.list()] == ["gpt-4o-mini", "gpt-4o", "gpt-5-mini"]
    assert openai_client.models.retrieve("gpt-4o").owned_by == "fake"
    server.inject(Fault(status=429, retry_after="1", kind="insufficient_quota"))
    with pytest.raises(openai.RateLimitError) as info:
        openai_client.chat.completions.create(model="gpt-4o-mini", messages=user())
    assert info.value.code == "insufficient_quota"
    with (openai.OpenAI(api_key="sk-wrong", base_url=server.base_url("openai"), max_retries=0,
                        timeout=5) as wrong,
          pytest.raises(openai.AuthenticationError)):
        wrong.models.list()
    assert server.requests[-1].authorized is False


async def test_openai_async_chat_stream_and_models(server: FakeProviderServer) -> None:
    async with openai.AsyncOpenAI(api_key=KEY, base_url=server.base_url("openai"),
                                  max_retries=0, timeout=5) as client:
        completion = await client.chat.completions.create(model="gpt-4o", messages=user())
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=user(), stream=True,
            stream_options={"include_usage": True})
        chunks = [chunk async for chunk in stream]
        models = [m.id async for m in client.models.list()]
    assert completion.choices[0].message.content == REPLY
    assert completion.model == "gpt-4o-2024-08-06"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    assert models == ["gpt-4o-mini", "gpt-4o", "gpt-5-mini"]


# -- google-genai ------------------------------------------------------------------------------


@pytest.fixture(params=["v1beta", None], ids=["v1beta", "sdk-default-version"])
def gemini_client(request: pytest.FixtureRequest,
                  server: FakeProviderServer) -> Iterator[genai.Client]:
    options = genai_types.HttpOptions(base_url=server.url, api_version=request.param,
                                      timeout=5000)
    with genai.Client(api_key=KEY, http_options=options) as client:
        yield client


def test_gemini_generate_content(gemini_client: genai.Client,
                                 server: FakeProviderServer) -> None:
    response = gemini_client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert response.text == REPLY
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == genai_types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count,
            usage.total_token_count) == (3, 4, 7)
    (sent,) = server.requests
    assert sent.key_source == "x-goog-api-key" and sent.authorized is True


def test_gemini_generate_content_stream(gemini_client: genai.Client,
                                        server: FakeProviderServer) -> None:
    chunks = list(gemini_client.models.generate_content_stream(model="gemini-2.5-flash",
                                                               contents=PROMPT))
    assert [c.text for c in chunks] == PIECES
    last = chunks[-1].usage_metadata
    assert last is not None and (last.prompt_token_count, last.candidates_token_count) == (3, 4)
    assert server.requests[-1].query == {"alt": "sse"}


def test_gemini_function_call(gemini_client: genai.Client) -> None:
    tool = genai_types.Tool(function_declarations=[genai_types.FunctionDeclaration(
        name="lookup", parameters=genai_types.Schema(
            type=genai_types.Type.OBJECT,
            properties={"query": genai_types.Schema(type=genai_types.Type.STRING)}))])
    config = genai_types.GenerateContentConfig(
        tools=[tool],
        automatic_function_calling=genai_types.AutomaticFunctionCallingConfig(disable=True))
    response = gemini_client.models.generate_content(model="gemini-2.5-flash", contents="cats",
                                                     config=config)
    (call,) = response.function_calls or []
    assert (call.name, call.args) == ("lookup", {"query": "cats"})


def test_gemini_wrong_key(server: FakeProviderServer) -> None:
    options = genai_types.HttpOptions(base_url=server.url, api_version="v1beta", timeout=5000)
    with (genai.Client(api_key="AIzaWrongKey", http_options=options) as client,
          pytest.raises(genai.errors.ClientError) as info):
        client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert info.value.code == 400
    assert info.value.status == "INVALID_ARGUMENT"


# -- ollama ------------------------------------------------------------------------------------


@pytest.fixture
def ollama_client(server: FakeProviderServer) -> Iterator[ollama.Client]:
    client = ollama.Client(host=server.url, timeout=5)
    yield client
    client.close()


def test_ollama_chat(ollama_client: ollama.Client) -> None:
    response = ollama_client.chat(model="llama3.2", messages=user())
    assert response.message.content == REPLY
    assert response.done is True and response.done_reason == "stop"
    assert (response.prompt_eval_count, response.eval_count) == (3, 4)


def test_ollama_stream(ollama_client: ollama.Client) -> None:
    parts = list(ollama_client.chat(model="llama3.2", messages=user(), stream=True))
    assert [p.message.content for p in parts] == [*PIECES, ""]
    assert parts[-1].done is True and parts[-1].eval_count == 4


def test_ollama_stream_with_tools(ollama_client: ollama.Client) -> None:
    tools = [{"type": "function", "function": {
        "name": "lookup", "description": "Look up",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}]
    parts = list(ollama_client.chat(model="llama3.2", messages=user("cats"), tools=tools,
                                    stream=True))
    calls = [c for p in parts for c in p.message.tool_calls or []]
    assert [(c.function.name, dict(c.function.arguments)) for c in calls] == [
        ("lookup", {"query": "cats"})]
    assert parts[-1].done is True


def test_ollama_list_show_and_ps(ollama_client: ollama.Client) -> None:
    assert [m.model for m in ollama_client.list().models] == ["llama3.2:latest", "qwen3:8b"]
    shown = ollama_client.show("qwen3:8b")
    assert shown.capabilities == ["completion", "tools"]
    (running,) = ollama_client.ps().models
    assert (running.model, running.context_length) == ("llama3.2:latest", 4096)


async def test_ollama_async_chat(server: FakeProviderServer) -> None:
    client = ollama.AsyncClient(host=server.url, timeout=5)
    try:
        response = await client.chat(model="llama3.2", messages=user())
    finally:
        await client.close()
    assert response.message.content == REPLY
