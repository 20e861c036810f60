"""The driver conformance kit: one pytest base class every driver runs, ours and yours.

Subclass :class:`DriverConformanceTests` and give it your driver's name, its settings, a
model id and canned wire responses written from your provider's documentation::

    class TestAcmeConformance(DriverConformanceTests):
        driver = "acme"                               # the entry point's name
        settings = {"api_key": "acme-test-key-0001"}  # base_url etc. as in jtd-ai.toml
        model = "acme-1"
        samples = WireSamples(
            chat=CannedResponse(200, {...}, content="Hello!"),
            stream=CannedResponse(200, b"data: ...\\n\\n", content="Hello!"),
            tool_call=CannedResponse(200, {...}, tool_name="get_weather"),
            models=CannedResponse(200, {...}),
            errors={"invalid_credentials": CannedResponse(401, {...}), ...},
        )

The kit builds your driver through its entry point, answers its requests with the samples
(a :class:`~jtd_ai.testing.ScriptedTransport`) and checks, sync and async, what every driver
must do. Tests follow what the driver declares: a declared capability must pass; an
undeclared one is skipped, naming the capability. Overriding or deleting a kit test fails the
run unless the override is marked ``xfail`` with a reason, so gaps stay visible. Every test's
docstring has a Troubleshooting note.

Run against the real provider with ``pytest --jtd-ai-live`` (keys from the environment): the
tests that need canned faults are skipped, the rest talk to the provider.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any, ClassVar

import httpx
import pytest
from attrs import define, field

from jtd_ai.driver import Driver
from jtd_ai.errors import (
    InvalidCredentialsError,
    MalformedResponseError,
    ModelNotFoundError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    StreamInterruptedError,
)
from jtd_ai.manager import AIManager
from jtd_ai.modelinfo import ModelInfo
from jtd_ai.responses import FinishReason, Response, TokenUsage
from jtd_ai.testing.transports import BrokenStream, ScriptedTransport

__all__ = ["CannedResponse", "DriverConformanceTests", "WireSamples"]

MODES = ["sync", "async"]

#: Error kinds the kit maps, with the HTTP status they usually arrive with and the type
#: the driver must raise.
ERROR_KINDS: dict[str, tuple[int, type[ProviderError]]] = {
    "bad_request": (400, ProviderError),
    "invalid_credentials": (401, InvalidCredentialsError),
    "permission_denied": (403, InvalidCredentialsError),
    "model_not_found": (404, ModelNotFoundError),
    "rate_limit": (429, RateLimitError),
    "server_error": (500, ProviderUnavailableError),
    "unavailable": (503, ProviderUnavailableError),
}


@define
class CannedResponse:
    """One reply of the provider: status, body (bytes, text, or JSON data) and headers, plus
    what the driver should read from it."""

    status: int
    body: Any = b""
    headers: Mapping[str, str] = field(factory=dict)
    #: The reply text the driver must produce (chat and stream samples).
    content: str | None = None
    #: The tool the model calls (tool-call samples).
    tool_name: str | None = None
    #: Seconds the driver must report as ``retry_after`` (rate-limit samples).
    retry_after: float | None = None
    #: Whether the sample reports token usage (stream samples without usage set False).
    has_usage: bool = True

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


@define
class WireSamples:
    """The provider's replies the kit serves; leave out what the provider does not have."""

    chat: CannedResponse
    stream: CannedResponse | None = None
    tool_call: CannedResponse | None = None
    tool_call_stream: CannedResponse | None = None
    models: CannedResponse | None = None
    #: Keyed by kind: bad_request, invalid_credentials, permission_denied, model_not_found,
    #: rate_limit, server_error, unavailable.
    errors: Mapping[str, CannedResponse] = field(factory=dict)


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


class DriverConformanceTests:
    """Subclass this in a ``test_*.py`` file; set :attr:`driver`, :attr:`settings`,
    :attr:`model` and :attr:`samples`."""

    #: The driver's registered name (its ``jtd_ai.drivers`` entry point).
    driver: ClassVar[str]
    #: Provider settings as in ``jtd-ai.toml`` (api_key, base_url, driver-specific keys).
    settings: ClassVar[Mapping[str, Any]] = {}
    #: A model id the samples were written for.
    model: ClassVar[str]
    samples: ClassVar[WireSamples]
    #: Environment variables for the live run (``--jtd-ai-live``) that must be set.
    live_env: ClassVar[tuple[str, ...]] = ()
    #: Optional: a factory to test before the driver is packaged (``AI.extend`` style); by
    #: default the driver is loaded through its entry point.
    factory: ClassVar[Callable[..., Any] | None] = None

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
        import os

        settings = {"driver": self.driver, "retry_attempts": 2, **self.settings, **overrides}
        if self._live():
            settings = {"driver": self.driver, **overrides}
        manager = AIManager(
            providers={self.provider_name: settings}, config_file=False,
            env=os.environ if self._live() else {},
            transports={self.provider_name: transport} if transport is not None else None,
        )
        factory = type(self).factory
        if factory is not None:
            manager.extend(self.driver, factory)
        return manager.driver(self.provider_name)

    _live_mode: bool = False

    @pytest.fixture(autouse=True)
    def _jtd_ai_kit_setup(self, request: pytest.FixtureRequest) -> Iterator[None]:
        import stamina

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

    # -- the guard --------------------------------------------------------------------------

    def test_kit_is_intact(self) -> None:
        """Every kit test runs as the kit wrote it, or is marked xfail with a reason.

        Troubleshooting: do not override or delete kit tests to make a run green; mark the
        override ``@pytest.mark.xfail(reason="...")`` and say why, so the gap stays visible.
        """
        problems = []
        for name, original in vars(DriverConformanceTests).items():
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
        header, never in the URL.

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

    # -- responses --------------------------------------------------------------------------

    @pytest.mark.parametrize("mode", MODES)
    def test_chat_response_is_parsed(self, mode: str) -> None:
        """The chat sample becomes a Response with its text, model, usage and finish reason.

        Troubleshooting: ``parse_chat`` must fill ``content`` from every text part,
        ``usage`` as TokenUsage (input includes cached tokens, output includes reasoning), and
        map the provider's finish reason to FinishReason.
        """
        self._canned_only()
        reply = self._send(self.make_driver(ScriptedTransport(self.samples.chat.response())), mode)
        assert isinstance(reply, Response)
        if self.samples.chat.content is not None:
            assert reply.content == self.samples.chat.content
        assert reply.provider == self.provider_name
        assert isinstance(reply.model, str) and reply.model
        assert reply.usage is not None, "the chat sample reports usage; the Response must too"
        assert reply.usage.input_tokens >= 0 and reply.usage.output_tokens >= 0
        assert reply.finish_reason is None or isinstance(reply.finish_reason, FinishReason)

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

    # -- streaming --------------------------------------------------------------------------

    @pytest.mark.parametrize("mode", MODES)
    def test_stream_chunks_make_the_content(self, mode: str) -> None:
        """Streamed deltas concatenate to the final content; usage arrives when reported.

        Troubleshooting: return one StreamChunk per content delta from ``StreamDecoder.feed``
        and put the usage on the chunk that carries it (often the last).
        """
        self._canned_only()
        sample = self._sample("stream")
        driver = self.make_driver(ScriptedTransport(sample.response()))
        self._require_streaming(driver)
        deltas, final = self._stream(driver, mode)
        assert final is not None
        assert "".join(deltas) == final.content
        if sample.content is not None:
            assert final.content == sample.content
        if sample.has_usage:
            assert final.usage is not None, "the stream sample reports usage; keep it"

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

    # -- tools ------------------------------------------------------------------------------

    @pytest.mark.parametrize("mode", MODES)
    def test_tool_calls_are_parsed(self, mode: str) -> None:
        """A tool-call reply gives ToolCalls with the tool's name and JSON-object arguments.

        Troubleshooting: keep ``arguments`` as the raw JSON text (``json.dumps`` an object if
        the provider sends one); ids must be non-empty (synthesise them if the provider has
        none).
        """
        self._canned_only()
        self._require_tools(self.make_driver())
        sample = self._sample("tool_call")
        driver = self.make_driver(ScriptedTransport(sample.response()))
        reply = self._send(driver, mode)
        assert reply.tool_calls, "the tool-call sample must give at least one ToolCall"
        call = reply.tool_calls[0]
        assert call.id
        if sample.tool_name is not None:
            assert call.name == sample.tool_name
        assert isinstance(call.parsed_arguments(), dict)

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
        driver = self.make_driver(ScriptedTransport(sample.response()))
        _, final = self._stream(driver, mode)
        assert final is not None and final.tool_calls
        if sample.tool_name is not None:
            assert final.tool_calls[0].name == sample.tool_name
        assert isinstance(final.tool_calls[0].parsed_arguments(), dict)

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
        expected = ERROR_KINDS[kind][1]
        script = ScriptedTransport(*[sample.response() for _ in range(2)])
        with pytest.raises(ProviderError) as info:
            self._send(self.make_driver(script), mode)
        error = info.value
        assert isinstance(error, expected), f"{kind} should raise {expected.__name__}, " \
                                            f"got {type(error).__name__}"
        if kind == "bad_request":
            assert not isinstance(error, InvalidCredentialsError | ModelNotFoundError)
        assert error.provider == self.provider_name
        if sample.retry_after is not None:
            assert error.retry_after == pytest.approx(sample.retry_after)
        secret = self._secret()
        if secret:
            assert secret not in str(error) and secret not in repr(error)

    @pytest.mark.parametrize("mode", MODES)
    def test_retryable_errors_are_retried(self, mode: str) -> None:
        """A 5xx (or 429) followed by success gives the success, after two requests.

        Troubleshooting: a retryable error type (ProviderUnavailableError, RateLimitError)
        is all it takes: the core retries; do not retry inside the adapter.
        """
        self._canned_only()
        sample = (self.samples.errors.get("unavailable") or self.samples.errors.get(
            "server_error") or self.samples.errors.get("rate_limit"))
        if sample is None:
            pytest.skip("no unavailable, server_error or rate_limit sample supplied")
        script = ScriptedTransport(sample.response(), self.samples.chat.response())
        reply = self._send(self.make_driver(script), mode)
        assert len(script.requests) == 2
        if self.samples.chat.content is not None:
            assert reply.content == self.samples.chat.content

    @pytest.mark.parametrize("mode", MODES)
    def test_non_retryable_errors_are_not_retried(self, mode: str) -> None:
        """Bad credentials are raised at once: one request, no retry.

        Troubleshooting: InvalidCredentialsError, ModelNotFoundError and plain 4xx
        ProviderErrors are not retryable; do not mark them ``retryable=True``.
        """
        self._canned_only()
        sample = self._error_sample("invalid_credentials")
        script = ScriptedTransport(sample.response(), self.samples.chat.response())
        with pytest.raises(InvalidCredentialsError):
            self._send(self.make_driver(script), mode)
        assert len(script.requests) == 1

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
        assert (sync.content, sync.usage, sync.finish_reason, sync.tool_calls, sync.model) == (
            asynchronous.content, asynchronous.usage, asynchronous.finish_reason,
            asynchronous.tool_calls, asynchronous.model)
