"""The fault-injection suite's toolkit (tests/faults): the matrix cases, and a harness that
builds a fresh manager per driver against the fake provider server, with its usage ledger in
the test's folder.

A test takes ``case`` (driver x sync/async x send/stream, 16 of them) and ``harness``;
``harness.call(case, ...)`` makes the call the way an application would (``send_message`` /
``asend_message`` / iterating ``stream`` / ``astream``) and returns an :class:`Outcome`: the
reply or the typed error, the text each stream chunk delivered, the time taken, the chat
requests the server received, the attempts the core counted, and the ledger's rows.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any, TypeVar

from attrs import define, field
from call_forms import asend_or_astream, send_or_stream

from jtd_ai import AIError, AIManager, Driver, Response
from jtd_ai.calls import CallInfo
from jtd_ai.hookspecs import hookimpl
from jtd_ai.ledger import UsageRecord
from jtd_ai.testing import FakeProviderServer, RecordedRequest

#: The key the server accepts (every driver sends it, except in the wrong-key test).
KEY = "sk-fault-suite-key-000000000001"
DRIVERS = ("openai", "xai", "gemini", "ollama")
MODES = ("sync", "async")
KINDS = ("send", "stream")
MODELS = {"openai": "gpt-4o-mini", "xai": "grok-3-mini", "gemini": "gemini-2.5-flash",
          "ollama": "llama3.2:latest"}
#: A model name each dialect of the fake server answers with a 404.
MISSING_MODELS = {"openai": "gpt-missing", "xai": "grok-missing", "gemini": "gemini-missing",
                  "ollama": "missing-model:latest"}
#: Stream events each dialect sends before the first one that carries text (OpenAI's first
#: chunk only announces the assistant role, and delivers nothing).
LEAD_EVENTS = {"openai": 1, "xai": 1, "gemini": 0, "ollama": 0}
#: What every test asks; the fake server answers "echo: " + the prompt, one word per event.
PROMPT = "alpha beta gamma delta epsilon zeta"
REPLY = "echo: " + PROMPT
PIECES = [(" " if i else "") + word for i, word in enumerate(REPLY.split(" "))]
#: The provider settings every test starts from: three attempts, a 1 ms backoff base (and
#: stamina's testing mode skips even that), timeouts long enough never to fire by accident.
BASE_SETTINGS: dict[str, Any] = {"retry_attempts": 3, "retry_delay": 1, "timeout": 10,
                                 "connect_timeout": 5, "deadline": 30}
E = TypeVar("E", bound=AIError)
CHAT_PATHS = ("/chat/completions", ":generateContent", ":streamGenerateContent", "/api/chat")


def text_before_event(driver: str, events: int) -> str:
    """The reply text carried by the first ``events`` events of a stream from ``driver``."""
    return "".join(PIECES[:max(0, events - LEAD_EVENTS[driver])])


@define(frozen=True)
class Case:
    """One cell of the matrix: a driver, called sync or async, as a send or a stream."""

    driver: str
    mode: str
    kind: str

    @property
    def id(self) -> str:
        return f"{self.driver}-{self.mode}-{self.kind}"

    @property
    def streaming(self) -> bool:
        return self.kind == "stream"

    @property
    def model(self) -> str:
        return MODELS[self.driver]


CASES = [Case(d, m, k) for d, m, k in itertools.product(DRIVERS, MODES, KINDS)]


@define
class Outcome:
    """What one call did, seen from the application, the wire and the ledger."""

    case: Case
    response: Response | None
    error: AIError | None
    #: The ``delta`` of every chunk the stream delivered, in order (empty for a send).
    deltas: list[str]
    #: Seconds the call took, from the first method call until it returned or raised.
    elapsed: float
    #: Chat requests the server received during the call (every attempt is one).
    requests: list[RecordedRequest]
    #: The core's record of each call that ended: (CallInfo, Response or error).
    calls: list[tuple[CallInfo, Response | AIError]]
    manager: AIManager

    @property
    def text(self) -> str:
        """What the application received: the reply's content, or the streamed deltas."""
        if self.deltas or self.response is None:
            return "".join(self.deltas)
        return self.response.content

    @property
    def attempts(self) -> int:
        """The attempts the core counted for the (single) call."""
        (call, _), = self.calls
        return call.attempts

    def ledger(self) -> list[UsageRecord]:
        """Every usage row written for this test's calls (the writer is flushed first)."""
        return self.manager.usage.records(limit=10_000)

    def expect_error(self, kind: type[E]) -> E:
        """The call's error, checked to be exactly ``kind`` (a subclass does not count)."""
        assert self.response is None, f"expected {kind.__name__}, got a reply: {self.text!r}"
        error = self.error
        assert error is not None
        assert type(error) is kind, (
            f"expected {kind.__name__}, got {type(error).__name__}: {error}")
        assert isinstance(error, kind)
        return error

    def expect_reply(self) -> Response:
        """The reply, checked to be exactly the echo of the prompt, delivered once."""
        assert self.error is None, f"expected a reply, got {type(self.error).__name__}: " \
                                   f"{self.error}"
        assert self.response is not None
        assert self.response.content == REPLY
        if self.deltas:
            # Every piece once, in order: a retry never repeats what was already delivered.
            assert [d for d in self.deltas if d] == PIECES
        return self.response

    def expect_ledger_row(self, status: str) -> UsageRecord:
        """Exactly one ledger row for the call, with ``status`` (``ok``, or the error's type:
        the row's status is then ``error``, the type in its ``error``) and the attempts
        made."""
        rows = self.ledger()
        assert len(rows) == 1, f"expected one ledger row, got {len(rows)}: {rows}"
        (row,) = rows
        assert (row.status, row.error) == (("ok", None) if status == "ok" else ("error", status))
        assert row.attempts == self.attempts
        assert row.operation == ("stream" if self.case.streaming else "chat")
        return row


class _CallRecorder:
    """A hook plugin keeping how each call ended, with the core's attempt count."""

    def __init__(self) -> None:
        self.calls: list[tuple[CallInfo, Response | AIError]] = []

    @hookimpl
    def after_response(self, call: CallInfo, response: Response) -> None:
        self.calls.append((call, response))

    @hookimpl
    def on_error(self, call: CallInfo, error: AIError) -> None:
        self.calls.append((call, error))


@define
class Harness:
    """Builds drivers against the fault server and calls them the way applications do."""

    server: FakeProviderServer
    folder: Path
    #: Each driver's manager and call recorder, by ``id(driver)``.
    _made: dict[int, tuple[AIManager, _CallRecorder]] = field(factory=dict)

    def driver(self, case: Case | str, **settings: Any) -> Driver:
        """A fresh driver of ``case`` against the server; ``settings`` override the base
        provider settings. Each gets its own manager and its own ledger database."""
        name = case.driver if isinstance(case, Case) else case
        config = {"base_url": self.server.base_url(name), "api_key": KEY,
                  "default_model": MODELS[name], **BASE_SETTINGS, **settings}
        store = {"path": str(self.folder / f"ledger-{len(self._made)}.db")}
        manager = AIManager(providers={name: config}, config_file=False, env={}, store=store)
        driver = manager.driver(name)
        recorder = _CallRecorder()
        manager.hooks.register(recorder)
        self._made[id(driver)] = (manager, recorder)
        return driver

    def manager_of(self, driver: Driver) -> AIManager:
        return self._made[id(driver)][0]

    def call(self, case: Case, driver: Driver | None = None, prompt: str = PROMPT,
             **options: Any) -> Outcome:
        """Make one call of ``case`` (a new default driver unless one is given); ``options``
        go to the call (``model`` defaults to the case's, ``timeout`` is the deadline)."""
        options.setdefault("model", case.model)
        driver = driver if driver is not None else self.driver(case)
        manager, recorder = self._made[id(driver)]
        first = len(self.server.requests)
        deltas: list[str] = []
        response: Response | None = None
        error: AIError | None = None
        started = time.monotonic()
        try:
            if case.mode == "sync":
                response = send_or_stream(driver, prompt, deltas, streaming=case.streaming,
                                          **options)
            else:
                response = asyncio.run(self._async(case, driver, prompt, deltas, options))
        except AIError as exc:
            error = exc
        elapsed = time.monotonic() - started
        requests = [r for r in list(self.server.requests)[first:]
                    if r.method == "POST" and r.path.endswith(CHAT_PATHS)]
        return Outcome(case, response, error, deltas, elapsed, requests, list(recorder.calls),
                       manager)

    @staticmethod
    async def _async(case: Case, driver: Driver, prompt: str, deltas: list[str],
                     options: dict[str, Any]) -> Response:
        try:
            return await asend_or_astream(driver, prompt, deltas, streaming=case.streaming,
                                          **options)
        finally:
            await driver.aclose()  # this event loop's connection pool ends with it

    def close(self) -> None:
        for manager, _ in self._made.values():
            manager.close()
