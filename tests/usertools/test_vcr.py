"""vcrpy records jtd-ai's calls and replays them with the server gone: sync calls (httpx),
async calls through aiohttp (the default) and through httpx (``http_backend = "httpx"``).

The recordings are made against the fake provider server on loopback, which is then
stopped (its port checked closed), so a replayed reply can only come from the cassette.
Expected texts are the fake server's documented answers (``"echo: <prompt>"``), never
values jtd-ai produced in the same test.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import vcr
import yaml
from aiohttp import web
from vcr.errors import CannotOverwriteExistingCassetteException

from jtd_ai import AIManager
from jtd_ai.testing import FakeProviderServer

Manager = Callable[..., AIManager]

#: Each provider's model on the fake server and the header its key travels in.
PROVIDERS = {
    "openai": ("gpt-4o-mini", "authorization"),
    "gemini": ("gemini-2.5-flash", "x-goog-api-key"),
}
#: A server's join of the events of a streamed "echo: Hi" (the fake server's rule).
STREAMED = "echo: Hi"


def recorder(header: str = "authorization", **options: Any) -> vcr.VCR:
    return vcr.VCR(filter_headers=[header], **options)


def assert_gone(server: FakeProviderServer) -> None:
    """``server`` was stopped: nothing listens on its port any more."""
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((server.host, server.port), timeout=2).close()


def interactions(cassette: Path) -> list[dict[str, Any]]:
    loaded = yaml.safe_load(cassette.read_text(encoding="utf-8"))
    found: list[dict[str, Any]] = loaded["interactions"]
    return found


def recorded_body(interaction: dict[str, Any]) -> Any:
    body = interaction["request"]["body"]
    return json.loads(body if isinstance(body, str | bytes) else body["string"])


def check_cassette(cassette: Path, api_key: str, header: str, model: str) -> None:
    """The cassette holds the two calls jtd-ai made (a plain one, then a stream) and no key."""
    text = cassette.read_text(encoding="utf-8")
    assert api_key not in text
    found = interactions(cassette)
    assert len(found) == 2
    for interaction in found:
        sent = {name.lower() for name in interaction["request"]["headers"]}
        assert header not in sent
        assert interaction["request"]["method"] == "POST"
        assert interaction["response"]["status"]["code"] == 200
    if header == "authorization":  # OpenAI's body names the model; Gemini's URL does
        bodies = [recorded_body(interaction) for interaction in found]
        assert bodies[0] == {"model": model, "messages": [{"role": "user", "content": "Hi"}]}
        assert bodies[1]["stream"] is True
        assert bodies[1]["messages"] == [{"role": "user", "content": "Hi"}]
    else:
        assert all(model in interaction["request"]["uri"] for interaction in found)


# -- sync, through httpx -----------------------------------------------------------------------

@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_sync_call_and_stream_are_recorded_and_replayed(
        provider: str, fake_server: FakeProviderServer, manager: Manager, tmp_path: Path,
        api_key: str) -> None:
    model, header = PROVIDERS[provider]
    cassette = tmp_path / "sync.yaml"
    base_url = fake_server.base_url(provider)

    def calls() -> tuple[Any, list[str], Any]:
        driver = manager(base_url, provider=provider).driver(provider)
        reply = driver.send_message("Hi", model=model)
        stream = driver.stream("Hi", model=model)
        return reply, [chunk.delta for chunk in stream], stream.response

    with recorder(header).use_cassette(str(cassette)):
        recorded, recorded_deltas, recorded_stream = calls()
    # The key was sent: only the cassette leaves it out.
    assert [request.authorized for request in fake_server.requests] == [True, True]
    assert_gone(fake_server)

    with recorder(header).use_cassette(str(cassette), record_mode="none") as played:
        replayed, replayed_deltas, replayed_stream = calls()
        assert played.all_played
    assert replayed.content == recorded.content == "echo: Hi"
    assert replayed.usage == recorded.usage
    assert replayed.usage.output_tokens > 0
    assert "".join(replayed_deltas) == "".join(recorded_deltas) == STREAMED
    assert replayed_stream.content == STREAMED
    assert replayed_stream.usage == recorded_stream.usage
    check_cassette(cassette, api_key, header, model)


# -- async, through aiohttp (the default) or httpx -----------------------------------------------

@pytest.mark.parametrize(("http_backend", "library"), [("auto", "aiohttp"), ("httpx", "httpx")])
async def test_an_async_call_and_stream_are_recorded_and_replayed(
        http_backend: str, library: str, fake_server: FakeProviderServer, manager: Manager,
        tmp_path: Path, api_key: str) -> None:
    cassette = tmp_path / "async.yaml"
    base_url = fake_server.base_url("openai")

    async def calls() -> tuple[Any, list[str], Any]:
        driver = manager(base_url, http_backend=http_backend).driver("openai")
        # The library vcrpy has to patch for this case: aiohttp's session, or httpx's.
        assert library in type(driver.transport.async_backend).__module__
        reply = await driver.asend_message("Hi", model="gpt-4o-mini")
        stream = driver.astream("Hi", model="gpt-4o-mini")
        return reply, [chunk.delta async for chunk in stream], stream.response

    with recorder().use_cassette(str(cassette)):
        recorded, recorded_deltas, recorded_stream = await calls()
    assert [request.authorized for request in fake_server.requests] == [True, True]
    assert_gone(fake_server)

    with recorder().use_cassette(str(cassette), record_mode="none") as played:
        replayed, replayed_deltas, replayed_stream = await calls()
        assert played.all_played
    assert replayed.content == recorded.content == "echo: Hi"
    assert replayed.usage == recorded.usage
    assert "".join(replayed_deltas) == "".join(recorded_deltas) == STREAMED
    assert replayed_stream.content == STREAMED
    assert replayed_stream.usage == recorded_stream.usage
    check_cassette(cassette, api_key, "authorization", "gpt-4o-mini")


# -- what else users meet -----------------------------------------------------------------------

async def test_matching_on_the_body_gives_each_prompt_its_recording(
        fake_server: FakeProviderServer, manager: Manager, tmp_path: Path) -> None:
    """By default any chat call plays the next recording; with ``match_on`` including the body,
    each prompt finds its own (jtd-ai's bodies are the same for the same call)."""
    cassette = tmp_path / "prompts.yaml"
    base_url = fake_server.base_url("openai")

    def ask(prompt: str) -> str:
        return manager(base_url).driver("openai").send_message(prompt,
                                                                model="gpt-4o-mini").content

    async def aask(prompt: str) -> str:
        reply = await manager(base_url).driver("openai").asend_message(prompt,
                                                                      model="gpt-4o-mini")
        return reply.content

    with recorder().use_cassette(str(cassette)):
        assert [ask("one"), ask("two")] == ["echo: one", "echo: two"]
    assert_gone(fake_server)

    with recorder().use_cassette(str(cassette), record_mode="none"):
        assert [ask("two"), ask("one")] == ["echo: one", "echo: two"]  # in recorded order
    by_body = recorder(match_on=["method", "uri", "body"])
    with by_body.use_cassette(str(cassette), record_mode="none"):
        assert [ask("two"), ask("one")] == ["echo: two", "echo: one"]
    with by_body.use_cassette(str(cassette), record_mode="none"):  # aiohttp's bodies too
        assert [await aask("two"), await aask("one")] == ["echo: two", "echo: one"]


async def test_a_request_the_cassette_cannot_answer_raises_vcrpys_error_as_it_is(
        fake_server: FakeProviderServer, manager: Manager, tmp_path: Path) -> None:
    """Neither retried nor turned into a provider error, sync (httpx) or async (aiohttp)."""
    cassette = tmp_path / "one.yaml"
    base_url = fake_server.base_url("openai")
    by_body = recorder(match_on=["method", "uri", "body"])
    with by_body.use_cassette(str(cassette)):
        manager(base_url).driver("openai").send_message("Hi", model="gpt-4o-mini")
    assert_gone(fake_server)

    with by_body.use_cassette(str(cassette), record_mode="none"):
        driver = manager(base_url).driver("openai")
        with pytest.raises(CannotOverwriteExistingCassetteException):
            driver.send_message("not recorded", model="gpt-4o-mini")
        with pytest.raises(CannotOverwriteExistingCassetteException):
            await driver.asend_message("not recorded", model="gpt-4o-mini")


# -- compressed replies -------------------------------------------------------------------------

REPLY = {
    "id": "chatcmpl-gz", "object": "chat.completion", "created": 1_700_000_000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "Hello, compressed"}}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
}


class GzipServer:
    """A loopback server that answers every POST with :data:`REPLY`, gzipped, as providers do."""

    def __init__(self) -> None:
        self.port = 0
        self.seen: list[dict[str, str]] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="usertools-gzip-server")

    async def _answer(self, request: web.Request) -> web.Response:
        self.seen.append({name.lower(): value for name, value in request.headers.items()})
        await request.read()
        return web.Response(body=gzip.compress(json.dumps(REPLY).encode()),
                            headers={"Content-Encoding": "gzip",
                                     "Content-Type": "application/json"})

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def start(self) -> GzipServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            asyncio.run_coroutine_threadsafe(runner.cleanup(), self._loop).result(10)
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._loop.is_running():
            self._loop.close()


@pytest.fixture
def gzip_server() -> Iterator[GzipServer]:
    server = GzipServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("decode", [False, True], ids=["stored-compressed", "stored-decoded"])
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_gzipped_reply_is_replayed(
        gzip_server: GzipServer, manager: Manager, tmp_path: Path, mode: str,
        decode: bool) -> None:
    """Recorded as it came (jtd-ai decodes replies itself, so aiohttp's and httpx's bodies
    reach vcrpy compressed), or decoded with ``decode_compressed_response``; both replay."""
    cassette = tmp_path / "gzip.yaml"
    base_url = f"http://127.0.0.1:{gzip_server.port}/v1"

    async def ask() -> str:
        driver = manager(base_url).driver("openai")
        if mode == "sync":
            return driver.send_message("Hi", model="gpt-4o-mini").content
        return (await driver.asend_message("Hi", model="gpt-4o-mini")).content

    rec = recorder(decode_compressed_response=decode)
    with rec.use_cassette(str(cassette)):
        assert await ask() == "Hello, compressed"
    assert "gzip" in gzip_server.seen[0]["accept-encoding"]
    gzip_server.stop()

    with rec.use_cassette(str(cassette), record_mode="none") as played:
        assert await ask() == "Hello, compressed"
        assert played.all_played
    [interaction] = interactions(cassette)
    body = interaction["response"]["body"]["string"]
    headers = {name.lower() for name in interaction["response"]["headers"]}
    if decode:
        assert json.loads(body) == REPLY
        assert "content-encoding" not in headers
    else:
        assert gzip.decompress(body) == json.dumps(REPLY).encode()
        assert "content-encoding" in headers


def test_the_docs_example_runs(run_docs_example: Callable[[str], str]) -> None:
    run_docs_example("Recording with vcrpy")
