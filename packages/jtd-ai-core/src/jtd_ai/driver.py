"""The driver interface every provider offers, built once from a protocol adapter.

:class:`Driver` joins a sans-I/O :class:`~jtd_ai.protocol.ChatProtocol` to the core's
:class:`~jtd_ai.transport.Transport` and gives the full interface: ``send_message``,
``send_batch``, ``stream_message`` (callback), ``stream`` (iterator), their async forms,
``get_available_models``, ``sync_models``, ``calculate_cost``, ``validate_credentials``,
``get_capabilities``, ``get_name`` and ``supports_streaming``. Hooks, the per-call log
record and cost are applied here, the same way for every driver.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
import threading
import time
import uuid
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
    Sized,
)
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Self, overload

import attrs

from jtd_ai import fork_gate
from jtd_ai.calls import CONVERSATION_ID, REPLY_CHECK, CallInfo
from jtd_ai.errors import (
    AIError,
    ConfigurationError,
    InvalidCredentialsError,
    PricingUnknownError,
    ValidationError,
)
from jtd_ai.messages import Message
from jtd_ai.request import ChatRequest
from jtd_ai.responses import Response, StreamChunk, TokenUsage
from jtd_ai.retry import RetryPolicy
from jtd_ai.streaming import StreamAccumulator

if TYPE_CHECKING:
    import asyncio

    import pluggy

    from jtd_ai.backends import HTTPClientOption
    from jtd_ai.batch import BatchProgress
    from jtd_ai.config import ProviderConfig
    from jtd_ai.modelinfo import Capabilities, ModelInfo
    from jtd_ai.pricing import Pricing
    from jtd_ai.protocol import ChatProtocol
    from jtd_ai.provider_catalog import ProviderCatalog
    from jtd_ai.structured import AsyncParsedChatStream, OutputT, ParsedChatStream
    from jtd_ai.sync_iter import SyncIterator
    from jtd_ai.transport import Transport
    from jtd_ai.wire import HttpRequest, HttpResponse

__all__ = ["AsyncChatStream", "ChatStream", "Driver", "Prompt"]

log = logging.getLogger("jtd_ai.calls")

#: The id of the batch the current task's calls belong to (set in each batch worker task).
_BATCH_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("jtd_ai_batch_id",
                                                                      default=None)

#: What a call accepts as its prompt: text (one user message), a Message, or a sequence.
Prompt = str | Message | Sequence[Message]
BatchItem = Prompt | ChatRequest
StreamCallback = Callable[[StreamChunk], Any]
#: A call's settings for plugins: (tags, fallbacks), each None when not given.
_CallOptions = tuple[Mapping[str, Any] | None, tuple[str, ...] | None]


def _messages(prompt: Prompt) -> tuple[Message, ...]:
    if isinstance(prompt, str):
        return (Message.user(prompt),)
    if isinstance(prompt, Message):
        return (prompt,)
    if isinstance(prompt, Sequence):
        return tuple(prompt)  # type: ignore[arg-type]  # str was handled above
    raise ValidationError(
        f"a prompt is text, a Message or a list of Messages, not {type(prompt).__name__}",
        field="messages",
    )


class Driver:
    """One configured provider: a protocol adapter driven by the core's transport."""

    def __init__(
        self,
        protocol: ChatProtocol,
        *,
        transport: HTTPClientOption | None = None,
        hooks: pluggy.PluginManager | None = None,
    ) -> None:
        self.protocol = protocol
        self.config: ProviderConfig = protocol.config
        self._http_transport = transport if transport is not None else (
            protocol.default_transport())
        self._transport: Transport | None = None
        self._hooks = hooks
        self._models: list[ModelInfo] | None = None
        self._lock = threading.Lock()
        fork_gate.renew_after_fork(self, Driver._renew_lock)  # new in a forked child
        #: The catalog view the manager attaches (TTL listings, published prices), or None.
        self.catalog: ProviderCatalog | None = None
        keep_raw = self.config.option("keep_raw", True)
        if not isinstance(keep_raw, bool):
            raise ConfigurationError(
                f"providers.{self.config.name}.keep_raw must be true or false, not {keep_raw!r}")
        #: Whether replies keep the provider's decoded payload in ``Response.raw``.
        self.keep_raw = keep_raw
        #: How a call's wrappers reach another provider by name (``jtd_ai.Via``): the
        #: manager's ``driver``, set by the manager that built this driver; else None.
        self.resolver: Callable[[str], Driver] | None = None
        #: The provider's fallbacks: none while config turns the fallbacks plugin off.
        off = hooks is not None and hooks.is_blocked("fallbacks")
        self._fallbacks: tuple[str, ...] = () if off else tuple(
            self.config.option("fallbacks", ()))

    def _renew_lock(self) -> None:
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Driver {self.get_name()!r} provider={self.config.name!r}>"

    # -- identity and capabilities ------------------------------------------------------------

    def get_name(self) -> str:
        """The driver's name (``openai``); the provider's name is ``config.name``."""
        return self.protocol.name

    @property
    def provider(self) -> str:
        return self.config.name

    def supports_streaming(self) -> bool:
        return self.protocol.supports_streaming()

    def get_capabilities(self, model: str | None = None) -> Capabilities:
        return self.protocol.capabilities(model)

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            with self._lock:
                if self._transport is None:
                    from jtd_ai.transport import Transport

                    self._transport = Transport(self.protocol, self.config,
                                                transport=self._http_transport)
        return self._transport

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()
            self._transport.close()

    async def _aclose_loop(self) -> None:
        """Close the async connections of the running event loop only: the sync client
        (shared by every thread calling this driver) stays open. What a sync batch's
        helper loop does when it ends."""
        if self._transport is not None:
            await self._transport.aclose()

    def __enter__(self) -> Driver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def build_request(self, prompt: Prompt | ChatRequest, *, model: str | None = None,
                      **options: Any) -> ChatRequest:
        """The validated ChatRequest for a prompt; raises ValidationError before any I/O."""
        if isinstance(prompt, ChatRequest):
            changes: dict[str, Any] = dict(options)
            if model is not None:
                changes["model"] = model
            return attrs.evolve(prompt, **changes) if changes else prompt
        chosen = model or self.config.default_model
        if not chosen:
            raise ValidationError(
                f"no model given for provider {self.config.name!r}: pass model=..., call "
                f".model(...), or set default_model in its configuration",
                field="model",
            )
        return ChatRequest.build(_messages(prompt), chosen, **options)

    def _policy(self, request: ChatRequest | None) -> RetryPolicy:
        deadline = request.timeout if request is not None else None
        return RetryPolicy.from_config(self.config, deadline)

    def _call(self, operation: str, request: ChatRequest | None = None,
              batch_id: str | None = None, extra: _CallOptions | None = None) -> CallInfo:
        call = CallInfo(
            provider=self.config.name, driver=self.get_name(), operation=operation,
            model=request.model if request else None, request=request,
            batch_id=batch_id or _BATCH_ID.get(), conversation_id=CONVERSATION_ID.get(),
            fallbacks=self._fallbacks, reply_check=REPLY_CHECK.get(),
        )
        if extra is not None:
            tags, fallbacks = extra
            if tags is not None:
                call.tags = tags
            if fallbacks is not None:
                call.fallbacks = fallbacks
        return call

    def _call_options(self, options: dict[str, Any]) -> _CallOptions | None:
        """Take the per-call settings meant for plugins out of a call's ``options``:
        ``tags`` (labels, in ``CallInfo.tags``) and ``fallbacks`` (where to try the call
        next, see :mod:`jtd_ai.fallbacks`). Checked here, before anything is sent."""
        if "tags" not in options and "fallbacks" not in options:
            return None
        tags = options.pop("tags", None)
        fallbacks = options.pop("fallbacks", None)
        if tags is not None:
            if not isinstance(tags, Mapping) or not all(isinstance(k, str) for k in tags):
                raise ValidationError("tags must be a mapping of names (str) to values",
                                      field="tags")
            tags = MappingProxyType(dict(tags))
        if fallbacks is not None:
            from jtd_ai.fallbacks import prepare

            fallbacks = prepare(self, fallbacks)
        return tags, fallbacks

    def _wrapped(self, stream: bool = False) -> bool:
        """Whether a call goes through the wrapper machinery (:mod:`jtd_ai.middleware`):
        only when some plugin implements ``wrap_call`` (or, for a stream, ``on_chunk``)."""
        hooks = self._hooks
        return hooks is not None and bool(
            hooks.hook.wrap_call.get_hookimpls()
            or (stream and hooks.hook.on_chunk.get_hookimpls()))

    def _before(self, call: CallInfo, started: float) -> None:
        call.started = started
        hooks = self._hooks
        if hooks is not None and hooks.hook.before_request.get_hookimpls():
            hooks.hook.before_request(call=call)

    def _succeeded(self, call: CallInfo, response: Response, started: float) -> Response:
        response = self._with_cost(response, latency=time.perf_counter() - started,
                                   requested=call.model)
        hooks = self._hooks
        if hooks is not None and hooks.hook.after_response.get_hookimpls():
            hooks.hook.after_response(call=call, response=response)
        if log.isEnabledFor(logging.INFO):
            usage = response.usage
            log.info(
                "%s %s %s ok in %.3fs (attempts=%d, tokens in=%s out=%s)",
                call.provider, call.operation, response.model, response.latency or 0.0,
                call.attempts, usage.input_tokens if usage else "?",
                usage.output_tokens if usage else "?",
                extra={"jtd_ai": _record(call, "ok", response.latency, response)},
            )
        return response

    def _failed(self, call: CallInfo, error: AIError, started: float) -> None:
        if self._hooks is not None:
            self._hooks.hook.on_error(call=call, error=error)
        latency = time.perf_counter() - started
        log.warning(
            "%s %s %s failed after %.3fs (attempts=%d): %s",
            call.provider, call.operation, call.model or "-", latency, call.attempts, error,
            extra={"jtd_ai": _record(call, type(error).__name__, latency, error.partial)},
        )

    def _answered(self, call: CallInfo, response: Response, started: float) -> Response:
        """A call a wrapper answered without calling the provider (a cache hit): the hooks
        still see it, with ``call.attempts`` 0 and ``call.cached``, so the ledger records it."""
        call.cached = True
        self._before(call, started)
        response = response.completed(latency=time.perf_counter() - started, cost=None,
                                      pricing=None)
        hooks = self._hooks
        if hooks is not None and hooks.hook.after_response.get_hookimpls():
            hooks.hook.after_response(call=call, response=response)
        if log.isEnabledFor(logging.INFO):
            log.info("%s %s %s answered without calling the provider", call.provider,
                     call.operation, response.model,
                     extra={"jtd_ai": _record(call, "ok", response.latency, response)})
        return response

    def _stopped(self, call: CallInfo, exc: BaseException, started: float,
                 partial: Response | None = None) -> None:
        """A call ended by ``exc``, neither a reply nor an AIError (a stream closed early,
        KeyboardInterrupt, asyncio cancellation, a bug): if a request was sent, ``on_error``
        hooks hear of it as a CallStoppedError, so the call keeps its ledger row. Never
        raises: ``exc`` goes on."""
        if call.attempts == 0 or self._hooks is None:
            return  # nothing was sent
        from jtd_ai.calls import CallStoppedError

        error = CallStoppedError.of(exc, partial=partial)
        try:
            self._hooks.hook.on_error(call=call, error=error)
        except Exception:  # a plugin's failure must not replace what is propagating
            log.warning("an on_error hook failed for a %s call", error.status, exc_info=True)
        if log.isEnabledFor(logging.INFO):
            latency = time.perf_counter() - started
            log.info("%s %s %s %s after %.3fs (attempts=%d): %s", call.provider,
                     call.operation, call.model or "-", error.status, latency, call.attempts,
                     error.kind, extra={"jtd_ai": _record(call, error.status, latency,
                                                            partial)})

    def _with_cost(self, response: Response, *, latency: float | None = None,
                   requested: str | None = None) -> Response:
        cost = pricing = None
        if response.usage is not None and response.cost is None:
            # The model that answered may be a variant the tables lack (an alias resolved to
            # "grok-3-mini-high"); the model asked for is priced then.
            pricing = self.pricing(response.model)
            if pricing is None and requested and requested != response.model:
                pricing = self.pricing(requested)
            if pricing is not None:
                cost = pricing.cost(response.usage)
        if latency is None and pricing is None and (self.keep_raw or response.raw is None):
            return response
        return response.completed(latency=latency, cost=cost, pricing=pricing,
                                  keep_raw=self.keep_raw)

    # -- chat ---------------------------------------------------------------------------------

    def send_message(self, prompt: Prompt | ChatRequest, *, model: str | None = None,
                     output: type[OutputT] | None = None, output_retries: int = 0,
                     **options: Any) -> Response[OutputT]:
        """Send a prompt and wait for the whole reply. Besides the request's options, a
        call takes ``fallbacks=[...]`` (:mod:`jtd_ai.fallbacks`) and ``tags={...}``;
        ``output=T`` parses the reply into ``reply.parsed`` (:mod:`jtd_ai.structured`)."""
        if output is not None or output_retries:
            from jtd_ai import structured

            return structured.send(self, prompt, model=model, output=output,
                                   output_retries=output_retries, options=options)
        extra = self._call_options(options) if options else None
        request = self.build_request(prompt, model=model, **options)
        call = self._call("chat", request, extra=extra)
        if self._wrapped():
            from jtd_ai.middleware import drain, run

            return drain(run(self, call))
        return self._chat_once(request, call)

    def _chat_once(self, request: ChatRequest, call: CallInfo) -> Response:
        """One call of the provider, its hooks and ledger row included: every send ends
        here (through the plugins' wrappers, when there are any)."""
        http_request = self.protocol.chat_request(request, stream=False)
        started = time.perf_counter()
        self._before(call, started)
        try:
            http_response = self.transport.send(http_request, call, self._policy(request))
            response = self.protocol.parse_chat(http_response, request)
        except AIError as error:
            self._failed(call, error, started)
            raise
        except BaseException as exc:  # KeyboardInterrupt, a bug: the request may be billed
            self._stopped(call, exc, started)
            raise
        return self._succeeded(call, response, started)

    async def asend_message(self, prompt: Prompt | ChatRequest, *, model: str | None = None,
                            output: type[OutputT] | None = None, output_retries: int = 0,
                            **options: Any) -> Response[OutputT]:
        if output is not None or output_retries:
            from jtd_ai import structured

            return await structured.asend(self, prompt, model=model, output=output,
                                          output_retries=output_retries, options=options)
        extra = self._call_options(options) if options else None
        request = self.build_request(prompt, model=model, **options)
        call = self._call("chat", request, extra=extra)
        if self._wrapped():
            from jtd_ai.middleware import arun

            box: list[Response] = []
            async with contextlib.aclosing(arun(self, call, box)) as chunks:
                async for _ in chunks:
                    pass  # a send yields no chunk
            return box[0]
        return await self._achat_once(request, call)

    async def _achat_once(self, request: ChatRequest, call: CallInfo) -> Response:
        http_request = self.protocol.chat_request(request, stream=False)
        started = time.perf_counter()
        self._before(call, started)
        try:
            http_response = await self.transport.asend(http_request, call, self._policy(request))
            response = self.protocol.parse_chat(http_response, request)
        except AIError as error:
            self._failed(call, error, started)
            raise
        except BaseException as exc:  # cancelled, KeyboardInterrupt: the request may be billed
            self._stopped(call, exc, started)
            raise
        return self._succeeded(call, response, started)

    def _stream_parts(self, prompt: Prompt | ChatRequest, model: str | None,
                      options: dict[str, Any]) -> tuple[ChatRequest, Any, CallInfo]:
        if not self.supports_streaming():
            raise ValidationError(f"driver {self.get_name()!r} does not support streaming",
                                  field="stream")
        extra = self._call_options(options) if options else None
        request = self.build_request(prompt, model=model, **options)
        return request, self.protocol.chat_request(request, stream=True), self._call(
            "stream", request, extra=extra)

    def _stream_state(self, request: ChatRequest, call: CallInfo) -> _StreamState:
        """One streamed call of the provider (its ``run()`` / ``arun()`` yield the chunks)."""
        return _StreamState(self, request, self.protocol.chat_request(request, stream=True),
                            call)

    @overload
    def stream(self, prompt: Prompt | ChatRequest, *, model: str | None = None,
               output: None = None, output_retries: int = 0, **options: Any) -> ChatStream: ...
    @overload
    def stream(self, prompt: Prompt | ChatRequest, *, model: str | None = None,
               output: type[OutputT], output_retries: int = 0,
               **options: Any) -> ParsedChatStream[OutputT]: ...
    def stream(self, prompt: Prompt | ChatRequest, *, model: str | None = None,
               output: Any = None, output_retries: int = 0,
               **options: Any) -> ChatStream | ParsedChatStream[Any]:
        """Iterate the reply's chunks; ``.response`` holds the whole reply once done
        (parsed into ``.response.parsed`` with ``output=T``)."""
        if output is not None or output_retries:
            from jtd_ai import structured

            return structured.stream(self, prompt, model=model, output=output,
                                     output_retries=output_retries, options=options)
        request, http_request, call = self._stream_parts(prompt, model, options)
        return ChatStream(self, request, http_request, call, wrapped=self._wrapped(True))

    @overload
    def astream(self, prompt: Prompt | ChatRequest, *, model: str | None = None,
                output: None = None, output_retries: int = 0,
                **options: Any) -> AsyncChatStream: ...
    @overload
    def astream(self, prompt: Prompt | ChatRequest, *, model: str | None = None,
                output: type[OutputT], output_retries: int = 0,
                **options: Any) -> AsyncParsedChatStream[OutputT]: ...
    def astream(self, prompt: Prompt | ChatRequest, *, model: str | None = None,
                output: Any = None, output_retries: int = 0,
                **options: Any) -> AsyncChatStream | AsyncParsedChatStream[Any]:
        if output is not None or output_retries:
            from jtd_ai import structured

            return structured.astream(self, prompt, model=model, output=output,
                                      output_retries=output_retries, options=options)
        request, http_request, call = self._stream_parts(prompt, model, options)
        return AsyncChatStream(self, request, http_request, call,
                               wrapped=self._wrapped(True))

    def stream_message(self, prompt: Prompt | ChatRequest, callback: StreamCallback, *,
                       model: str | None = None, **options: Any) -> Response:
        """Stream the reply, calling ``callback(chunk)`` for each chunk; returns the Response."""
        stream: ChatStream | ParsedChatStream[Any] = self.stream(prompt, model=model, **options)
        with stream:
            for chunk in stream:
                callback(chunk)
        assert stream.response is not None
        return stream.response

    async def astream_message(
        self, prompt: Prompt | ChatRequest,
        callback: Callable[[StreamChunk], Awaitable[Any] | Any], *,
        model: str | None = None, **options: Any,
    ) -> Response:
        """Async form of :meth:`stream_message`; ``callback`` may be sync or async."""
        stream: AsyncChatStream | AsyncParsedChatStream[Any] = self.astream(prompt, model=model,
                                                                            **options)
        async with stream:
            async for chunk in stream:
                result = callback(chunk)
                if inspect.isawaitable(result):
                    await result
        assert stream.response is not None
        return stream.response

    # -- batches ------------------------------------------------------------------------------

    def _batch_engine(self, items: Iterable[BatchItem] | AsyncIterable[BatchItem],
                      model: str | None, options: dict[str, Any]) -> dict[str, Any]:
        """What the engine needs for this driver's batch: each item's request, the send
        (every call under one new batch id), the provider's pacing, the total if known."""
        from jtd_ai.batch import Pacer, check_items

        check_items(items)
        batch_id = uuid.uuid4().hex
        structured: dict[str, Any] = {}
        if "output" in options or "output_retries" in options:  # each item parsed (output=T)
            from jtd_ai.structured import split_batch_options

            options, structured = split_batch_options(options)
        extra = self._call_options(options) if options else None  # tags, fallbacks
        if extra is not None:
            structured.update((k, v) for k, v in zip(("tags", "fallbacks"), extra, strict=True)
                              if v is not None)

        async def send(request: ChatRequest) -> Response:
            _BATCH_ID.set(batch_id)  # in the engine's worker task's own context only
            return await self.asend_message(request, **structured)

        return {
            "send": send,
            "build": lambda item: self.build_request(item, model=model, **options),
            "pacer": Pacer(self.config.requests_per_minute, self.config.tokens_per_minute),
            "total": len(items) if isinstance(items, Sized) else None,
        }

    def astream_batch(
        self, items: Iterable[BatchItem] | AsyncIterable[BatchItem], *, concurrency: int = 8,
        ordered: bool = False, window: int | None = None, model: str | None = None,
        progress: Callable[[BatchProgress], Any] | None = None,
        on_result: Callable[[int, Response | AIError], Any] | None = None,
        cancel: threading.Event | asyncio.Event | None = None, **options: Any,
    ) -> AsyncGenerator[tuple[int, Response | AIError], None]:
        """Send a batch of any size: ``async for index, result in ...``, each result a
        Response or the error that ended that item, as items finish (``ordered=True``: in
        input order).

        ``items`` (an iterable or async iterable, even an endless one) is read as the batch
        goes, each item checked when it is taken; at most ``window`` items (default
        ``max(2 * concurrency, concurrency + 16)``) are held at once, in flight or waiting
        to be handed out, so memory stays flat however long the batch. Pacing, callbacks
        and ``cancel`` as in :meth:`asend_batch`. Close it (``aclose()``) to stop early.
        See :mod:`jtd_ai.batch`."""
        from jtd_ai.batch import batch_window, stream_batch

        batch_window(concurrency, window)  # a bad limit fails here, before anything is sent
        engine = self._batch_engine(items, model, options)
        return stream_batch(items, engine.pop("send"), concurrency=concurrency,
                            ordered=ordered, window=window, progress=progress,
                            on_result=on_result, cancel=cancel, **engine)

    def stream_batch(
        self, items: Iterable[BatchItem] | AsyncIterable[BatchItem], *, concurrency: int = 8,
        ordered: bool = False, window: int | None = None, model: str | None = None,
        progress: Callable[[BatchProgress], Any] | None = None,
        on_result: Callable[[int, Response | AIError], Any] | None = None,
        cancel: threading.Event | None = None, **options: Any,
    ) -> SyncIterator[tuple[int, Response | AIError]]:
        """Sync form of :meth:`astream_batch`: ``for index, result in ...``. The batch runs
        on a helper thread with its own event loop (so this also works inside a running
        loop, in a notebook) and keeps sending while you handle a result (``progress`` and
        ``on_result`` run on that thread); ``close()`` it, or use ``with``, to stop early."""
        from jtd_ai.sync_iter import SyncIterator

        stream = self.astream_batch(items, concurrency=concurrency, ordered=ordered,
                                    window=window, model=model, progress=progress,
                                    on_result=on_result, cancel=cancel, **options)
        return SyncIterator(stream, cleanup=self._aclose_loop, name="jtd-ai-batch")

    async def asend_batch(
        self, items: Iterable[BatchItem] | AsyncIterable[BatchItem], *, concurrency: int = 8,
        model: str | None = None,
        progress: Callable[[BatchProgress], Any] | None = None,
        on_result: Callable[[int, Response | AIError], Any] | None = None,
        cancel: threading.Event | asyncio.Event | None = None, mode: str = "live",
        **options: Any,
    ) -> list[Response | AIError]:
        """Send many prompts at once; results in input order, each a Response or the error
        that ended that item, so one failure never loses another item's result. The list
        keeps every result: for a batch too big for that, use :meth:`astream_batch`.

        Starts are paced by the provider's ``requests_per_minute`` / ``tokens_per_minute``
        and its rate-limit headers. An item that fails the request checks is that item's
        ValidationError, never sent. ``progress(BatchProgress)`` runs after each item,
        ``on_result(index, result)`` as each item finishes (write results out there, so an
        interruption loses nothing done); once ``cancel`` is set, unsent items of a list
        come back as BatchCancelledError (an iterator is not read further: the list ends at
        the last item taken). An exception raised by ``items`` itself is a
        :class:`~jtd_ai.BatchInputError` holding the finished results. See
        :mod:`jtd_ai.batch`.

        ``mode="provider"`` runs the items as the provider's own batch jobs instead (half
        price, results within hours; resumable from the store): see :mod:`jtd_ai.jobs`.
        """
        if mode != "live":
            from jtd_ai.jobs import asend_provider_batch

            return await asend_provider_batch(self, items, mode=mode, model=model,
                                              progress=progress, on_result=on_result,
                                              cancel=cancel, options=options)
        from jtd_ai.batch import batch_window, collect_batch

        batch_window(concurrency)
        engine = self._batch_engine(items, model, options)
        return await collect_batch(items, engine.pop("send"), concurrency=concurrency,
                                   progress=progress, on_result=on_result, cancel=cancel,
                                   **engine)

    def send_batch(
        self, items: Iterable[BatchItem] | AsyncIterable[BatchItem], *, concurrency: int = 8,
        model: str | None = None,
        progress: Callable[[BatchProgress], Any] | None = None,
        on_result: Callable[[int, Response | AIError], Any] | None = None,
        cancel: threading.Event | None = None, mode: str = "live", **options: Any,
    ) -> list[Response | AIError]:
        """Sync form of :meth:`asend_batch`; also works inside a running event loop
        (a notebook), by running the batch on a helper thread with its own loop."""
        work = self.asend_batch(items, concurrency=concurrency, model=model, progress=progress,
                                on_result=on_result, cancel=cancel, mode=mode, **options)
        results: list[Response | AIError] = run_sync(work)
        return results

    # -- models, credentials, cost ---------------------------------------------------------------

    def get_available_models(self, *, refresh: bool = False) -> list[ModelInfo]:
        """Every model the provider lists (all pages). Served from the catalog while its
        listing is younger than the TTL (without a catalog: held after the first call);
        ``refresh=True`` (or :meth:`sync_models`) asks the provider again and stores it."""
        cached = None if refresh else self._cached_models()
        if cached is not None:
            return cached
        return self._remember_models(self.fetch_models())

    async def aget_available_models(self, *, refresh: bool = False) -> list[ModelInfo]:
        cached = None if refresh else self._cached_models()
        if cached is not None:
            return cached
        return self._remember_models(await self.afetch_models())

    def _cached_models(self) -> list[ModelInfo] | None:
        if self.catalog is not None:
            return self.catalog.fresh()
        return list(self._models) if self._models is not None else None

    def _remember_models(self, models: list[ModelInfo]) -> list[ModelInfo]:
        self._models = models
        if self.catalog is not None:
            self.catalog.listed(models)  # never raises: store failures are reported
        return list(models)

    def request(self, http_request: HttpRequest, *, operation: str, model: str | None = None,
                timeout: float | None = None) -> HttpResponse:
        """Send a request the protocol built for one of the provider's other endpoints (token
        counts, model details, versions) with the core's pooling, retries, typed errors and
        failure record. Chat goes through :meth:`send_message`; ``timeout`` is the deadline."""
        call = self._call(operation)
        call.model = model
        started = time.perf_counter()
        try:
            return self.transport.send(http_request, call,
                                       RetryPolicy.from_config(self.config, timeout))
        except AIError as error:
            self._failed(call, error, started)
            raise

    async def arequest(self, http_request: HttpRequest, *, operation: str,
                       model: str | None = None, timeout: float | None = None) -> HttpResponse:
        """Async form of :meth:`request`."""
        call = self._call(operation)
        call.model = model
        started = time.perf_counter()
        try:
            return await self.transport.asend(http_request, call,
                                              RetryPolicy.from_config(self.config, timeout))
        except AIError as error:
            self._failed(call, error, started)
            raise

    def fetch_models(self) -> list[ModelInfo]:
        """Ask the provider for every model it lists, now; caches and stores nothing."""
        first = self.protocol.models_request(None)
        if first is None:
            raise ValidationError(f"driver {self.get_name()!r} cannot list models",
                                  field="models")
        call = self._call("models")
        started = time.perf_counter()
        models: list[ModelInfo] = []
        request: Any = first
        try:
            while request is not None:
                page = self.protocol.parse_models(
                    self.transport.send(request, call, self._policy(None)))
                models.extend(page.models)
                request = (self.protocol.models_request(page.next_page_token)
                           if page.next_page_token else None)
        except AIError as error:
            self._failed(call, error, started)
            raise
        return models

    async def afetch_models(self) -> list[ModelInfo]:
        first = self.protocol.models_request(None)
        if first is None:
            raise ValidationError(f"driver {self.get_name()!r} cannot list models",
                                  field="models")
        call = self._call("models")
        started = time.perf_counter()
        models: list[ModelInfo] = []
        request: Any = first
        try:
            while request is not None:
                page = self.protocol.parse_models(
                    await self.transport.asend(request, call, self._policy(None)))
                models.extend(page.models)
                request = (self.protocol.models_request(page.next_page_token)
                           if page.next_page_token else None)
        except AIError as error:
            self._failed(call, error, started)
            raise
        return models

    def sync_models(self) -> list[ModelInfo]:
        """Ask the provider for its models now and replace what the driver holds."""
        return self.get_available_models(refresh=True)

    async def async_models(self) -> list[ModelInfo]:
        return await self.aget_available_models(refresh=True)

    def validate_credentials(self) -> bool:
        """True if the provider accepts the credentials, False if it rejects them. Any other
        failure (network, server) raises: it says nothing about the key."""
        request = self.protocol.credentials_request()
        if request is None:
            return True
        try:
            self.transport.send(request, self._call("credentials"), self._policy(None))
        except InvalidCredentialsError:
            return False
        return True

    async def avalidate_credentials(self) -> bool:
        request = self.protocol.credentials_request()
        if request is None:
            return True
        try:
            await self.transport.asend(request, self._call("credentials"), self._policy(None))
        except InvalidCredentialsError:
            return False
        return True

    def pricing(self, model: str) -> Pricing | None:
        """The price of ``model``: a ``prices`` override in the provider config first, then
        the price the provider published (synced into the catalog), then the driver's table
        (see :mod:`jtd_ai.provider_catalog`)."""
        overrides = self.config.option("prices")
        if isinstance(overrides, dict) and model in overrides:
            from jtd_ai.pricing import Pricing

            entry = overrides[model]
            if isinstance(entry, Pricing):
                return entry
            from jtd_ai.convert import structure_config

            return structure_config({"source": "config", **entry}, Pricing,
                                    what=f"providers.{self.config.name}.prices.{model}")
        if self.catalog is not None:
            return self.catalog.resolve_price(model, self.protocol.pricing(model))
        return self.protocol.pricing(model)

    def calculate_cost(self, usage: TokenUsage, model: str | None = None) -> Decimal:
        """The cost in dollars of ``usage`` on ``model`` (default: the provider's model)."""
        chosen = model or self.config.default_model
        if not chosen:
            raise ValidationError("calculate_cost needs a model", field="model")
        pricing = self.pricing(chosen)
        if pricing is None:
            raise PricingUnknownError(
                f"no price is known for {chosen!r} on provider {self.config.name!r}; set one "
                f"under [providers.{self.config.name}.prices.\"{chosen}\"] (input, output per "
                f"million tokens)"
            )
        return pricing.cost(usage)


def run_sync(work: Awaitable[Any]) -> Any:
    """Run a coroutine to completion from sync code, even inside a running loop (then on a
    helper thread that carries the caller's context variables)."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)  # type: ignore[arg-type]
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["value"] = asyncio.run(work)  # type: ignore[arg-type]
        except BaseException as exc:
            box["error"] = exc

    # The caller's context goes along (its OpenTelemetry span, conversation id, batch id),
    # as it does when asyncio.run is called in this thread.
    thread = threading.Thread(target=contextvars.copy_context().run, args=(runner,),
                              name="jtd-ai-sync-bridge")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _record(call: CallInfo, status: str, latency: float | None,
            response: Response | None) -> dict[str, Any]:
    usage = response.usage if response is not None else None
    return {
        "provider": call.provider, "driver": call.driver, "operation": call.operation,
        "model": response.model if response is not None else call.model, "status": status,
        "attempts": call.attempts, "latency": latency,
        "input_tokens": usage.input_tokens if usage else None,
        "output_tokens": usage.output_tokens if usage else None,
        "batch_id": call.batch_id,
    }


class _StreamState:
    """What a stream's generator needs. The generator holds this, never the stream object:
    a stream abandoned mid-way (``break`` without ``with``) then has no reference cycle,
    so it is closed at once when dropped, not later by the garbage collector at some
    moment when the same thread may hold the connection pool's lock."""

    __slots__ = ("acc", "call", "driver", "http_request", "on_complete", "request",
                 "response", "started")

    def __init__(self, driver: Driver, request: ChatRequest, http_request: Any,
                 call: CallInfo) -> None:
        self.driver = driver
        self.request = request
        self.http_request = http_request
        self.call = call
        self.acc = StreamAccumulator(driver.config.name, request.model,
                                     keep_raw=driver.keep_raw)
        self.response: Response | None = None
        self.on_complete: Callable[[Response], Any] | None = None
        self.started = 0.0

    def decoder(self) -> Any:
        return self.driver.protocol.stream_decoder(self.request)

    def begin(self) -> None:
        self.started = time.perf_counter()
        self.driver._before(self.call, self.started)

    def failed(self, error: AIError) -> None:
        self.driver._failed(self.call, error, self.started)

    def stopped(self, exc: BaseException) -> None:
        """Ended early (closed, cancelled, interrupted): the row has what arrived so far."""
        try:
            partial = self.acc.response() if self.acc.chunks else None
        except Exception:  # never in the way of what is propagating
            partial = None
        self.driver._stopped(self.call, exc, self.started, partial)

    def done(self) -> None:
        self.response = self.driver._succeeded(self.call, self.acc.response(), self.started)
        if self.on_complete is not None:
            self.on_complete(self.response)

    def run(self) -> Generator[StreamChunk, None, None]:
        return _run_stream(self)

    def arun(self) -> AsyncGenerator[StreamChunk, None]:
        return _arun_stream(self)


def _run_stream(state: _StreamState) -> Generator[StreamChunk, None, None]:
    state.begin()
    driver = state.driver
    try:
        yield from driver.transport.stream(state.http_request, state.call,
                                           driver._policy(state.request), state.decoder,
                                           state.acc)
    except AIError as error:
        state.failed(error)
        raise
    except BaseException as exc:  # GeneratorExit (break, close()), KeyboardInterrupt, ...
        state.stopped(exc)
        raise
    state.done()


async def _arun_stream(state: _StreamState) -> AsyncGenerator[StreamChunk, None]:
    state.begin()
    driver = state.driver
    try:
        async for chunk in driver.transport.astream(state.http_request, state.call,
                                                    driver._policy(state.request),
                                                    state.decoder, state.acc):
            yield chunk
    except AIError as error:
        state.failed(error)
        raise
    except BaseException as exc:  # GeneratorExit, CancelledError, KeyboardInterrupt, ...
        state.stopped(exc)
        raise
    state.done()


def _run_wrapped(state: _StreamState) -> Iterator[StreamChunk]:
    """A stream through the plugins' wrappers (:mod:`jtd_ai.middleware`); ``state.acc``
    collects what reaches the caller."""
    from jtd_ai.middleware import run

    state.response = yield from run(state.driver, state.call, shown=state.acc)
    if state.on_complete is not None:
        state.on_complete(state.response)


async def _arun_wrapped(state: _StreamState) -> AsyncGenerator[StreamChunk, None]:
    from jtd_ai.middleware import arun

    box: list[Response] = []
    async with contextlib.aclosing(arun(state.driver, state.call, box,
                                        shown=state.acc)) as chunks:
        async for chunk in chunks:
            yield chunk
    state.response = box[0]
    if state.on_complete is not None:
        state.on_complete(state.response)


class _StreamBase:
    def __init__(self, driver: Driver, request: ChatRequest, http_request: Any,
                 call: CallInfo, *, wrapped: bool = False) -> None:
        self.driver = driver
        self.request = request
        self._state = _StreamState(driver, request, http_request, call)
        self._wrapped = wrapped

    @property
    def text(self) -> str:
        """The content received so far."""
        return self._state.acc.text

    @property
    def response(self) -> Response | None:
        """The whole reply once the stream has ended, else None."""
        return self._state.response

    @property
    def on_complete(self) -> Callable[[Response], Any] | None:
        """Called with the final Response when the stream ends cleanly."""
        return self._state.on_complete

    @on_complete.setter
    def on_complete(self, callback: Callable[[Response], Any] | None) -> None:
        self._state.on_complete = callback


class LazyChunks:
    """The iterator and context-manager protocol of a sync stream (this module's and
    :mod:`jtd_ai.structured`'s): its chunks come from :meth:`_chunks`, started on first use;
    closing stops it."""

    _iterator: Iterator[StreamChunk] | None = None

    def _chunks(self) -> Iterator[StreamChunk]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[StreamChunk]:
        if self._iterator is None:
            self._iterator = self._chunks()
        return self._iterator

    def __next__(self) -> StreamChunk:
        return next(iter(self))

    def close(self) -> None:
        if self._iterator is not None:
            self._iterator.close()  # type: ignore[attr-defined]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncLazyChunks:
    """The async form of :class:`LazyChunks`: chunks from :meth:`_chunks`."""

    _iterator: AsyncIterator[StreamChunk] | None = None

    def _chunks(self) -> AsyncIterator[StreamChunk]:
        raise NotImplementedError

    def __aiter__(self) -> AsyncIterator[StreamChunk]:
        if self._iterator is None:
            self._iterator = self._chunks()
        return self._iterator

    async def __anext__(self) -> StreamChunk:
        return await self.__aiter__().__anext__()

    async def aclose(self) -> None:
        if self._iterator is not None:
            await self._iterator.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class ChatStream(_StreamBase, LazyChunks):
    """An iterator of :class:`StreamChunk`; closes its connection when done or closed."""

    def _chunks(self) -> Iterator[StreamChunk]:
        return (_run_wrapped if self._wrapped else _run_stream)(self._state)


class AsyncChatStream(_StreamBase, AsyncLazyChunks):
    """An async iterator of :class:`StreamChunk`."""

    def _chunks(self) -> AsyncIterator[StreamChunk]:
        return (_arun_wrapped if self._wrapped else _arun_stream)(self._state)
