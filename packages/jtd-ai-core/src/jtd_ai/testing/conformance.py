"""The driver conformance kit: one pytest base class every driver runs, ours and yours.

Subclass :class:`DriverConformanceTests` and give it your driver's name, its settings, a
model id and canned wire responses written from your provider's documentation, each with
what it means::

    class TestAcmeConformance(DriverConformanceTests):
        driver = "acme"                               # the entry point's name
        settings = {"api_key": "acme-test-key-0001"}  # base_url etc. as in jtd-ai.toml
        model = "acme-1"
        samples = WireSamples(
            chat=CannedResponse(
                200, {...}, content="Hello!", finish_reason="stop",
                usage=TokenUsage(input_tokens=9, output_tokens=3),
                cost="0.0000054"),                    # by hand, from the price page
            stream=CannedResponse(200, b"data: ...\\n\\n", content="Hello!",
                                  sent={"stream_options": {"include_usage": True}}),
            tool_call=CannedResponse(200, {...}, tool_calls=[
                ExpectedCall("get_weather", '{"city":"Rome"}', id="call_1")]),
            models=CannedResponse(200, {...}, model_ids=["acme-1"]),
            errors={"invalid_credentials": CannedResponse(401, {...}), ...,
                    "out_of_credit": CannedResponse(402, {...}, error=QuotaExceededError)},
        )

The kit builds your driver through its entry point, answers its requests with the samples
(a :class:`~jtd_ai.testing.ScriptedTransport`) and checks, sync and async, what every driver
must do, and that each result is what its sample says it means: text, finish reason, tool
calls (names, ids, arguments exactly as sent), token usage, and cost, which the kit works
out itself, in Decimal, from the price your driver declares (a price made from a float
fails). Tests follow what the driver declares: a declared capability must pass; an
undeclared one, or a sample not supplied, is skipped naming it, and the end of the run
lists every skipped kit test and why. Overriding or deleting a kit test fails the run
unless the override is marked ``xfail`` with a reason, so gaps stay visible. Every test's
docstring has a Troubleshooting note.

Run against the real provider with ``pytest --jtd-ai-live`` (keys from the environment): the
tests that need canned faults are skipped, the rest talk to the provider.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import httpx
import pytest
from attrs import define, field, fields

from jtd_ai.driver import Driver
from jtd_ai.errors import (
    ContentFilteredError,
    InvalidCredentialsError,
    MalformedResponseError,
    ModelNotFoundError,
    ProviderError,
    ProviderUnavailableError,
    QuotaExceededError,
    RateLimitError,
    StreamInterruptedError,
    ValidationError,
)
from jtd_ai.manager import AIManager
from jtd_ai.messages import Tool
from jtd_ai.modelinfo import ModelInfo
from jtd_ai.pricing import Pricing
from jtd_ai.responses import FinishReason, Response, TokenUsage
from jtd_ai.testing.batch_conformance import BatchConformanceTests, BatchSamples
from jtd_ai.testing.transports import BrokenStream, ScriptedTransport

__all__ = ["ERROR_KINDS", "BatchSamples", "CannedResponse", "DriverConformanceTests",
           "ExpectedCall", "WireSamples", "kit_cost"]

MODES = ["sync", "async"]

#: Error kinds the kit knows, with the HTTP status they usually arrive with and the type
#: the driver must raise. A driver's own kinds are welcome: give such a sample
#: ``error=TheType`` (``errors={"insufficient_balance": CannedResponse(402, ...,
#: error=QuotaExceededError)}``).
ERROR_KINDS: dict[str, tuple[int, type[ProviderError]]] = {
    "bad_request": (400, ProviderError),
    "invalid_credentials": (401, InvalidCredentialsError),
    "permission_denied": (403, InvalidCredentialsError),
    "model_not_found": (404, ModelNotFoundError),
    "content_filter": (400, ContentFilteredError),
    "rate_limit": (429, RateLimitError),
    "quota": (429, QuotaExceededError),
    "server_error": (500, ProviderUnavailableError),
    "unavailable": (503, ProviderUnavailableError),
}

#: The request options a caller sets and the distinctive values the kit sends for them.
REQUEST_OPTIONS: dict[str, Any] = {
    "temperature": 0.37, "top_p": 0.91, "max_tokens": 123, "stop": ["<END>"], "seed": 4242,
}

_MILLION = Decimal(1_000_000)
#: A price is a short decimal (0.15, 2.50, 0.0000375); one with more significant digits
#: than this came from a float (Decimal(0.15) has 55 of them).
_MAX_PRICE_DIGITS = 15


@define
class ExpectedCall:
    """A tool call a sample must produce: its name; its ``arguments`` as the provider sent
    them (a str: the exact JSON text, which must be kept, never re-serialised; a mapping:
    compared parsed, for providers that send an object); its ``id`` when the provider sent
    one (otherwise any non-empty id the driver made up); ``metadata`` it must carry (Gemini's
    thought signature), compared key by key."""

    name: str
    arguments: str | Mapping[str, Any] | None = None
    id: str | None = None
    metadata: Mapping[str, Any] | None = None


def _expected_calls(value: Sequence[ExpectedCall] | None) -> tuple[ExpectedCall, ...] | None:
    return None if value is None else tuple(value)


def _finish(value: FinishReason | str | None) -> FinishReason | None:
    return None if value is None else FinishReason(value)


def _strings(value: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _reject_unknown(owner: str, given: Mapping[str, Any], known: Sequence[str]) -> None:
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise TypeError(f"{owner} got unknown key(s) {', '.join(map(repr, unknown))}; the "
                        f"known keys are: {', '.join(known)}")


@define(init=False)
class CannedResponse:
    """One reply of the provider: status, body (bytes, text, or JSON data) and headers, plus
    what the driver must make of it. Every expectation is optional; each one given is
    checked wherever the kit serves the sample. An unknown keyword is a TypeError that
    lists the known ones."""

    status: int
    body: Any = b""
    headers: Mapping[str, str] = field(factory=dict)
    #: The reply text the driver must produce.
    content: str | None = None
    #: The finish reason it must report (a FinishReason or its value, e.g. "length").
    finish_reason: FinishReason | None = field(default=None, converter=_finish)
    #: The tool the model calls (the first call's name; see ``tool_calls`` for more).
    tool_name: str | None = None
    #: Every tool call, in order, with its id and arguments as sent.
    tool_calls: tuple[ExpectedCall, ...] | None = field(default=None,
                                                         converter=_expected_calls)
    #: The token usage it must report, exactly (input includes cached tokens, output
    #: includes reasoning tokens; billed counts where the provider bills differently).
    usage: TokenUsage | None = None
    #: The cost in US dollars, worked out by hand from the provider's price page
    #: (a str or Decimal). The kit also checks the cost against its own arithmetic.
    cost: Decimal | str | None = None
    #: The reasoning (thinking) text it must report.
    reasoning: str | None = None
    #: The model name it must report.
    model: str | None = None
    #: The request id it must report (from a header or the body).
    request_id: str | None = None
    #: The typed error it must raise instead of a reply (any sample; an error sample of a
    #: kind of the driver's own must say it).
    error: type[ProviderError] | None = None
    #: Attributes that error must carry, e.g. ``{"category": "HARM_CATEGORY_HATE_SPEECH"}``.
    error_attrs: Mapping[str, Any] = field(factory=dict)
    #: Words of the provider's own message that the error's text must quote.
    error_text: str | None = None
    #: Seconds the driver must report as ``retry_after`` (rate-limit samples).
    retry_after: float | None = None
    #: Whether the sample reports token usage (stream samples without usage set False).
    has_usage: bool = True
    #: What the request this sample answers must carry: a subset of its JSON body
    #: (``{"stream_options": {"include_usage": True}}``).
    sent: Mapping[str, Any] | None = None
    #: Headers the request this sample answers must carry (names lower-case), e.g.
    #: ``{"authorization": "Bearer test-key"}``.
    sent_headers: Mapping[str, str] | None = None
    #: Text the URL of that request must contain, e.g. ``"/v1/chat/completions"``.
    sent_url: str | None = None
    #: The refusal text it must report.
    refusal: str | None = None
    #: Model ids a models sample lists.
    model_ids: tuple[str, ...] | None = field(default=None, converter=_strings)
    #: Whether the body is a stream; None: guessed from its content-type (event-stream or
    #: ndjson).
    stream: bool | None = None

    def __init__(self, status: int, body: Any = b"", headers: Mapping[str, str] | None = None,
                 **expected: Any) -> None:
        known = [a.name for a in fields(CannedResponse)]
        _reject_unknown("CannedResponse", expected, known[3:])
        self.__attrs_init__(status, body, {} if headers is None else headers, **expected)

    def content_bytes(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()

    def response(self, content: bytes | None = None) -> httpx.Response:
        body = self.content_bytes() if content is None else content
        headers = dict(self.headers)
        if not isinstance(self.body, bytes | str):
            headers.setdefault("content-type", "application/json")
        return httpx.Response(self.status, headers=headers, content=body)

    @property
    def is_stream(self) -> bool:
        if self.stream is not None:
            return self.stream
        kind = next((v for k, v in self.headers.items() if k.lower() == "content-type"), "")
        return "event-stream" in kind.lower() or "ndjson" in kind.lower()



_SAMPLE_KINDS = ("chat", "stream", "tool_call", "tool_call_stream", "parallel_tool_calls",
                 "parallel_tool_calls_stream", "tool_call_without_id", "stream_error",
                 "stream_finish_text", "finish_reasons", "models", "models_pages", "errors",
                 "more")


@define(init=False)
class WireSamples:
    """The provider's replies the kit serves; leave out what the provider does not have
    (the test that needs it is skipped, naming it). An unknown keyword, or an error kind
    the kit does not know that does not say its ``error=`` type, is a TypeError that lists
    the known ones."""

    chat: CannedResponse
    stream: CannedResponse | None = None
    tool_call: CannedResponse | None = None
    tool_call_stream: CannedResponse | None = None
    #: A reply with two or more tool calls, and the same streamed (fragments interleaved).
    parallel_tool_calls: CannedResponse | None = None
    parallel_tool_calls_stream: CannedResponse | None = None
    #: A tool-call reply (or stream) whose calls carry no id: the driver must make them.
    tool_call_without_id: CannedResponse | None = None
    #: A 200 stream that carries an error event after some text (give ``error=`` to name the
    #: type; any ProviderError otherwise).
    stream_error: CannedResponse | None = None
    #: A stream whose last text arrives in the same event as the finish reason.
    stream_finish_text: CannedResponse | None = None
    #: One sample per finish reason the provider documents, keyed by the provider's name for
    #: it ("length", "MAX_TOKENS"); each states ``finish_reason=`` or ``error=``.
    finish_reasons: Mapping[str, CannedResponse] = field(factory=dict)
    models: CannedResponse | None = None
    #: The model listing in several pages, in order (state ``model_ids`` on each).
    models_pages: tuple[CannedResponse, ...] = field(factory=tuple, converter=tuple)
    #: Keyed by kind: those of :data:`ERROR_KINDS`, or a driver's own with ``error=``.
    errors: Mapping[str, CannedResponse] = field(factory=dict)
    #: Replies of the driver's own kinds ("cache_hit", "prompt_blocked"), each checked
    #: against what it states, sync and async.
    more: Mapping[str, CannedResponse] = field(factory=dict)

    def __init__(self, **samples: Any) -> None:
        _reject_unknown("WireSamples", samples, _SAMPLE_KINDS)
        for kind, sample in dict(samples.get("errors") or {}).items():
            if kind not in ERROR_KINDS and sample.error is None:
                raise TypeError(
                    f"WireSamples errors[{kind!r}]: not a kind the kit knows and no error= "
                    f"type given; the known kinds are: {', '.join(ERROR_KINDS)}; for a kind "
                    f"of your own give the sample error=TheTypedError")
        for name, sample in dict(samples.get("finish_reasons") or {}).items():
            if sample.finish_reason is None and sample.error is None:
                raise TypeError(f"WireSamples finish_reasons[{name!r}] states neither "
                                f"finish_reason= nor error=: say what it must give")
        if "chat" not in samples:
            raise TypeError("WireSamples needs a chat sample")
        self.__attrs_init__(**samples)


def expected_error(kind: str, sample: CannedResponse) -> type[ProviderError]:
    """The type an error sample of ``kind`` must raise."""
    if sample.error is not None:
        return sample.error
    return ERROR_KINDS[kind][1]


def kit_cost(usage: TokenUsage, price: Pricing) -> Decimal:
    """What ``usage`` costs at ``price``, worked out here and not by the code under test:
    the billed tokens (processed ones unless the provider bills others) at the input rate,
    cached input at the cached rate (the input rate if none), cache writes at the write
    rate (likewise), reasoning at the reasoning rate (else the output rate), the rest of
    the output at the output rate; the long-prompt tier whose threshold the input passes
    replaces the base rates."""
    tokens_in = usage.input_tokens if usage.billed_input_tokens is None \
        else usage.billed_input_tokens
    tokens_out = usage.output_tokens if usage.billed_output_tokens is None \
        else usage.billed_output_tokens
    rate_in, rate_out, rate_cached = price.input, price.output, price.cached_input
    for tier in sorted(price.tiers, key=lambda t: t.above_input_tokens):
        if tokens_in > tier.above_input_tokens:
            rate_in, rate_out = tier.input, tier.output
            if tier.cached_input is not None:
                rate_cached = tier.cached_input
    cached = min(usage.cached_input_tokens, tokens_in)
    written = min(usage.cache_write_tokens, tokens_in - cached)
    reasoning = min(usage.reasoning_tokens, tokens_out)
    total = ((tokens_in - cached - written) * rate_in
             + cached * (rate_in if rate_cached is None else rate_cached)
             + written * (rate_in if price.cache_write is None else price.cache_write)
             + (tokens_out - reasoning) * rate_out
             + reasoning * (rate_out if price.reasoning is None else price.reasoning))
    return total / _MILLION


def price_problems(price: Pricing) -> list[str]:
    """What is wrong with a declared price: a value that is not a Decimal, one made from a
    float, a negative one, a cache hit dearer than a miss."""
    problems = []
    values = {name: getattr(price, name) for name in
              ("input", "output", "cached_input", "cache_write", "reasoning")}
    for i, tier in enumerate(price.tiers):
        values.update({f"tiers[{i}].input": tier.input, f"tiers[{i}].output": tier.output,
                       f"tiers[{i}].cached_input": tier.cached_input})
    for name, value in values.items():
        if value is None:
            continue
        if type(value) is not Decimal:
            problems.append(f"{name} is a {type(value).__name__}, not a Decimal")
        elif len(value.normalize().as_tuple().digits) > _MAX_PRICE_DIGITS:
            problems.append(f"{name} = {value} was made from a float; build prices from "
                            f"strings ('0.15')")
        elif value < 0:
            problems.append(f"{name} is negative")
    if price.cached_input is not None and price.cached_input > price.input:
        problems.append(f"cached_input {price.cached_input} is dearer than input "
                        f"{price.input}: are the columns swapped?")
    return problems


_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


def _first_half(body: bytes) -> bytes:
    """The body cut after about half of its events (SSE) or lines (NDJSON)."""
    ends = [m.end() for m in _EVENT_END.finditer(body)]
    if len(ends) < 2:
        ends = [m.end() for m in re.finditer(rb"\n", body)]
    if len(ends) < 2:
        return body[: len(body) // 2]
    return body[: ends[max(0, len(ends) // 2 - 1)]]


def _run(mode: str, sync: Callable[[], Any], coro: Callable[[], Any]) -> Any:
    return sync() if mode == "sync" else asyncio.run(coro())


def _run_tools(conversation: Any, stream: bool) -> Response:
    if not stream:
        result: Response = conversation.run(max_steps=2)
        return result
    events = list(conversation.run_stream(max_steps=2))
    final: Response = events[-1].response
    return final


async def _arun_tools(conversation: Any, stream: bool) -> Response:
    if not stream:
        result: Response = await conversation.arun(max_steps=2)
        return result
    events = [event async for event in conversation.arun_stream(max_steps=2)]
    final: Response = events[-1].response
    return final


def _contains(document: Any, value: Any) -> bool:
    """Whether ``value`` appears anywhere in a decoded JSON document (a list value may also
    appear as its only element, the way some providers send ``stop``)."""
    if isinstance(value, list) and len(value) == 1 and _contains(document, value[0]):
        return True
    if type(document) is type(value) and document == value:
        return True
    if isinstance(document, Mapping):
        return any(_contains(v, value) for v in document.values())
    if isinstance(document, list):
        return any(_contains(v, value) for v in document)
    return False


def _subset_problem(sent: Any, wanted: Any, path: str = "$") -> str | None:
    """Where ``sent`` fails to contain ``wanted`` (every key, recursively), or None."""
    if isinstance(wanted, Mapping):
        if not isinstance(sent, Mapping):
            return f"{path} is {sent!r}, not an object"
        for key, value in wanted.items():
            if key not in sent:
                return f"{path}.{key} is missing"
            problem = _subset_problem(sent[key], value, f"{path}.{key}")
            if problem:
                return problem
        return None
    return None if sent == wanted else f"{path} is {sent!r}, not {wanted!r}"


class DriverConformanceTests(BatchConformanceTests):
    """Subclass this in a ``test_*.py`` file; set :attr:`driver`, :attr:`settings`,
    :attr:`model` and :attr:`samples` (and :attr:`batch_samples` for a provider batch API:
    the optional section of :mod:`jtd_ai.testing.batch_conformance`)."""

    #: Marks kit classes for jtd-ai's pytest plugin (the summary of skipped kit tests).
    _jtd_ai_conformance_kit: ClassVar[bool] = True

    #: The driver's registered name (its ``jtd_ai.drivers`` entry point).
    driver: ClassVar[str]
    #: Provider settings as in ``jtd-ai.toml`` (api_key, base_url, driver-specific keys).
    #: With :attr:`factory`, ``base_url`` must be here: nothing registered supplies it.
    settings: ClassVar[Mapping[str, Any]] = {}
    #: A model id the samples were written for.
    model: ClassVar[str]
    samples: ClassVar[WireSamples]
    #: Environment variables for the live run (``--jtd-ai-live``) that must be set.
    live_env: ClassVar[tuple[str, ...]] = ()
    #: Optional: a factory to test before the driver is packaged (``AI.extend`` style); by
    #: default the driver is loaded through its entry point.
    factory: ClassVar[Callable[..., Any] | None] = None
    #: Request options (of :data:`REQUEST_OPTIONS`) the provider cannot take, each with the
    #: reason; the kit then checks the driver refuses them (ValidationError) or leaves them
    #: out, and lists them as skipped.
    unsupported_options: ClassVar[Mapping[str, str]] = {}

    provider_name: ClassVar[str] = "conformance"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("test_kit_is_intact", DriverConformanceTests.test_kit_is_intact) \
                is not DriverConformanceTests.test_kit_is_intact:
            raise TypeError(f"{cls.__name__} overrides test_kit_is_intact; the guard of the "
                            f"conformance kit cannot be replaced")

    # -- plumbing ---------------------------------------------------------------------------

    def make_driver(self, transport: httpx.BaseTransport | None = None,
                    **overrides: Any) -> Driver:
        """The driver under test, built through its entry point like a user would get it."""
        return self.make_manager(transport, **overrides).driver(self.provider_name)

    def make_manager(self, transport: httpx.BaseTransport | None = None,
                     **overrides: Any) -> AIManager:
        """A manager whose one provider (:attr:`provider_name`) is the driver under test."""
        import os

        settings = {"driver": self.driver, "retry_attempts": 2, **self.settings, **overrides}
        if self._live():
            settings = {"driver": self.driver, **overrides}
        # No store: a catalog kept between tests (prices synced by a listing) would let one
        # test's driver price another's calls.
        manager = AIManager(
            providers={self.provider_name: settings}, config_file=False,
            env=os.environ if self._live() else {},
            transports={self.provider_name: transport} if transport is not None else None,
            store={"enabled": False},
        )
        factory = type(self).factory
        if factory is not None:
            manager.extend(self.driver, factory)
        return manager

    _live_mode: bool = False

    @pytest.fixture(autouse=True)
    def _jtd_ai_kit_setup(self, request: pytest.FixtureRequest,
                          monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        import importlib_metadata
        import stamina

        # Each kit test builds many managers, and each would scan every installed
        # distribution for entry points (tens of milliseconds): the scan is done once.
        monkeypatch.setattr(importlib_metadata, "entry_points",
                            _remembered(importlib_metadata.entry_points))
        live = bool(request.config.getoption("--jtd-ai-live", default=False))
        self._live_mode = live
        if live:
            import os

            missing = [v for v in self.live_env if not os.environ.get(v)]
            if missing:
                pytest.skip(f"--jtd-ai-live needs {', '.join(missing)} in the environment")
            yield
            return
        # Retries run for real against canned replies, without sleeping through backoffs.
        with stamina.set_testing(True, attempts=1000, cap=True):
            yield

    def _live(self) -> bool:
        return self._live_mode

    def _canned_only(self) -> None:
        if self._live():
            pytest.skip("needs canned faults; not run against the live provider")

    def _secret(self) -> str | None:
        key = self.settings.get("api_key")
        return str(key) if key else None

    def _require_streaming(self, driver: Driver) -> None:
        if not driver.supports_streaming():
            pytest.skip("capability 'streaming' not declared by the driver")

    def _require_tools(self, driver: Driver) -> None:
        if driver.get_capabilities(self.model).tools is not True:
            pytest.skip("capability 'tools' not declared by the driver")

    def _sample(self, name: str) -> CannedResponse:
        sample = getattr(self.samples, name)
        if sample is None:
            pytest.skip(f"no {name} sample supplied")
        return sample  # type: ignore[no-any-return]

    def _error_sample(self, kind: str) -> CannedResponse:
        sample = self.samples.errors.get(kind)
        if sample is None:
            pytest.skip(f"no errors[{kind!r}] sample supplied")
        return sample

    def _send(self, driver: Driver, mode: str, **options: Any) -> Response:
        result: Response = _run(mode, lambda: driver.send_message("Hello", model=self.model,
                                                                  **options),
                                lambda: driver.asend_message("Hello", model=self.model,
                                                             **options))
        return result

    def _stream(self, driver: Driver, mode: str) -> tuple[list[str], Response | None]:
        if mode == "sync":
            stream = driver.stream("Hello", model=self.model)
            return [c.delta for c in stream], stream.response

        async def collect() -> tuple[list[str], Response | None]:
            astream = driver.astream("Hello", model=self.model)
            return [c.delta async for c in astream], astream.response

        return asyncio.run(collect())

    def _outcome(self, sample: CannedResponse, mode: str,
                 ) -> tuple[Response | None, ProviderError | None, ScriptedTransport, Driver]:
        """Serve ``sample`` (twice: a retried error gets it again) to a fresh driver, as a
        stream when it is one; the reply or the error, the script and the driver."""
        script = ScriptedTransport(sample.response(), sample.response())
        driver = self.make_driver(script)
        try:
            if sample.is_stream:
                self._require_streaming(driver)
                deltas, reply = self._stream(driver, mode)
                assert reply is not None
                assert "".join(deltas) == reply.content, (
                    "the streamed deltas do not make the final content")
            else:
                reply = self._send(driver, mode)
        except ProviderError as error:
            return None, error, script, driver
        return reply, None, script, driver

    def _check_sent(self, request: httpx.Request, sample: CannedResponse, what: str) -> None:
        if sample.sent_url is not None:
            assert sample.sent_url in str(request.url), (
                f"{what}: the request went to {request.url}, not to a URL with "
                f"{sample.sent_url!r}")
        for name, value in (sample.sent_headers or {}).items():
            assert request.headers.get(name) == value, (
                f"{what}: header {name} is {request.headers.get(name)!r}, not {value!r}")
        if sample.sent is None:
            return
        try:
            body = json.loads(request.content) if request.content else {}
        except ValueError:
            body = {}
        problem = _subset_problem(body, sample.sent)
        assert problem is None, (
            f"{what}: the request must carry {sample.sent!r}, but {problem}")

    def _check_error(self, error: ProviderError | None, reply: Response | None,
                     expected: type[ProviderError], sample: CannedResponse, what: str) -> None:
        assert error is not None, (
            f"{what} must raise {expected.__name__}; it gave a reply: {reply!r}")
        assert isinstance(error, expected), (
            f"{what} must raise {expected.__name__}, not {type(error).__name__}: {error}")
        assert error.provider == self.provider_name
        if sample.error_text is not None:
            assert sample.error_text in str(error), (
                f"{what}: the error does not quote the provider's message "
                f"{sample.error_text!r}: {error}")
        for name, value in sample.error_attrs.items():
            assert getattr(error, name, None) == value, (
                f"{what}: the error's {name} is {getattr(error, name, None)!r}, not {value!r}")

    def _check_reply(self, reply: Response, sample: CannedResponse, what: str,
                     driver: Driver) -> None:
        """Everything ``sample`` says ``reply`` must be, and the cost by the kit's own sums."""
        if sample.content is not None:
            assert reply.content == sample.content, (
                f"{what}: content {reply.content!r}, the sample says {sample.content!r}")
        if sample.finish_reason is not None:
            assert reply.finish_reason == sample.finish_reason, (
                f"{what}: finish reason {reply.finish_reason!r}, the sample says "
                f"{sample.finish_reason!r}")
        if sample.reasoning is not None:
            assert reply.reasoning == sample.reasoning, (
                f"{what}: reasoning {reply.reasoning!r}, the sample says {sample.reasoning!r}")
        if sample.model is not None:
            assert reply.model == sample.model, (
                f"{what}: model {reply.model!r}, the sample says {sample.model!r}")
        if sample.refusal is not None:
            assert reply.refusal == sample.refusal, (
                f"{what}: refusal {reply.refusal!r}, the sample says {sample.refusal!r}")
        if sample.request_id is not None:
            assert reply.request_id == sample.request_id, (
                f"{what}: request id {reply.request_id!r}, the sample says "
                f"{sample.request_id!r}")
        self._check_calls(reply, sample, what)
        if sample.usage is not None:
            assert reply.usage == sample.usage, (
                f"{what}: usage {reply.usage!r}, the sample says {sample.usage!r}")
        self._check_cost(reply, sample, what, driver)

    def _check_calls(self, reply: Response, sample: CannedResponse, what: str) -> None:
        ids = [call.id for call in reply.tool_calls]
        assert all(isinstance(i, str) and i for i in ids), (
            f"{what}: every tool call needs an id (make one when the provider sends none): "
            f"{ids!r}")
        assert len(set(ids)) == len(ids), f"{what}: tool-call ids repeat: {ids!r}"
        if sample.tool_name is not None:
            assert reply.tool_calls, f"{what}: the sample calls {sample.tool_name!r}"
            assert reply.tool_calls[0].name == sample.tool_name
        expected = sample.tool_calls
        if expected is None:
            return
        got = [(c.name, c.arguments, c.id) for c in reply.tool_calls]
        assert len(reply.tool_calls) == len(expected), (
            f"{what}: {len(reply.tool_calls)} tool call(s) {got!r}, the sample has "
            f"{len(expected)}: {expected!r}")
        for i, (call, want) in enumerate(zip(reply.tool_calls, expected, strict=True)):
            assert call.name == want.name, f"{what}: call {i} is {call.name!r}, not {want.name!r}"
            if want.id is not None:
                assert call.id == want.id, f"{what}: call {i} has id {call.id!r}, not {want.id!r}"
            if isinstance(want.arguments, str):
                assert call.arguments == want.arguments, (
                    f"{what}: call {i} arguments {call.arguments!r}; the provider sent "
                    f"{want.arguments!r}: keep them as sent, do not re-serialise")
            elif want.arguments is not None:
                assert call.parsed_arguments() == dict(want.arguments), (
                    f"{what}: call {i} arguments {call.arguments!r}, not {want.arguments!r}")
            for key, value in (want.metadata or {}).items():
                assert call.metadata.get(key) == value, (
                    f"{what}: call {i} metadata[{key!r}] is {call.metadata.get(key)!r}, not "
                    f"{value!r}: it must travel back with the call")

    def _check_cost(self, reply: Response, sample: CannedResponse, what: str,
                    driver: Driver) -> None:
        if reply.usage is None:
            return
        price = driver.pricing(reply.model) or driver.pricing(self.model)
        if price is None:
            assert sample.cost is None, f"{what}: the sample states a cost, but no price " \
                                        f"is declared for {reply.model!r}"
            return
        problems = price_problems(price)
        assert not problems, f"{what}: the price of {reply.model!r}: {'; '.join(problems)}"
        assert type(reply.cost) is Decimal, (
            f"{what}: cost is {reply.cost!r}; a priced reply has a Decimal cost")
        expected = kit_cost(reply.usage, price)
        assert reply.cost == expected, (
            f"{what}: cost {reply.cost} for {reply.usage!r} at {price!r}; the kit's sum "
            f"is {expected}")
        if sample.cost is not None:
            assert reply.cost == Decimal(str(sample.cost)), (
                f"{what}: cost {reply.cost}, the sample says {sample.cost} (from the "
                f"provider's price page): is a price column wrong or swapped?")

    def _serve_and_check(self, sample: CannedResponse, mode: str, what: str) -> Response | None:
        """Serve ``sample`` and check all it states; the reply (None if it is an error)."""
        reply, error, script, driver = self._outcome(sample, mode)
        if script.requests:
            self._check_sent(script.requests[0], sample, what)
        if sample.error is not None:
            self._check_error(error, reply, sample.error, sample, what)
            if not sample.error.retryable:
                assert len(script.requests) == 1, f"{what}: the error was retried"
            return None
        if error is not None:
            raise error
        assert reply is not None
        self._check_reply(reply, sample, what, driver)
        return reply

    # -- the guard --------------------------------------------------------------------------

    def test_kit_is_intact(self) -> None:
        """Every kit test runs as the kit wrote it, or is marked xfail with a reason.

        Troubleshooting: do not override or delete kit tests to make a run green; mark the
        override ``@pytest.mark.xfail(reason="...")`` and say why, so the gap stays visible.
        """
        problems = []
        kit = {**vars(BatchConformanceTests), **vars(DriverConformanceTests)}
        for name, original in kit.items():
            if not name.startswith("test_") or name == "test_kit_is_intact":
                continue
            current = getattr(type(self), name, None)
            if current is original:
                continue
            marks = getattr(current, "pytestmark", [])
            reasons = [m.kwargs.get("reason") or (m.args[1] if len(m.args) > 1 else None)
                       for m in marks if m.name == "xfail"]
            if not any(reasons):
                problems.append(name)
        assert not problems, (
            f"kit tests overridden or deleted without an xfail reason: {', '.join(problems)}")

    def test_samples_are_complete(self) -> None:
        """The samples are a WireSamples, and the error samples say what they are.

        Troubleshooting: build ``samples`` with ``WireSamples(...)``; an error kind of your
        own (``"insufficient_balance"``) needs ``error=TheTypedError`` on its sample.
        """
        assert isinstance(self.samples, WireSamples), "samples must be a WireSamples"
        for kind, sample in self.samples.errors.items():
            assert isinstance(sample, CannedResponse), f"errors[{kind!r}] is not a sample"
            assert sample.status >= 400, f"errors[{kind!r}] has status {sample.status}"
            expected_error(kind, sample)

    # -- identity and requests ----------------------------------------------------------------

    def test_get_name_is_stable(self) -> None:
        """``get_name()`` is the registered driver name, the same on every call.

        Troubleshooting: set the ``name`` class attribute of your ChatProtocol to the name of
        your entry point.
        """
        driver = self.make_driver()
        assert driver.get_name() == driver.get_name() == self.driver

    @pytest.mark.parametrize("mode", MODES)
    def test_chat_request_is_well_formed(self, mode: str) -> None:
        """A chat call sends one request with a JSON body, the model, and the key in a
        header, never in the URL; it carries what the chat sample states (``sent=``).

        Troubleshooting: build the request in ``chat_request``; put credentials in
        ``auth_headers``; URLs end up in logs, so keys must not go in the query string.
        """
        self._canned_only()
        script = ScriptedTransport(self.samples.chat.response())
        self._send(self.make_driver(script), mode)
        (request,) = script.requests
        assert request.method == "POST"
        body = json.loads(request.content)
        assert isinstance(body, dict)
        assert self.model in str(request.url) or self.model in request.content.decode()
        secret = self._secret()
        if secret:
            assert secret not in str(request.url), "the API key must never be in the URL"
            assert any(secret in v for v in request.headers.values()), (
                "the API key should travel in a request header")
        self._check_sent(request, self.samples.chat, "the chat request")

    @pytest.mark.parametrize("option", list(REQUEST_OPTIONS))
    @pytest.mark.parametrize("mode", MODES)
    def test_request_options_are_sent(self, option: str, mode: str) -> None:
        """temperature, top_p, max_tokens, stop and seed, when a caller sets them, appear in
        the request the driver sends (under whatever name the provider uses).

        Troubleshooting: map each of ``ChatRequest.temperature``, ``top_p``, ``max_tokens``,
        ``stop``, ``seed`` into your request body; an option the provider cannot take must
        raise ValidationError in ``chat_request`` and be declared in
        ``unsupported_options = {"seed": "why"}`` on the test class.
        """
        self._canned_only()
        value = REQUEST_OPTIONS[option]
        script = ScriptedTransport(self.samples.chat.response())
        driver = self.make_driver(script)
        reason = self.unsupported_options.get(option)
        try:
            self._send(driver, mode, **{option: value})
        except ValidationError:
            assert reason is not None, (
                f"{option}={value!r} was refused; declare it in unsupported_options with the "
                f"reason if the provider cannot take it")
            assert not script.requests, "a refused option must be refused before sending"
            pytest.skip(f"{option} is not supported: {reason}")
        (request,) = script.requests
        document = json.loads(request.content) if request.content else {}
        found = _contains(document, value) or _contains(dict(request.url.params), str(value))
        if reason is not None:
            assert not found, f"{option} is declared unsupported but was sent"
            pytest.skip(f"{option} is not sent: {reason}")
        assert found, (f"{option}={value!r} was set but does not appear in the request "
                       f"body: {document!r}")

    @pytest.mark.parametrize("mode", MODES)
    def test_conversation_is_sent(self, mode: str) -> None:
        """Every turn of a conversation reaches the request: the system prompt, earlier user
        and assistant turns, an assistant's tool call and the tool's result.

        Troubleshooting: translate every message in ``chat_request``; a provider without a
        system role still needs the system text (Gemini: ``systemInstruction``), and a tool
        result must name the call it answers.
        """
        self._canned_only()
        from jtd_ai.messages import Message, ToolCall

        capabilities = self.make_driver().get_capabilities(self.model)
        history = [Message.user("kit-user-1 Hi"), Message.assistant("kit-assistant-2 Hello"),
                   Message.user("kit-user-3 And now?")]
        if capabilities.system_prompt is not False:
            history.insert(0, Message.system("kit-system-0 Answer briefly."))
        if capabilities.tools is True:
            call = ToolCall("call_kit_1", "get_weather", '{"city":"kit-argument-4"}')
            history[-1:-1] = [Message.assistant(tool_calls=[call]),
                              Message.tool("kit-result-5 18 C", call_id=call.id,
                                           name="get_weather")]
        script = ScriptedTransport(self.samples.chat.response())
        _run(mode, lambda: self.make_driver(script).send_message(history, model=self.model),
             lambda: self.make_driver(script).asend_message(history, model=self.model))
        (request,) = script.requests
        sent = request.content.decode()
        missing = [marker for marker in re.findall(r"kit-[a-z]+-\d", repr(history))
                   if marker not in sent]
        assert not missing, f"turns missing from the request: {missing}"
        assert sent.index("kit-user-1") < sent.index("kit-assistant-2") < \
            sent.index("kit-user-3"), "the turns were sent out of order"

    @pytest.mark.parametrize("mode", MODES)
    def test_tools_are_sent(self, mode: str) -> None:
        """The tools a caller offers reach the request: name, description and schema.

        Troubleshooting: translate ``ChatRequest.tools`` (name, description, the JSON schema
        of its parameters) into the provider's tool declarations.
        """
        self._canned_only()
        self._require_tools(self.make_driver())
        from jtd_ai.messages import Tool

        tool = Tool("kit_lookup", "kit-description-7 Looks things up.",
                    {"type": "object", "properties": {"kit_field_8": {"type": "string"}},
                     "required": ["kit_field_8"]})
        script = ScriptedTransport(self.samples.chat.response())
        self._send(self.make_driver(script), mode, tools=[tool])
        sent = script.requests[0].content.decode()
        for marker in ("kit_lookup", "kit-description-7", "kit_field_8"):
            assert marker in sent, f"the tool's {marker!r} is missing from the request"

    # -- responses --------------------------------------------------------------------------

    @pytest.mark.parametrize("mode", MODES)
    def test_chat_response_is_parsed(self, mode: str) -> None:
        """The chat sample becomes a Response with its text, model, usage, finish reason and
        cost, each as the sample states.

        Troubleshooting: ``parse_chat`` must fill ``content`` from every text part,
        ``usage`` as TokenUsage (input includes cached tokens, output includes reasoning), and
        map the provider's finish reason to FinishReason.
        """
        self._canned_only()
        sample = self.samples.chat
        driver = self.make_driver(ScriptedTransport(sample.response()))
        reply = self._send(driver, mode)
        assert isinstance(reply, Response)
        assert reply.provider == self.provider_name
        assert isinstance(reply.model, str) and reply.model
        assert reply.usage is not None, "the chat sample reports usage; the Response must too"
        assert reply.usage.input_tokens >= 0 and reply.usage.output_tokens >= 0
        assert reply.finish_reason is None or isinstance(reply.finish_reason, FinishReason)
        self._check_reply(reply, sample, "the chat sample", driver)

    @pytest.mark.parametrize("mode", MODES)
    def test_malformed_body_is_a_typed_error(self, mode: str) -> None:
        """A 200 reply that is not JSON raises MalformedResponseError, not a KeyError.

        Troubleshooting: read bodies with ``HttpResponse.json(provider=...)`` or
        ``jtd_ai.convert.structure_wire``, which raise the typed error.
        """
        self._canned_only()
        broken = httpx.Response(200, content=b"{not json", headers={"content-type":
                                                                     "application/json"})
        with pytest.raises(MalformedResponseError):
            self._send(self.make_driver(ScriptedTransport(broken)), mode)

    @pytest.mark.parametrize("mode", MODES)
    def test_finish_reasons_are_mapped(self, mode: str) -> None:
        """Each finish reason the provider documents gives the FinishReason (or the typed
        error) its sample states: a length cut is LENGTH, a filter CONTENT_FILTER, never
        all "stop".

        Troubleshooting: map every documented value in ``parse_chat`` and the stream
        decoder alike; a finish that means a block may be a ContentFilteredError.
        """
        self._canned_only()
        if not self.samples.finish_reasons:
            pytest.skip("no finish_reasons samples supplied")
        for name, sample in self.samples.finish_reasons.items():
            self._serve_and_check(sample, mode, f"finish_reasons[{name!r}]")

    @pytest.mark.parametrize("mode", MODES)
    def test_more_samples_meet_what_they_state(self, mode: str) -> None:
        """Every sample of the driver's own kinds (``more=``) gives what it states.

        Troubleshooting: read the failing sample's name in the message; each states its
        content, usage, cost, finish reason, tool calls or error.
        """
        self._canned_only()
        if not self.samples.more:
            pytest.skip("no samples of the driver's own kinds (more=) supplied")
        for name, sample in self.samples.more.items():
            self._serve_and_check(sample, mode, f"more[{name!r}]")

    # -- streaming --------------------------------------------------------------------------

    @pytest.mark.parametrize("mode", MODES)
    def test_stream_chunks_make_the_content(self, mode: str) -> None:
        """Streamed deltas concatenate to the final content; usage arrives when reported;
        the final Response is what the stream sample states.

        Troubleshooting: return one StreamChunk per content delta from ``StreamDecoder.feed``
        and put the usage on the chunk that carries it (often the last).
        """
        self._canned_only()
        sample = self._sample("stream")
        script = ScriptedTransport(sample.response())
        driver = self.make_driver(script)
        self._require_streaming(driver)
        deltas, final = self._stream(driver, mode)
        assert final is not None
        assert "".join(deltas) == final.content
        if sample.has_usage:
            assert final.usage is not None, "the stream sample reports usage; keep it"
        self._check_reply(final, sample, "the stream sample", driver)
        self._check_sent(script.requests[0], sample, "the stream request")

    @pytest.mark.parametrize("mode", MODES)
    def test_stream_request_asks_for_what_it_needs(self, mode: str) -> None:
        """A stream request carries what the stream sample states it must (``sent=``), such
        as OpenAI's ``stream_options.include_usage``, without which no usage comes back.

        Troubleshooting: add the field to the streamed request in ``chat_request``; state
        ``sent={}`` on the stream sample when the protocol needs nothing asked.
        """
        self._canned_only()
        sample = self._sample("stream")
        if sample.sent is None:
            pytest.skip("the stream sample does not state what its request must carry (sent=)")
        script = ScriptedTransport(sample.response())
        driver = self.make_driver(script)
        self._require_streaming(driver)
        self._stream(driver, mode)
        self._check_sent(script.requests[0], sample, "the stream request")

    def test_stream_callback_and_iterator_agree(self) -> None:
        """``stream_message`` with a callback sees the same chunks as the iterator form.

        Troubleshooting: both forms share your decoder; a difference means the decoder keeps
        state across streams: create it fresh in ``stream_decoder``.
        """
        self._canned_only()
        sample = self._sample("stream")
        driver = self.make_driver(ScriptedTransport(sample.response(), sample.response()))
        self._require_streaming(driver)
        seen: list[str] = []
        by_callback = driver.stream_message("Hello", lambda c: seen.append(c.delta),
                                            model=self.model)
        deltas, final = self._stream(driver, "sync")
        assert seen == deltas
        assert final is not None and by_callback.content == final.content

    def test_stream_matches_the_non_streamed_reply(self) -> None:
        """For the same content, the streamed Response equals the non-streamed one.

        Troubleshooting: map finish reasons and usage identically in ``parse_chat`` and the
        decoder; this test runs when the chat and stream samples share their content.
        """
        self._canned_only()
        sample = self._sample("stream")
        if sample.content is None or sample.content != self.samples.chat.content:
            pytest.skip("the chat and stream samples do not share their content")
        driver = self.make_driver(ScriptedTransport(self.samples.chat.response(),
                                                    sample.response()))
        self._require_streaming(driver)
        plain = self._send(driver, "sync")
        _, streamed = self._stream(driver, "sync")
        assert streamed is not None
        assert (streamed.content, streamed.finish_reason) == (plain.content, plain.finish_reason)
        assert streamed.tool_calls == plain.tool_calls
        if sample.usage is not None and sample.usage == self.samples.chat.usage:
            assert streamed.usage == plain.usage

    @pytest.mark.parametrize("mode", MODES)
    def test_text_in_the_finish_event_is_kept(self, mode: str) -> None:
        """Text that arrives in the same event as the finish reason is part of the reply.

        Troubleshooting: in the decoder, emit the delta of an event that also carries the
        finish reason, in one chunk; do not return a finish-only chunk for it.
        """
        self._canned_only()
        sample = self._sample("stream_finish_text")
        self._serve_and_check(sample, mode, "the stream_finish_text sample")

    @pytest.mark.parametrize("mode", MODES)
    def test_error_event_in_a_stream_is_raised(self, mode: str) -> None:
        """An error event inside a 200 stream raises a typed error (the sample's ``error=``,
        else any ProviderError) carrying what arrived before it; the reply is never silently
        cut short.

        Troubleshooting: in ``StreamDecoder.feed`` raise the typed error for an error event
        (``parse_error``'s mapping helps); the core attaches the partial reply.
        """
        self._canned_only()
        sample = self._sample("stream_error")
        driver = self.make_driver(ScriptedTransport(sample.response(), sample.response()))
        self._require_streaming(driver)
        with pytest.raises(ProviderError) as info:
            self._stream(driver, mode)
        error = info.value
        self._check_error(error, None, sample.error or ProviderError, sample,
                          "the stream_error sample")
        assert not isinstance(error, StreamInterruptedError) or (
            sample.error is not None and sample.error_text is not None), (
            "the error event was not read: the stream just looked cut short (a driver that "
            "reports it as an interruption states error= and error_text= on the sample)")
        assert error.partial is not None, "the error must carry what arrived before it"
        if sample.content is not None:
            assert error.partial.content == sample.content, (
                f"the partial reply is {error.partial.content!r}, the sample says "
                f"{sample.content!r} arrived before the error")

    @pytest.mark.parametrize("mode", MODES)
    def test_truncated_stream_keeps_what_arrived(self, mode: str) -> None:
        """A stream that ends early raises, and the error's ``partial`` holds what arrived.

        Troubleshooting: raise StreamInterruptedError from ``StreamDecoder.end()`` when the
        protocol's end marker (``[DONE]``, ``done: true``, a finish reason) never came.
        """
        self._canned_only()
        sample = self._sample("stream")
        cut = _first_half(sample.content_bytes())
        driver = self.make_driver(ScriptedTransport(sample.response(cut)))
        self._require_streaming(driver)
        with pytest.raises(ProviderError) as info:
            self._stream(driver, mode)
        partial = info.value.partial
        assert partial is not None, "the error must carry the partial response"
        if sample.content is not None:
            assert sample.content.startswith(partial.content)

    @pytest.mark.parametrize("mode", MODES)
    def test_connection_reset_mid_stream_keeps_what_arrived(self, mode: str) -> None:
        """A connection dropped mid-stream raises StreamInterruptedError with the partial.

        Troubleshooting: let httpx errors propagate from the decoder; the core maps them.
        """
        self._canned_only()
        sample = self._sample("stream")
        reply = httpx.Response(sample.status, headers=dict(sample.headers),
                               stream=BrokenStream(_first_half(sample.content_bytes())))
        driver = self.make_driver(ScriptedTransport(reply))
        self._require_streaming(driver)
        with pytest.raises(StreamInterruptedError) as info:
            self._stream(driver, mode)
        assert info.value.partial is not None

    def test_streams_do_not_share_decoder_state(self) -> None:
        """Streams on one driver, interleaved or one after another, each give what a fresh
        driver gives; a cut stream after a complete one is still an interruption.

        Troubleshooting: keep per-stream state (seen [DONE], call ids, counters, the model)
        on the decoder that ``stream_decoder`` creates anew for each stream, never on the
        protocol or the class.
        """
        self._canned_only()
        sample = self.samples.tool_call_stream or self._sample("stream")
        other = self._sample("stream")
        fresh_driver = self.make_driver(ScriptedTransport(sample.response()))
        self._require_streaming(fresh_driver)
        _, fresh = self._stream(fresh_driver, "sync")
        assert fresh is not None

        def key(reply: Response | None) -> Any:
            assert reply is not None
            return (reply.content, reply.tool_calls, [c.metadata for c in reply.tool_calls],
                    reply.finish_reason, reply.usage)

        cut = sample.response(_first_half(sample.content_bytes()))
        driver = self.make_driver(ScriptedTransport(sample.response(), other.response(),
                                                    sample.response(), cut))
        first = driver.stream("Hello", model=self.model)
        started = iter(first)
        head = [next(started).delta]
        _, middle = self._stream(driver, "sync")  # a whole stream while the first is open
        head += [c.delta for c in started]
        _, again = self._stream(driver, "sync")
        assert key(first.response) == key(fresh), "an interleaved stream came out different"
        assert "".join(head) == fresh.content
        assert key(again) == key(fresh), "the same stream a second time came out different"
        assert middle is not None
        if other.content is not None:
            assert middle.content == other.content
        with pytest.raises(ProviderError):
            self._stream(driver, "sync")

        async def twice() -> tuple[Response | None, Response | None]:
            adriver = self.make_driver(ScriptedTransport(sample.response(), sample.response()))
            one = adriver.astream("Hello", model=self.model)
            two = adriver.astream("Hello", model=self.model)
            await asyncio.gather(*(_drain(s) for s in (one, two)))
            return one.response, two.response

        one, two = asyncio.run(twice())
        assert key(one) == key(two) == key(fresh), "concurrent async streams differ"

    # -- tools ------------------------------------------------------------------------------

    @pytest.mark.parametrize("mode", MODES)
    def test_tool_calls_are_parsed(self, mode: str) -> None:
        """A tool-call reply gives ToolCalls with the tool's name, its id and the arguments
        exactly as sent.

        Troubleshooting: keep ``arguments`` as the raw JSON text (``json.dumps`` an object if
        the provider sends one); ids must be non-empty (synthesise them if the provider has
        none).
        """
        self._canned_only()
        self._require_tools(self.make_driver())
        sample = self._sample("tool_call")
        reply = self._serve_and_check(sample, mode, "the tool_call sample")
        assert reply is not None and reply.tool_calls, (
            "the tool-call sample must give at least one ToolCall")
        assert isinstance(reply.tool_calls[0].parsed_arguments(), dict)

    @pytest.mark.parametrize("mode", MODES)
    def test_streamed_tool_calls_are_assembled(self, mode: str) -> None:
        """Tool calls in a stream assemble into the same ToolCalls as a plain reply.

        Troubleshooting: emit ToolCallDelta pieces with a stable ``index`` per call; the core
        joins their ``arguments`` text in order.
        """
        self._canned_only()
        self._require_tools(self.make_driver())
        self._require_streaming(self.make_driver())
        sample = self._sample("tool_call_stream")
        final = self._serve_and_check(sample, mode, "the tool_call_stream sample")
        assert final is not None and final.tool_calls
        assert isinstance(final.tool_calls[0].parsed_arguments(), dict)

    @pytest.mark.parametrize("mode", MODES)
    def test_parallel_tool_calls_are_kept_apart(self, mode: str) -> None:
        """Several tool calls in one reply, plain and streamed (fragments interleaved), stay
        several calls, each with its own id and arguments.

        Troubleshooting: key stream fragments by the provider's call index, never by
        "the current call"; emit one ToolCallDelta index per call.
        """
        self._canned_only()
        self._require_tools(self.make_driver())
        samples = {name: getattr(self.samples, name) for name in
                   ("parallel_tool_calls", "parallel_tool_calls_stream")}
        if not any(samples.values()):
            pytest.skip("no parallel_tool_calls or parallel_tool_calls_stream sample supplied")
        for name, sample in samples.items():
            if sample is None:
                continue
            reply = self._serve_and_check(sample, mode, f"the {name} sample")
            assert reply is not None and len(reply.tool_calls) >= 2, (
                f"the {name} sample holds several calls; got {len(reply.tool_calls)}"
                if reply is not None else f"the {name} sample gave no reply")

    @pytest.mark.parametrize("mode", MODES)
    def test_tool_call_ids_exist_when_the_provider_sends_none(self, mode: str) -> None:
        """Calls the provider sent without ids get non-empty, distinct ids.

        Troubleshooting: synthesise ids (``call_0``, or from name and arguments), the same
        ones streamed or not, so a tool result can name the call it answers.
        """
        self._canned_only()
        self._require_tools(self.make_driver())
        sample = self._sample("tool_call_without_id")
        reply = self._serve_and_check(sample, mode, "the tool_call_without_id sample")
        assert reply is not None and reply.tool_calls

    # -- tool-call round trips (the tool loop, jtd_ai.tools) -----------------------------------
    # A reply's tool call goes all the way round: offered tools, the call parsed, the Python
    # function run with the model's arguments, its result sent back in the provider's form,
    # and the final reply, through Conversation.run / run_stream like an application.

    def _round_trip(self, call_sample: CannedResponse, final: CannedResponse, mode: str, *,
                    stream: bool) -> None:
        names = self._called_tools(call_sample)
        ran: list[tuple[str, dict[str, Any]]] = []

        def function_for(name: str) -> Callable[..., str]:
            def answer(**arguments: Any) -> str:
                ran.append((name, arguments))
                return f"kit-result-{name}-{len(ran)}"

            return answer

        tools = [Tool(name, f"kit tool {name}", {"type": "object", "properties": {}},
                      function=function_for(name)) for name in names]
        script = ScriptedTransport(call_sample.response(), final.response())
        conversation = (self.make_manager(script).conversation(self.provider_name)
                        .model(self.model).tools(*tools).message("Hello"))
        reply = _run(mode, lambda: _run_tools(conversation, stream),
                     lambda: _arun_tools(conversation, stream))
        what = f"the round trip of the {'streamed ' if stream else ''}tool call"
        assert len(script.requests) == 2, (
            f"{what}: the loop must make two calls (the call, then its result); it made "
            f"{len(script.requests)}")
        calls = conversation.history[1].tool_calls
        assert sorted(json.dumps(r, sort_keys=True) for r in ran) == sorted(
            json.dumps((c.name, c.parsed_arguments()), sort_keys=True) for c in calls), (
            f"{what}: each call must run once with the arguments the model sent")
        sent = script.requests[1].content.decode()
        results = conversation.history[2:2 + len(calls)]
        for i, (call, result) in enumerate(zip(calls, results, strict=True)):
            assert result.tool_call_id == call.id, f"{what}: result {i} answers another call"
            assert result.text in sent, (
                f"{what}: the result of call {i} ({call.name}) is missing from the request "
                f"that sends it back: translate Role.TOOL messages (the text, and the call "
                f"they answer: tool_call_id, or the name)")
            for value in call.parsed_arguments().values():
                if isinstance(value, str):
                    assert value in sent, (
                        f"{what}: the assistant's call {call.name}({value!r}) must go back "
                        f"with its result")
        roles = [m.role.value for m in conversation.history]
        assert roles == ["user", "assistant", *["tool"] * len(calls), "assistant"], roles
        self._check_reply(reply, final, f"{what} (the final reply)",
                          self.make_driver(ScriptedTransport()))

    def _called_tools(self, sample: CannedResponse) -> list[str]:
        """The names of the tools the sample calls (as the driver parses them)."""
        script = ScriptedTransport(sample.response())
        driver = self.make_driver(script)
        if sample.is_stream:
            stream = driver.stream("Hello", model=self.model)
            with stream:
                for _ in stream:
                    pass
            reply = stream.response
        else:
            reply = driver.send_message("Hello", model=self.model)
        assert reply is not None and reply.tool_calls, "the sample must hold a tool call"
        return list(dict.fromkeys(call.name for call in reply.tool_calls))

    @pytest.mark.parametrize("mode", MODES)
    def test_tool_call_round_trip(self, mode: str) -> None:
        """Offered tools, the tool_call sample's call is run (``Conversation.run``), its
        result goes back, and the chat sample is the final reply.

        Troubleshooting: a tool result (``Role.TOOL`` message) must reach the next request
        with the call it answers (its ``tool_call_id``, or the tool's name where the
        provider matches by name), and the assistant turn with its calls before it.
        """
        self._canned_only()
        self._require_tools(self.make_driver())
        self._round_trip(self._sample("tool_call"), self.samples.chat, mode, stream=False)

    @pytest.mark.parametrize("mode", MODES)
    def test_parallel_tool_calls_round_trip(self, mode: str) -> None:
        """Several calls in one reply (the parallel_tool_calls sample, plain or streamed)
        each run once, and every result goes back in one request, each naming its call.

        Troubleshooting: send one tool result per call, in order, each with the id of the
        call it answers (Gemini: consecutive results in one turn); never merge them.
        """
        self._canned_only()
        self._require_tools(self.make_driver())
        plain = self.samples.parallel_tool_calls
        if plain is not None:
            self._round_trip(plain, self.samples.chat, mode, stream=False)
            return
        self._require_streaming(self.make_driver())
        streamed = self._sample("parallel_tool_calls_stream")
        self._round_trip(streamed, self._sample("stream"), mode, stream=True)

    @pytest.mark.parametrize("mode", MODES)
    def test_streamed_tool_call_round_trip(self, mode: str) -> None:
        """The same round trip streamed (``Conversation.run_stream``): the
        tool_call_stream sample, then the stream sample as the final reply.

        Troubleshooting: streamed tool calls must assemble into complete ToolCalls (ids,
        names, whole arguments) by the end of the stream; see
        test_streamed_tool_calls_are_assembled.
        """
        self._canned_only()
        self._require_tools(self.make_driver())
        self._require_streaming(self.make_driver())
        self._round_trip(self._sample("tool_call_stream"), self._sample("stream"), mode,
                         stream=True)

    # -- structured output (output=T, jtd_ai.structured) --------------------------------------
    # A call with output=T sends T's JSON schema in the provider's form and parses the reply
    # into a T. The replies are the chat sample with its text replaced by the JSON the kit
    # wants (see jtd_ai.testing.structured_kit), so no sample of its own is needed.

    def _require_structured_output(self) -> None:
        if self.make_driver().get_capabilities(self.model).structured_output is not True:
            pytest.skip("capability 'structured_output' not declared by the driver")

    def _json_reply(self, text: str) -> httpx.Response:
        from jtd_ai.testing.structured_kit import with_reply_text

        sample = self.samples.chat
        body = with_reply_text(sample.content_bytes(), sample.content, text)
        if body is None:
            pytest.skip("the chat sample's content is not in its body once as a JSON string "
                        "(give the sample content=...): the kit cannot make a JSON reply")
        return sample.response(body)

    @pytest.mark.parametrize("mode", MODES)
    def test_structured_output_round_trip(self, mode: str) -> None:
        """``output=KitReport`` sends the type's schema (its field names and enum values
        reach the request) and the JSON reply comes back as ``reply.parsed``, a KitReport.

        Troubleshooting: translate ``ChatRequest.response_format`` of type ``json_schema``
        into the provider's structured-output field (OpenAI ``response_format``, Gemini
        ``generationConfig.responseJsonSchema``, Ollama ``format``), and return the reply
        text untouched in ``Response.content``.
        """
        from jtd_ai.testing.structured_kit import KIT_REPORT, KIT_REPORT_JSON, KitReport

        self._require_structured_output()
        script = None if self._live() else ScriptedTransport(self._json_reply(KIT_REPORT_JSON))
        reply = self._send(self.make_driver(script), mode, output=KitReport)
        assert isinstance(reply.parsed, KitReport), (
            f"reply.parsed is {reply.parsed!r}, not a KitReport")
        if script is None:
            return
        assert reply.parsed == KIT_REPORT, f"parsed {reply.parsed!r}, not {KIT_REPORT!r}"
        sent = script.requests[0].content.decode()
        for marker in ("kit_title", "kit_count", "kit_tags", "kit-calm", "kit-busy"):
            assert marker in sent, (
                f"the output schema's {marker!r} is missing from the request: the JSON schema "
                f"of response_format must reach the provider")

    @pytest.mark.parametrize("mode", MODES)
    def test_structured_output_mismatch_is_retried(self, mode: str) -> None:
        """A reply that does not match is an OutputValidationError holding its text; with
        ``output_retries=1`` the reply and what was wrong go back to the model, and the
        second reply is parsed: two calls.

        Troubleshooting: the retry is a conversation (the assistant's reply, then a user
        turn naming the problem): every message must reach the request in order.
        """
        from jtd_ai.errors import OutputValidationError
        from jtd_ai.testing.structured_kit import (
            KIT_REPORT,
            KIT_REPORT_JSON,
            KIT_REPORT_MISMATCH,
            KitReport,
        )

        self._canned_only()
        self._require_structured_output()
        script = ScriptedTransport(self._json_reply(KIT_REPORT_MISMATCH))
        with pytest.raises(OutputValidationError) as info:
            self._send(self.make_driver(script), mode, output=KitReport)
        assert info.value.text == KIT_REPORT_MISMATCH, (
            f"the error must carry the reply's text as received: {info.value.text!r}")
        assert "kit_count" in info.value.problem and info.value.partial is not None
        script = ScriptedTransport(self._json_reply(KIT_REPORT_MISMATCH),
                                   self._json_reply(KIT_REPORT_JSON))
        reply = self._send(self.make_driver(script), mode, output=KitReport, output_retries=1)
        assert reply.parsed == KIT_REPORT and len(script.requests) == 2
        second = json.loads(script.requests[1].content)
        assert _contains(second, KIT_REPORT_MISMATCH), (
            "the retry must send the model's reply back (the assistant turn)")
        assert "kit_count" in script.requests[1].content.decode(), (
            "the retry must tell the model what did not match (a user turn)")

    @pytest.mark.parametrize("mode", MODES)
    def test_output_type_without_schema_fails_before_sending(self, mode: str) -> None:
        """A type with no JSON schema is a ValidationError naming it, and nothing is sent.

        Troubleshooting: this is the core's check; if it fails, the driver sent a request
        before ``chat_request`` was handed a valid ChatRequest.
        """
        from jtd_ai.testing.structured_kit import KitUndescribable

        self._canned_only()
        script = ScriptedTransport()
        with pytest.raises(ValidationError, match="KitUndescribable"):
            self._send(self.make_driver(script), mode, output=KitUndescribable)
        assert not script.requests

    # -- errors and retries -------------------------------------------------------------------

    @pytest.mark.parametrize("kind", list(ERROR_KINDS))
    @pytest.mark.parametrize("mode", MODES)
    def test_errors_map_to_typed_errors(self, kind: str, mode: str) -> None:
        """Each error sample raises its typed error (after retries, for retryable ones).

        Troubleshooting: return the right type from ``parse_error``; ``error_for_status``
        gives the conventional one once the provider's message and code are read. Bad keys
        are InvalidCredentialsError even when the provider answers 400.
        """
        self._canned_only()
        sample = self._error_sample(kind)
        self._check_error_kind(kind, sample, mode)

    @pytest.mark.parametrize("mode", MODES)
    def test_driver_error_kinds_map_to_their_types(self, mode: str) -> None:
        """Error samples of the driver's own kinds raise the type each states (``error=``).

        Troubleshooting: map the provider's own error codes in ``parse_error``; a 402 "out
        of credit" is a QuotaExceededError, not a generic ProviderError.
        """
        self._canned_only()
        own = {k: s for k, s in self.samples.errors.items() if k not in ERROR_KINDS}
        if not own:
            pytest.skip("no error samples of the driver's own kinds supplied")
        for kind, sample in own.items():
            self._check_error_kind(kind, sample, mode)

    def _check_error_kind(self, kind: str, sample: CannedResponse, mode: str) -> None:
        expected = expected_error(kind, sample)
        script = ScriptedTransport(*[sample.response() for _ in range(2)])
        with pytest.raises(ProviderError) as info:
            self._send(self.make_driver(script), mode)
        error = info.value
        self._check_error(error, None, expected, sample, f"errors[{kind!r}]")
        if kind == "bad_request":
            assert not isinstance(error, InvalidCredentialsError | ModelNotFoundError)
        if expected.retryable is False and kind in ERROR_KINDS:
            assert not error.retryable, f"errors[{kind!r}] must not be retryable"
        if kind == "rate_limit":
            assert not isinstance(error, QuotaExceededError) and error.retryable, (
                "a rate limit is retryable; only an exhausted quota is not")
        assert len(script.requests) == (2 if error.retryable else 1), (
            f"errors[{kind!r}]: {len(script.requests)} request(s) for a "
            f"{'retryable' if error.retryable else 'non-retryable'} error")
        if sample.retry_after is not None:
            assert error.retry_after == pytest.approx(sample.retry_after)
        secret = self._secret()
        if secret:
            assert secret not in str(error) and secret not in repr(error)

    @pytest.mark.parametrize("mode", MODES)
    def test_retryable_errors_are_retried(self, mode: str) -> None:
        """Each 5xx or 429 sample followed by success gives the success, after two requests.

        Troubleshooting: a retryable error type (ProviderUnavailableError, RateLimitError)
        is all it takes: the core retries; do not retry inside the adapter.
        """
        self._canned_only()
        retryable = {k: s for k, s in self.samples.errors.items()
                     if expected_error(k, s).retryable}
        if not retryable:
            pytest.skip("no unavailable, server_error or rate_limit sample supplied")
        for kind, sample in retryable.items():
            script = ScriptedTransport(sample.response(), self.samples.chat.response())
            reply = self._send(self.make_driver(script), mode)
            assert len(script.requests) == 2, f"errors[{kind!r}] was not retried"
            if self.samples.chat.content is not None:
                assert reply.content == self.samples.chat.content

    @pytest.mark.parametrize("mode", MODES)
    def test_non_retryable_errors_are_not_retried(self, mode: str) -> None:
        """Bad credentials, an unknown model, a bad request, an exhausted quota: raised at
        once, after one request.

        Troubleshooting: InvalidCredentialsError, ModelNotFoundError, QuotaExceededError
        and plain 4xx ProviderErrors are not retryable; do not mark them ``retryable=True``.
        """
        self._canned_only()
        sample = self._error_sample("invalid_credentials")
        script = ScriptedTransport(sample.response(), self.samples.chat.response())
        with pytest.raises(InvalidCredentialsError):
            self._send(self.make_driver(script), mode)
        assert len(script.requests) == 1
        for kind, other in self.samples.errors.items():
            expected = expected_error(kind, other)
            if expected.retryable:
                continue
            script = ScriptedTransport(other.response(), self.samples.chat.response())
            with pytest.raises(expected):
                self._send(self.make_driver(script), mode)
            assert len(script.requests) == 1, f"errors[{kind!r}] was retried"

    @pytest.mark.parametrize("mode", MODES)
    def test_quota_exhaustion_is_never_retried(self, mode: str) -> None:
        """An exhausted quota or credit is a QuotaExceededError, raised after one request:
        waiting does not refill an account.

        Troubleshooting: tell the provider's quota error (OpenAI ``insufficient_quota``, a
        402, "credits") from a rate limit in ``parse_error`` and raise QuotaExceededError.
        """
        self._canned_only()
        quota = {k: s for k, s in self.samples.errors.items()
                 if issubclass(expected_error(k, s), QuotaExceededError)}
        if not quota:
            pytest.skip("no quota sample supplied (errors['quota'] or a kind with "
                        "error=QuotaExceededError)")
        for kind, sample in quota.items():
            script = ScriptedTransport(sample.response(), sample.response(),
                                       self.samples.chat.response())
            with pytest.raises(QuotaExceededError) as info:
                self._send(self.make_driver(script), mode)
            assert not info.value.retryable
            assert len(script.requests) == 1, f"errors[{kind!r}] was retried"

    # -- models, credentials, cost --------------------------------------------------------------

    @pytest.mark.parametrize("mode", MODES)
    def test_models_listing_shape(self, mode: str) -> None:
        """``get_available_models`` gives ModelInfo values with ids and this provider's name.

        Troubleshooting: build ModelInfo in ``parse_models``; leave unknown fields None.
        """
        sample = self._sample("models")
        script = None if self._live() else ScriptedTransport(sample.response())
        driver = self.make_driver(script)
        models = _run(mode, driver.get_available_models, driver.aget_available_models)
        assert models, "the models sample lists at least one model"
        for model in models:
            assert isinstance(model, ModelInfo)
            assert isinstance(model.id, str) and model.id
            assert model.provider == self.provider_name
        if sample.model_ids is not None and not self._live():
            assert [m.id for m in models] == list(sample.model_ids)

    @pytest.mark.parametrize("mode", MODES)
    def test_models_listing_follows_every_page(self, mode: str) -> None:
        """A listing in several pages is read to its last page, each page asked for once.

        Troubleshooting: return the provider's next-page token in ``ModelPage`` from
        ``parse_models`` and send it in ``models_request(page_token)``.
        """
        self._canned_only()
        pages = self.samples.models_pages
        if len(pages) < 2:
            pytest.skip("no models_pages sample (two pages or more) supplied")
        script = ScriptedTransport(*[p.response() for p in pages])
        driver = self.make_driver(script)
        models = _run(mode, driver.get_available_models, driver.aget_available_models)
        assert len(script.requests) == len(pages), (
            f"{len(script.requests)} page request(s) for a listing of {len(pages)} pages")
        assert len({str(r.url) + r.content.decode() for r in script.requests}) == len(pages), (
            "a later page was asked for with the same request as an earlier one")
        expected = [i for p in pages for i in (p.model_ids or ())]
        if expected:
            assert [m.id for m in models] == expected

    @pytest.mark.parametrize("mode", MODES)
    def test_validate_credentials_true_false_error(self, mode: str) -> None:
        """True when accepted, False when the key is rejected, an error when unreachable.

        Troubleshooting: ``credentials_request`` should be the cheapest authenticated call;
        a network failure says nothing about the key and must not return False.
        """
        self._canned_only()
        ok_sample = self.samples.models or self.samples.chat
        driver = self.make_driver(ScriptedTransport(ok_sample.response()))
        assert _run(mode, driver.validate_credentials, driver.avalidate_credentials) is True
        if "invalid_credentials" in self.samples.errors:
            rejected = self.make_driver(ScriptedTransport(
                self.samples.errors["invalid_credentials"].response()))
            assert _run(mode, rejected.validate_credentials,
                        rejected.avalidate_credentials) is False
        down = self.make_driver(ScriptedTransport(*[httpx.ConnectError("refused")
                                                    for _ in range(3)]))
        with pytest.raises(ProviderError):
            _run(mode, down.validate_credentials, down.avalidate_credentials)

    def test_calculate_cost_is_a_non_negative_decimal(self) -> None:
        """Cost is a Decimal, never negative, and zero tokens cost zero.

        Troubleshooting: return a Pricing from ``pricing(model)`` with Decimal-convertible
        prices per million tokens and its source and date; local models price at zero.
        """
        driver = self.make_driver()
        usage = TokenUsage(input_tokens=1234, output_tokens=567, cached_input_tokens=200,
                           reasoning_tokens=50)
        cost = driver.calculate_cost(usage, self.model)
        assert isinstance(cost, Decimal) and cost >= 0
        assert driver.calculate_cost(TokenUsage(), self.model) == 0

    def test_declared_price_is_exact_and_costs_add_up(self) -> None:
        """The model's declared price is exact Decimals (none made from a float), a cache hit
        costs no more than a miss, and ``calculate_cost`` matches the kit's own sums for
        plain, cached, cache-write, reasoning and billed-apart usage.

        Troubleshooting: write prices as strings ("0.15"); never ``Decimal(0.15)``,
        ``float`` arithmetic or a float in a table. Cached input is billed at the cached rate
        only, reasoning inside the output once.
        """
        driver = self.make_driver()
        price = driver.pricing(self.model)
        if price is None:
            pytest.skip(f"the driver declares no price for {self.model!r}")
        problems = price_problems(price)
        assert not problems, f"the price of {self.model!r}: {'; '.join(problems)}"
        usages = [
            TokenUsage(input_tokens=1_000_000),
            TokenUsage(output_tokens=1_000_000),
            TokenUsage(input_tokens=1_000_000, cached_input_tokens=1_000_000),
            TokenUsage(input_tokens=3_000, output_tokens=700, cached_input_tokens=1_000,
                       cache_write_tokens=500, reasoning_tokens=300),
            TokenUsage(input_tokens=900, output_tokens=90, billed_input_tokens=800,
                       billed_output_tokens=80),
        ]
        for usage in usages:
            cost = driver.calculate_cost(usage, self.model)
            assert type(cost) is Decimal, f"calculate_cost gave a {type(cost).__name__}"
            assert cost == kit_cost(usage, price), (
                f"calculate_cost({usage!r}) is {cost}; at the declared price the kit's sum "
                f"is {kit_cost(usage, price)}")

    @pytest.mark.parametrize("mode", MODES)
    def test_costs_follow_the_samples(self, mode: str) -> None:
        """Every sample that states a cost is billed exactly that: the driver's usage and its
        price table agree with the provider's price page.

        Troubleshooting: a wrong cost with the right usage means a wrong or swapped price;
        with the wrong usage, cached or reasoning tokens are counted twice or not at all.
        """
        self._canned_only()
        named = {"chat": self.samples.chat, "stream": self.samples.stream,
                 "tool_call": self.samples.tool_call, **{
                     f"more[{k!r}]": s for k, s in self.samples.more.items()}}
        priced = {k: s for k, s in named.items()
                  if s is not None and s.cost is not None and s.error is None}
        if not priced:
            pytest.skip("no sample states its cost (cost=...)")
        for name, sample in priced.items():
            reply = self._serve_and_check(sample, mode, f"the {name} sample")
            assert reply is not None and reply.cost == Decimal(str(sample.cost))

    # -- secrets and parity ---------------------------------------------------------------------

    def test_secrets_never_show(self) -> None:
        """The key is absent from every repr and from error text, even when echoed back.

        Troubleshooting: keep the key in ``config.api_key`` (a Secret) and reveal it only in
        ``auth_headers``; never format it into messages.
        """
        secret = self._secret()
        if not secret:
            pytest.skip("the driver is configured without an API key")
        self._canned_only()
        driver = self.make_driver()
        assert secret not in repr(driver)
        assert secret not in repr(driver.config)
        echoed = httpx.Response(401, json={"error": {"message": f"bad key {secret}"},
                                           "message": f"bad key {secret}"})
        with pytest.raises(ProviderError) as info:
            self.make_driver(ScriptedTransport(echoed)).send_message("Hello", model=self.model)
        for text in (str(info.value), repr(info.value), info.value.body_excerpt or ""):
            assert secret not in text

    def test_sync_and_async_agree(self) -> None:
        """The same sample gives the same Response sync and async.

        Troubleshooting: keep adapters free of I/O and event-loop state; the core runs both.
        """
        self._canned_only()
        driver = self.make_driver(ScriptedTransport(self.samples.chat.response(),
                                          self.samples.chat.response()))
        sync = self._send(driver, "sync")
        asynchronous = self._send(driver, "async")
        assert (sync.content, sync.usage, sync.finish_reason, sync.tool_calls, sync.model,
                sync.cost) == (asynchronous.content, asynchronous.usage,
                               asynchronous.finish_reason, asynchronous.tool_calls,
                               asynchronous.model, asynchronous.cost)


_ENTRY_POINTS: dict[Any, Any] = {}


def _remembered(entry_points: Callable[..., Any]) -> Callable[..., Any]:
    """``importlib_metadata.entry_points``, each selection scanned once per process."""
    original = getattr(entry_points, "__wrapped__", entry_points)

    def remembered(**selection: Any) -> Any:
        key = tuple(sorted(selection.items()))
        if key not in _ENTRY_POINTS:
            _ENTRY_POINTS[key] = original(**selection)
        return _ENTRY_POINTS[key]

    remembered.__wrapped__ = original  # type: ignore[attr-defined]
    return remembered


async def _drain(stream: Any) -> None:
    async for _ in stream:
        await asyncio.sleep(0)
