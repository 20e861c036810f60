"""The plugin: one OpenTelemetry span per chat call, on jtd-ai's ``wrap_call`` hook.

It wraps outside the other plugins' wrappers (``tryfirst``; the built-in fallbacks, also
``tryfirst``, excepted), so its span covers what they do too: a reply from the cache is a span
marked ``jtd_ai.response.cached``, and another provider called through a ``Via`` is that
provider's own full call, hence a span of its own nested under this one (which then leaves
the tokens and the cost to it). The built-in fallbacks wrap outside it, so each provider
they try is a span of its own. While the call runs, the span is the current span, so the
HTTP client spans of OpenTelemetry's httpx and aiohttp instrumentations (one per attempt)
are its children. A stream's span stops being current at its first chunk (the request is
sent by then), so the code that reads the stream never runs inside it; the span ends when
the stream does.

Without an OpenTelemetry SDK (the global tracer provider never set, and none given) the
plugin stays out of every call, and implements no ``on_chunk``: the chunk observer that
times the first chunk is registered on the manager's hooks only once a tracer provider is
found (at once when the plugin is made after the SDK was set up), so until then a stream's
chunks pay for no hook call. A stream that is the first call to find a tracer provider set
up after the plugin was made began without the observer: its span has no time to the first
chunk and is never the current span.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from attrs import define
from opentelemetry import context, trace

from jtd_ai.calls import stop_status
from jtd_ai.errors import AIError
from jtd_ai.hookspecs import hookimpl
from jtd_ai_otel import semconv
from jtd_ai_otel.attributes import error_type, request_attributes, response_attributes
from jtd_ai_otel.options import OtelOptions

if TYPE_CHECKING:
    from collections.abc import Callable

    from jtd_ai.calls import CallInfo
    from jtd_ai.manager import AIManager
    from jtd_ai.request import ChatRequest
    from jtd_ai.responses import Response, StreamChunk

__all__ = ["OtelPlugin"]

#: Under jtd-ai's logger, silent unless the application configured logging.
log = logging.getLogger("jtd_ai.otel")

#: The instrumentation scope of the spans.
SCOPE = "jtd_ai_otel"
_TRACED_OPERATIONS = frozenset({"chat", "stream"})
_NO_SDK = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
#: What a call answered through another one (a Via) leaves to that call's span, so a sum
#: over spans counts each token and cent once.
_COUNTED = frozenset({semconv.USAGE_INPUT_TOKENS, semconv.USAGE_OUTPUT_TOKENS,
                      semconv.USAGE_CACHE_READ_INPUT_TOKENS,
                      semconv.USAGE_CACHE_WRITE_INPUT_TOKENS,
                      semconv.USAGE_REASONING_OUTPUT_TOKENS, semconv.JTD_COST})


@define
class _Server:
    """What the spans say of one configured provider, found once."""

    provider_name: str
    address: tuple[str, int] | None


@define
class _Traced:
    """One traced call: its span, the context token while the span is current, and when it
    began (``time.perf_counter()``), for the time to the first chunk."""

    span: trace.Span
    token: object | None
    started: float
    stream: bool
    first_chunk: float | None = None
    #: Another call was made from inside this one (a Via): its span holds the tokens.
    delegated: bool = False


class OtelPlugin:
    """Writes a GenAI span for each chat call of the manager it is registered on.

    ``tracer_provider`` is the provider to write to; by default the global one
    (``opentelemetry.trace.set_tracer_provider``), read at each call, so an application may
    set it after the manager was made."""

    def __init__(self, manager: AIManager | None = None, options: OtelOptions | None = None,
                 *, tracer_provider: trace.TracerProvider | None = None) -> None:
        self._manager = manager
        self.options = options or OtelOptions()
        self._tracer_provider = tracer_provider
        self._tracer: tuple[trace.TracerProvider, trace.Tracer] | None = None
        #: Calls being traced, by ``id(call)`` (CallInfo is not hashable).
        self._calls: dict[int, _Traced] = {}
        #: Traced calls whose span is current somewhere, by ``id(span)``.
        self._current: dict[int, _Traced] = {}
        #: What each provider's spans say of it, with the settings it was read from.
        self._servers: dict[str, tuple[object, _Server]] = {}
        self._lock = threading.Lock()
        self._observer = _ChunkObserver(self)
        #: Whether the chunk observer is registered (it is once a tracer provider is found).
        self._observing = False
        if manager is None:  # no hooks to register it on later: observe from the start
            self.on_chunk: Callable[[CallInfo, StreamChunk], None] = self._observer.on_chunk
            self._observing = True
        elif self._current_tracer() is not None:
            self._observe()

    def __repr__(self) -> str:
        return f"<OtelPlugin record_content={self.options.record_content}>"

    # -- hooks --------------------------------------------------------------------------------

    @hookimpl(tryfirst=True)
    def wrap_call(self, call: CallInfo) -> Generator[ChatRequest, Response, Response] | None:
        """A span around each chat call (streamed or not); nothing for other operations, or
        while no OpenTelemetry SDK is set up."""
        if call.operation not in _TRACED_OPERATIONS or call.request is None:
            return None
        tracer = self._current_tracer()
        if tracer is None:
            return None
        # A stream that began before the observer was registered gets no on_chunk calls:
        # its span is never current (else the reader's code would run inside it).
        unobserved = self._observe() and call.operation == "stream"
        return self._traced(call, tracer, current=not unobserved)

    # -- the chunk observer -------------------------------------------------------------------

    def _observe(self) -> bool:
        """Register the chunk observer on the manager's hooks, once; True if this call did."""
        if self._observing:
            return False
        with self._lock:
            registering = not self._observing  # else another thread just did
            if registering:
                assert self._manager is not None
                self._manager.hooks.register(self._observer)
                self._observing = True
        return registering

    def _first_chunk(self, call: CallInfo) -> bool:
        """A chunk of ``call``: at the first, the time to it, and the stream's span stops
        being current. False when this plugin does not trace ``call``."""
        traced = self._calls.get(id(call))
        if traced is None:
            return False
        if traced.first_chunk is not None:
            return True
        traced.first_chunk = time.perf_counter()
        if traced.span.is_recording():
            traced.span.set_attribute(semconv.RESPONSE_TIME_TO_FIRST_CHUNK,
                                      traced.first_chunk - traced.started)
        self._release_streams()
        return True

    def _orphaned(self) -> None:
        """Unregister the chunk observer if the plugin is no longer registered (the manager's
        ``reset()`` unregisters the plugins it loaded, then loads new ones)."""
        hooks = self._manager.hooks if self._manager is not None else None
        if hooks is None or hooks.is_registered(self):
            return
        with self._lock:
            if self._observing and hooks.is_registered(self._observer):
                hooks.unregister(self._observer)
            self._observing = False

    # -- one call ---------------------------------------------------------------------------

    def _traced(self, call: CallInfo, tracer: trace.Tracer, *,
                current: bool = True) -> Generator[ChatRequest, Response, Response]:
        # Read when the wrapper starts: an outer wrapper may have changed the request.
        request = call.request
        assert request is not None
        stream = call.operation == "stream"
        outer = self._current.get(id(trace.get_current_span()))
        if outer is not None:  # called through a Via from inside a traced call
            outer.delegated = True
        try:
            attributes = self._start_attributes(call, request, stream)
        except Exception:  # telemetry never fails a call
            log.warning("jtd-ai-otel could not describe a %s call", call.provider, exc_info=True)
            attributes = {semconv.OPERATION_NAME: semconv.CHAT,
                          semconv.REQUEST_MODEL: request.model}
        span = tracer.start_span(f"{semconv.CHAT} {request.model}", kind=trace.SpanKind.CLIENT,
                                 attributes=attributes)
        token = context.attach(trace.set_span_in_context(span)) if current else None
        traced = _Traced(span, token, time.perf_counter(), stream)
        self._calls[id(call)] = traced
        if current:
            self._current[id(span)] = traced
        try:
            try:
                response = yield request
            except AIError as error:
                self._release(traced)
                self._failed(span, error, error_type(error), error.partial)
                raise
            except BaseException as exc:  # cancelled, interrupted, or a bug under us
                self._release(traced)
                status = stop_status(exc)
                self._failed(span, exc, status if status != "error" else error_type(exc), None)
                raise
            self._release(traced)
            try:
                self._succeeded(call, traced, response)
            except Exception:  # telemetry never fails a call
                log.warning("jtd-ai-otel could not describe a %s reply", call.provider,
                            exc_info=True)
            return response
        finally:
            self._calls.pop(id(call), None)
            span.end()

    def _start_attributes(self, call: CallInfo, request: ChatRequest,
                          stream: bool) -> dict[str, Any]:
        """What is known when the call starts (what samplers see)."""
        server = self._server(call)
        found: dict[str, Any] = {
            semconv.OPERATION_NAME: semconv.CHAT,
            semconv.PROVIDER_NAME: server.provider_name,
            semconv.JTD_PROVIDER: call.provider,
        }
        if server.address is not None:
            found[semconv.SERVER_ADDRESS], found[semconv.SERVER_PORT] = server.address
        if call.conversation_id:
            found[semconv.CONVERSATION_ID] = call.conversation_id
        found.update(request_attributes(request, stream=stream))
        for key, value in call.tags.items():
            if isinstance(key, str) and isinstance(value, str | bool | int | float):
                found[f"jtd_ai.tags.{key}"] = value
        if self.options.record_content:
            from jtd_ai_otel import content  # only when recording content

            found[semconv.INPUT_MESSAGES] = content.input_messages(request.messages)
            if request.tools:
                found[semconv.TOOL_DEFINITIONS] = content.tool_definitions(request.tools)
        return found

    def _succeeded(self, call: CallInfo, traced: _Traced, response: Response) -> None:
        span = traced.span
        if not span.is_recording():
            return
        found = response_attributes(response)
        if traced.delegated:  # the tokens and cost are on the span of the call that answered
            found = {k: v for k, v in found.items() if k not in _COUNTED}
        span.set_attributes(found)
        if response.provider and response.provider != call.provider:
            span.set_attribute(semconv.JTD_RESPONSE_PROVIDER, response.provider)
        if self.options.record_content:
            from jtd_ai_otel.content import output_messages

            span.set_attribute(semconv.OUTPUT_MESSAGES, output_messages(response))

    def _failed(self, span: trace.Span, error: BaseException, kind: str,
                partial: Response | None) -> None:
        if not span.is_recording():
            return
        span.set_attribute(semconv.ERROR_TYPE, kind)
        span.set_attribute(semconv.RESPONSE_FINISH_REASONS, ["error"])
        if partial is not None and self.options.record_content:
            from jtd_ai_otel.content import output_messages

            span.set_attribute(semconv.OUTPUT_MESSAGES, output_messages(partial))
        span.set_status(trace.Status(trace.StatusCode.ERROR, str(error) or kind))

    # -- the current span ---------------------------------------------------------------------

    def _release(self, traced: _Traced) -> None:
        """The span stops being current (once)."""
        token = traced.token
        if token is None:
            return
        traced.token = None
        self._current.pop(id(traced.span), None)
        context.detach(token)  # type: ignore[arg-type]

    def _release_streams(self) -> None:
        """Make the streams' spans current here no longer, innermost first: once a chunk
        arrives, every stream wrapped around it has sent its request (a fallback's stream is
        nested in the call that fell back), and what runs next is the reader's code."""
        while True:
            traced = self._current.get(id(trace.get_current_span()))
            if traced is None or not traced.stream:
                return
            self._release(traced)

    # -- where spans go, and what they say of providers ---------------------------------------

    def _current_tracer(self) -> trace.Tracer | None:
        """The tracer of the configured provider; None while there is no SDK."""
        provider = self._tracer_provider or trace.get_tracer_provider()
        if isinstance(provider, _NO_SDK):
            return None
        made = self._tracer
        if made is None or made[0] is not provider:
            from jtd_ai_otel import __version__

            made = (provider, provider.get_tracer(SCOPE, __version__))
            self._tracer = made
        return made[1]

    def _server(self, call: CallInfo) -> _Server:
        """The provider's ``gen_ai.provider.name`` and server address, from its settings
        (read once per provider and settings)."""
        override = self.options.provider_names.get(call.provider)
        manager = self._manager
        if manager is None:
            return _Server(override or semconv.provider_name(call.driver, None, None), None)
        settings = manager.settings
        known = self._servers.get(call.provider)
        if known is not None and known[0] is settings:
            return known[1]
        preset: str | None = None
        address: tuple[str, int] | None = None
        try:
            config = manager.provider_config(call.provider)
        except AIError:  # a provider made from code, or AI.fake(): no settings to read
            log.debug("no settings for provider %r: its spans name no server", call.provider)
        else:
            preset = getattr(config, "preset", None)
            address = semconv.server_of(config.base_url)
        host = address[0] if address is not None else None
        server = _Server(override or semconv.provider_name(call.driver, preset, host), address)
        with self._lock:
            self._servers[call.provider] = (settings, server)
        return server


class _ChunkObserver:
    """The plugin's ``on_chunk``, a plugin of its own so that it is registered only once
    spans are written: every stream pays for a hook call per chunk while one implements it."""

    def __init__(self, plugin: OtelPlugin) -> None:
        self._plugin = plugin

    def __repr__(self) -> str:
        return "<OtelPlugin chunk observer>"

    @hookimpl
    def on_chunk(self, call: CallInfo, chunk: StreamChunk) -> None:
        """Each chunk leaving a call; the plugin keeps the first of each traced one."""
        if not self._plugin._first_chunk(call):  # not traced: is the plugin still there?
            self._plugin._orphaned()
