"""Drivers and calls for the network suite: a driver built the way an application builds one
(``AIManager(providers=..., config_file=False, env={})``), called sync, async on aiohttp (the
default) or async on httpx (``http_backend = "httpx"``), as a send or a stream; and the check
that a secret appears in no error, log record or repr.

Light on imports (only jtd_ai): ``hostile_client.py`` uses it in a subprocess.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import traceback
from collections.abc import Iterable
from typing import Any, TypeVar

from attrs import define, field

from jtd_ai import AIError, AIManager, Driver, Response
from jtd_ai.calls import CallInfo
from jtd_ai.hookspecs import hookimpl

__all__ = ["KEY", "KINDS", "MODES", "Calls", "Outcome", "origin", "port_of", "shown_texts"]

E = TypeVar("E", bound=AIError)
#: The API key the OpenAI-shaped drivers send.
KEY = "sk-network-suite-key-0000000001"
#: sync: httpx; async: aiohttp (the default); async-httpx: ``http_backend = "httpx"``.
MODES = ("sync", "async", "async-httpx")
KINDS = ("send", "stream")
MODELS = {"openai": "gpt-4o-mini", "ollama": "llama3.2:latest", "xai": "grok-3-mini",
          "gemini": "gemini-2.5-flash"}
PROMPT = "alpha beta gamma"
REPLY = "echo: " + PROMPT
#: Settings every test starts from: retries on (a retryable failure would show as more than
#: one attempt), a 1 ms backoff base, timeouts that bound every call but never fire by chance.
BASE_SETTINGS: dict[str, Any] = {"retry_attempts": 3, "retry_delay": 1, "timeout": 10,
                                 "connect_timeout": 5, "deadline": 30}


def origin(server: Any) -> str:
    """The fake provider server's ``http://127.0.0.1:PORT``, from its public ``base_url``
    (Ollama's has no path)."""
    return str(server.base_url("ollama")).rstrip("/")


def port_of(server: Any) -> int:
    return int(origin(server).rsplit(":", 1)[1])


def provider_settings(driver: str, base_url: str, mode: str, **settings: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"driver": driver, "base_url": base_url,
                              "default_model": MODELS[driver], **BASE_SETTINGS}
    if driver != "ollama":
        config["api_key"] = KEY
    if mode == "async-httpx":
        config["http_backend"] = "httpx"
    config.update(settings)
    return config


@define
class Outcome:
    """What one call did, as the application saw it."""

    mode: str
    kind: str
    response: Response | None
    error: AIError | None
    #: Deltas the stream delivered, in order.
    deltas: list[str]
    #: Seconds the call took.
    elapsed: float
    #: Attempts the core counted (CallInfo.attempts), or None for a listing.
    attempts: int | None

    @property
    def text(self) -> str:
        if self.response is not None:
            return self.response.content
        return "".join(self.deltas)

    def ok(self) -> Response:
        assert self.error is None, (
            f"{self.mode} {self.kind}: expected a reply, got {type(self.error).__name__}: "
            f"{self.error}")
        assert self.response is not None
        return self.response

    def failed(self, kind: type[E]) -> E:
        assert self.response is None, f"{self.mode} {self.kind}: expected an error, got a " \
                                      f"reply {self.text[:200]!r}"
        assert self.error is not None
        assert isinstance(self.error, kind), (
            f"{self.mode} {self.kind}: expected {kind.__name__}, got "
            f"{type(self.error).__name__}: {self.error}")
        return self.error


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[CallInfo] = []

    @hookimpl
    def after_response(self, call: CallInfo, response: Response) -> None:
        self.calls.append(call)

    @hookimpl
    def on_error(self, call: CallInfo, error: AIError) -> None:
        self.calls.append(call)


@define
class Calls:
    """Builds drivers (one manager each) and calls them; :meth:`close` closes them all."""

    managers: list[AIManager] = field(factory=list)
    _recorders: dict[int, _Recorder] = field(factory=dict)

    def driver(self, driver: str, base_url: str, mode: str, **settings: Any) -> Driver:
        manager = AIManager(providers={"p": provider_settings(driver, base_url, mode,
                                                              **settings)},
                            config_file=False, env={})
        self.managers.append(manager)
        made = manager.driver("p")
        recorder = _Recorder()
        manager.hooks.register(recorder)
        self._recorders[id(made)] = recorder
        return made

    def manager_of(self, driver: Driver) -> AIManager:
        for manager in self.managers:
            if manager.driver("p") is driver:
                return manager
        raise LookupError(driver)

    def call(self, driver: Driver, mode: str, kind: str, prompt: str = PROMPT,
             **options: Any) -> Outcome:
        """One call the way an application makes it; errors are caught into the outcome."""
        recorder = self._recorders[id(driver)]
        before = len(recorder.calls)
        deltas: list[str] = []
        response: Response | None = None
        error: AIError | None = None
        started = time.monotonic()
        try:
            if mode == "sync":
                response = _sync(driver, kind, prompt, deltas, options)
            else:
                response = asyncio.run(_async(driver, kind, prompt, deltas, options))
        except AIError as exc:
            error = exc
        elapsed = time.monotonic() - started
        made = recorder.calls[before:]
        attempts = made[-1].attempts if made else None
        return Outcome(mode, kind, response, error, deltas, elapsed, attempts)

    def models(self, driver: Driver, mode: str) -> Any:
        """``get_available_models`` (sync) or ``aget_available_models`` (async)."""
        if mode == "sync":
            return driver.get_available_models(refresh=True)

        async def listing() -> Any:
            try:
                return await driver.aget_available_models(refresh=True)
            finally:
                await driver.aclose()

        return asyncio.run(listing())

    def close(self) -> None:
        for manager in self.managers:
            manager.close()
        self.managers.clear()


def _sync(driver: Driver, kind: str, prompt: str, deltas: list[str],
          options: dict[str, Any]) -> Response:
    if kind == "send":
        return driver.send_message(prompt, **options)
    with driver.stream(prompt, **options) as stream:
        for chunk in stream:
            deltas.append(chunk.delta)
    assert stream.response is not None
    return stream.response


async def _async(driver: Driver, kind: str, prompt: str, deltas: list[str],
                 options: dict[str, Any]) -> Response:
    try:
        if kind == "send":
            return await driver.asend_message(prompt, **options)
        async with driver.astream(prompt, **options) as stream:
            async for chunk in stream:
                deltas.append(chunk.delta)
        assert stream.response is not None
        return stream.response
    finally:
        await driver.aclose()  # this event loop's pool closes with it


# -- secrets -------------------------------------------------------------------------------------


def secret_forms(password: str, *, user: str | None = None,
                 encoded: str | None = None) -> list[str]:
    """Every form in which ``password`` could leak: as written, percent-encoded as in the URL,
    and inside a Basic-auth token."""
    forms = [password]
    if encoded and encoded != password:
        forms.append(encoded)
    if user is not None:
        forms.append(base64.b64encode(f"{user}:{password}".encode()).decode())
    return forms


def _error_texts(error: BaseException) -> Iterable[str]:
    seen: set[int] = set()
    todo: list[BaseException] = [error]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        yield repr(current.args)
        yield repr(vars(current)) if hasattr(current, "__dict__") else ""
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
    yield "".join(traceback.format_exception(error))


def _record_texts(records: Iterable[logging.LogRecord]) -> Iterable[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in records:
        yield record.getMessage()
        yield formatter.format(record)
        yield repr(record.args)
        if record.exc_info and record.exc_info[1] is not None:
            yield from _error_texts(record.exc_info[1])


def shown_texts(*, error: BaseException | None = None,
                records: Iterable[logging.LogRecord] = (),
                objects: Iterable[object] = ()) -> list[str]:
    """Everything a user could be shown: an error with its whole cause/context chain and
    formatted traceback, every log record (message, args, exception), the repr and str of
    ``objects``."""
    texts: list[str] = []
    if error is not None:
        texts += _error_texts(error)
    texts += _record_texts(records)
    for thing in objects:
        texts += [repr(thing), str(thing)]
    return texts


def assert_hidden(secrets: Iterable[str], texts: Iterable[str]) -> None:
    texts = list(texts)
    assert texts, "nothing to check"
    for secret in secrets:
        for text in texts:
            assert secret not in text, f"the secret {secret[:2]}... is shown in: {text[:500]}"
