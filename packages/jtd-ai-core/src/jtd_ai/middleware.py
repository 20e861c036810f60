"""The call wrapper hook (``wrap_call``): one protocol for a wrapper, two small runners.

A plugin's ``wrap_call(call)`` returns a generator (or None to stay out of the call). The core
drives it, the same way for ``send_message``, ``asend_message``, ``stream`` and ``astream``:

* the wrapper **yields a ChatRequest** (``call.request``, or a changed one) to call through:
  the next wrapper, then the provider. The Response is sent back into the generator; an
  :class:`~jtd_ai.AIError` that ended the call is thrown into it.
* it **yields a** :class:`Via` to call another provider instead: that provider's own full
  call (its wrappers, hooks, ledger row, retries), whose Response or error comes back the
  same way. That call runs every wrapper of its own except the plugin that issued the Via
  and any plugin that issued one on the way to it, so a plugin never re-enters itself
  through Via (fallbacks from A to B and from B to A end).
* it **returns** the Response to give back: the one it was sent, a replacement, or one it
  made without calling at all (a cache hit). A call answered without calling the provider
  (nor any Via) is marked ``Response.cached = True`` with ``cost = Decimal(0)``, and the
  ``before_request`` / ``after_response`` hooks still fire for it, with ``call.attempts``
  0, so the usage ledger records it.

Order: the wrapper of the first implementation pluggy calls (``tryfirst`` ones first) is the
outermost. Streams (``call.operation == "stream"``): chunks reach the caller as they arrive,
and wrappers are sent the assembled Response when the stream ends. A Response given without
a chunk reaching the caller (a cache hit; a replacement after an error before the first
chunk) is replayed to the caller as chunks: text, tool call deltas, then finish reason and
usage. Once a chunk has reached the caller, the stream's outcome is the provider's: an error
that ends it is still thrown into each wrapper (to observe), but a wrapper that then yields
another call or returns a Response is closed and the error goes on (no fallback mid-stream).
The ``on_chunk`` hook sees each chunk leaving each call (a chunk served through a Via is
seen by both calls, each with its own CallInfo).

With no ``wrap_call`` (and, for streams, no ``on_chunk``) implementation registered, the
driver never reaches this module: a call costs what it did before the hook existed.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Generator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs
from attrs import field, frozen

from jtd_ai.errors import AIError, ConfigurationError, PluginError, ValidationError
from jtd_ai.request import ChatRequest
from jtd_ai.responses import Response, StreamChunk, ToolCallDelta

if TYPE_CHECKING:
    from jtd_ai.calls import CallInfo
    from jtd_ai.driver import Driver
    from jtd_ai.streaming import StreamAccumulator

__all__ = ["CallWrapper", "Via", "arun", "drain", "in_thread", "replay", "run"]


def _provider_name(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValidationError("Via needs a provider name (a non-empty str)", field="provider")


@frozen
class Via:
    """What a wrapper yields to call another configured provider: ``model`` (default: that
    provider's default model, or the request's when it is the same provider) and
    ``request`` (default: the request this wrapper was given)."""

    provider: str = field(validator=_provider_name)
    model: str | None = None
    request: ChatRequest | None = None


#: What ``wrap_call`` returns: yields requests or Vias, is sent Responses, returns one.
CallWrapper = Generator[ChatRequest | Via, Response, Response]
#: What a wrapper asks for next: a call through, a call elsewhere, or its answer.
_Step = ChatRequest | Via | Response
_NONE: frozenset[str] = frozenset()
_THREADED: weakref.WeakSet[CallWrapper] = weakref.WeakSet()


def in_thread(wrapper: CallWrapper) -> CallWrapper:
    """Mark ``wrapper`` as doing blocking I/O between its yields (a database read or write):
    in an async call each of its steps runs in a worker thread (``asyncio.to_thread``), so
    the event loop is never held; a sync call drives it as any wrapper. Its steps see a copy
    of the caller's context variables, and what they set there does not reach the caller:
    a wrapper that keeps state in a context variable across a yield (a tracing span made
    current) must not be marked."""
    _THREADED.add(wrapper)
    return wrapper


class _Chain:
    """One call's wrappers around its provider call, and what has happened so far."""

    __slots__ = ("call", "called", "delivered", "driver", "excluded", "impls", "observed",
                 "shown", "stream", "through")

    def __init__(self, driver: Driver, call: CallInfo, excluded: frozenset[str],
                 shown: StreamAccumulator | None) -> None:
        self.driver = driver
        self.call = call
        self.excluded = excluded
        self.stream = call.operation == "stream"
        hooks = driver._hooks
        self.impls = _impls(hooks, excluded) if hooks is not None else []
        self.observed = bool(self.stream and hooks is not None
                             and hooks.hook.on_chunk.get_hookimpls())
        self.shown = shown
        #: Whether the provider was called (directly or through a Via).
        self.called = False
        #: Chunks that left this call so far.
        self.delivered = 0
        #: Calls made through to this provider so far.
        self.through = 0

    def next_layer(self, index: int, request: ChatRequest) -> tuple[int, _Layer | None]:
        """The first wrapper from implementation ``index`` on that takes part in a call of
        ``request``, and its index; (end, None) when the provider is next. Each is made now,
        so it sees the request as the wrappers outside it left it."""
        self.resume(request)
        while index < len(self.impls):
            impl = self.impls[index]
            wrapper = impl.function(*[self.call for _ in impl.argnames])
            if wrapper is not None:
                if not isinstance(wrapper, Generator):
                    raise PluginError(
                        f"the wrap_call hook of plugin {impl.plugin_name!r} returned "
                        f"{type(wrapper).__name__}; it returns a generator (or None to stay "
                        f"out of the call)", distribution=None, entry_point=impl.plugin_name)
                return index, _Layer(impl.plugin_name, wrapper)
            index += 1
        return index, None

    def resume(self, request: ChatRequest) -> None:
        """Back in a wrapper: ``call.request`` is again the request that wrapper was given."""
        self.call.request = request
        self.call.model = request.model

    def deliver(self, chunk: StreamChunk) -> None:
        self.delivered += 1
        if self.shown is not None:
            self.shown.add(chunk)
        if self.observed:
            assert self.driver._hooks is not None
            self.driver._hooks.hook.on_chunk(call=self.call, chunk=chunk)

    def terminal_call(self, request: ChatRequest) -> CallInfo:
        """The CallInfo of one call through to the provider: the chain's own for the first,
        a fresh copy for each further one (each is its own ledger row and attempt count)."""
        self.called = True
        call = self.call
        if self.through:
            call = attrs.evolve(call, attempts=0, started=0.0)
        self.through += 1
        call.request = request
        call.model = request.model
        return call

    def via(self, via: Via, request: ChatRequest, issuer: str) -> tuple[Driver, CallInfo,
                                                                       frozenset[str]]:
        """The driver, CallInfo and excluded plugins of the call ``via`` asks for."""
        resolver = self.driver.resolver
        if resolver is None:
            raise ConfigurationError(
                f"a wrapper asked to call provider {via.provider!r} (Via), but driver "
                f"{self.driver.provider!r} was not built by an AIManager, so it knows no "
                f"other provider")
        target = resolver(via.provider)
        chosen = via.request if via.request is not None else request
        model = via.model
        if model is None and target.provider != self.driver.provider:
            model = target.config.default_model
        if model and model != chosen.model:
            chosen = attrs.evolve(chosen, model=model)
        self.called = True
        call = target._call(self.call.operation, chosen)
        call.conversation_id = self.call.conversation_id
        call.tags = self.call.tags
        call.reply_check = self.call.reply_check  # a fallback's reply is checked alike
        call.batch_id = self.call.batch_id
        return target, call, self.excluded | {issuer}


class _Layer:
    """One wrapper generator, stepped through the protocol."""

    __slots__ = ("name", "threaded", "wrapper")

    def __init__(self, name: str, wrapper: CallWrapper) -> None:
        self.name = name
        self.wrapper = wrapper
        #: Marked by :func:`in_thread`: an async call runs each step in a worker thread.
        self.threaded = wrapper in _THREADED

    def start(self, chain: _Chain) -> _Step:
        return self._advance(chain, lambda: next(self.wrapper))

    def sent(self, chain: _Chain, response: Response) -> _Step:
        return self._advance(chain, lambda: self.wrapper.send(response))

    def failed(self, chain: _Chain, error: AIError) -> _Step:
        if not (chain.stream and chain.delivered):
            return self._advance(chain, lambda: self.wrapper.throw(error))
        # A chunk already reached the caller: the wrapper may see the error, not replace it.
        with contextlib.suppress(StopIteration):
            self.wrapper.throw(error)  # its own exception, if it raises one, goes on
        self.wrapper.close()
        raise error

    def close(self) -> None:
        self.wrapper.close()

    def _advance(self, chain: _Chain, step: Any) -> _Step:
        try:
            value = step()
        except StopIteration as stop:
            return self._answer(chain, stop.value)
        if isinstance(value, ChatRequest | Via):
            return value
        self.wrapper.close()
        raise PluginError(
            f"the wrap_call wrapper of plugin {self.name!r} yielded "
            f"{type(value).__name__}; a wrapper yields a ChatRequest (to call through) or a "
            f"jtd_ai.Via (to call another provider)", distribution=None, entry_point=self.name)

    def _answer(self, chain: _Chain, value: Any) -> Response:
        if not isinstance(value, Response):
            raise PluginError(
                f"the wrap_call wrapper of plugin {self.name!r} returned "
                f"{type(value).__name__}; a wrapper returns the Response to give back",
                distribution=None, entry_point=self.name)
        if not chain.called and not value.cached:
            value = attrs.evolve(value, cached=True, cost=Decimal(0))
        answer: Response = value
        return answer


def _impls(hooks: Any, excluded: frozenset[str]) -> list[Any]:
    """The ``wrap_call`` implementations, outermost first (pluggy's calling order), without
    those of the plugins in ``excluded``. The core calls each itself, not through pluggy, so
    it knows which plugin issued a Via, and only when the call reaches it, so each call
    through gets a fresh wrapper that sees the request as the wrappers outside it left it."""
    impls = []
    for impl in reversed(hooks.hook.wrap_call.get_hookimpls()):
        if impl.plugin_name in excluded:
            continue
        if impl.hookwrapper or impl.wrapper:
            raise PluginError(
                f"plugin {impl.plugin_name!r} implements wrap_call as a pluggy wrapper; "
                f"wrap_call is itself the wrapper hook: drop wrapper=True and return a "
                f"generator", distribution=None, entry_point=impl.plugin_name)
        impls.append(impl)
    return impls


def replay(response: Response) -> list[StreamChunk]:
    """A Response as the chunks a stream of it would have brought: its text, its tool calls
    as deltas, then its finish reason and usage."""
    chunks = []
    if response.content or response.reasoning or response.refusal:
        chunks.append(StreamChunk(delta=response.content, reasoning=response.reasoning or "",
                                  refusal=response.refusal or "", model=response.model,
                                  request_id=response.request_id))
    if response.tool_calls:
        chunks.append(StreamChunk(tool_calls=tuple(
            ToolCallDelta(i, c.id, c.name, c.arguments, c.metadata)
            for i, c in enumerate(response.tool_calls)), model=response.model))
    chunks.append(StreamChunk(finish_reason=response.finish_reason, usage=response.usage,
                              model=response.model, request_id=response.request_id))
    return chunks


# -- the sync runner ----------------------------------------------------------------------------


def drain(chunks: Generator[StreamChunk, None, Response]) -> Response:
    """The Response of a call run for its reply only (a send yields no chunk)."""
    try:
        while True:
            next(chunks)
    except StopIteration as stop:
        response: Response = stop.value
        return response


def run(driver: Driver, call: CallInfo, *, excluded: frozenset[str] = _NONE,
        shown: StreamAccumulator | None = None) -> Generator[StreamChunk, None, Response]:
    """One call through its wrappers, start to end: yields the chunks that leave it (none for
    a send) and returns its Response. ``shown`` collects the chunks for ``stream.text``."""
    chain = _Chain(driver, call, excluded, shown)
    started = time.perf_counter()
    assert call.request is not None
    response = yield from _drive(chain, 0, call.request)
    if not chain.called:
        response = driver._answered(call, response, started)
    if chain.stream and not chain.delivered:
        for chunk in replay(response):
            chain.deliver(chunk)
            yield chunk
    return response


def _drive(chain: _Chain, index: int,
           request: ChatRequest) -> Generator[StreamChunk, None, Response]:
    index, layer = chain.next_layer(index, request)
    if layer is None:
        return (yield from _terminal(chain, request))
    step = layer.start(chain)
    while not isinstance(step, Response):
        try:
            if isinstance(step, Via):
                target, call, excluded = chain.via(step, request, layer.name)
                result = yield from _relay(chain, run(target, call, excluded=excluded))
            else:
                result = yield from _drive(chain, index + 1, step)
        except AIError as error:
            chain.resume(request)
            step = layer.failed(chain, error)
            continue
        except BaseException:
            layer.close()
            raise
        chain.resume(request)
        step = layer.sent(chain, result)
    return step


def _terminal(chain: _Chain, request: ChatRequest) -> Generator[StreamChunk, None, Response]:
    call = chain.terminal_call(request)
    if not chain.stream:
        return chain.driver._chat_once(request, call)
    state = chain.driver._stream_state(request, call)
    chunks = state.run()
    try:
        for chunk in chunks:
            chain.deliver(chunk)
            yield chunk
    finally:
        chunks.close()
    assert state.response is not None
    return state.response


def _relay(chain: _Chain, chunks: Generator[StreamChunk, None, Response],
           ) -> Generator[StreamChunk, None, Response]:
    """Pass another call's chunks on, counting them; its Response is the result."""
    try:
        while True:
            try:
                chunk = next(chunks)
            except StopIteration as stop:
                response: Response = stop.value
                return response
            chain.deliver(chunk)
            yield chunk
    finally:
        chunks.close()


# -- the async runner ---------------------------------------------------------------------------


async def arun(driver: Driver, call: CallInfo, box: list[Response], *,
               excluded: frozenset[str] = _NONE,
               shown: StreamAccumulator | None = None) -> AsyncGenerator[StreamChunk, None]:
    """Async form of :func:`run`: the Response is appended to ``box`` (an async generator
    returns no value)."""
    chain = _Chain(driver, call, excluded, shown)
    started = time.perf_counter()
    assert call.request is not None
    result: list[Response] = []
    async with contextlib.aclosing(_adrive(chain, 0, call.request, result)) as chunks:
        async for chunk in chunks:
            yield chunk
    response = result[0]
    if not chain.called:
        response = driver._answered(call, response, started)
    if chain.stream and not chain.delivered:
        for chunk in replay(response):
            chain.deliver(chunk)
            yield chunk
    box.append(response)


async def _adrive(chain: _Chain, index: int, request: ChatRequest,
                  box: list[Response]) -> AsyncGenerator[StreamChunk, None]:
    index, layer = chain.next_layer(index, request)
    lower = (_aterminal(chain, request, box) if layer is None
             else _alayer(chain, index, layer, request, box))
    async with contextlib.aclosing(lower) as chunks:
        async for chunk in chunks:
            yield chunk


async def _astep(layer: _Layer, step: Callable[..., _Step], *args: Any) -> _Step:
    """One step of ``layer``: in a worker thread when it is marked :func:`in_thread`."""
    if not layer.threaded:
        return step(*args)
    import asyncio

    return await asyncio.to_thread(step, *args)


async def _alayer(chain: _Chain, index: int, layer: _Layer, request: ChatRequest,
                  box: list[Response]) -> AsyncGenerator[StreamChunk, None]:
    step = await _astep(layer, layer.start, chain)
    while not isinstance(step, Response):
        result: list[Response] = []
        try:
            if isinstance(step, Via):
                target, call, excluded = chain.via(step, request, layer.name)
                lower = arun(target, call, result, excluded=excluded)
            else:
                lower = _adrive(chain, index + 1, step, result)
            async with contextlib.aclosing(lower) as chunks:
                async for chunk in chunks:
                    if isinstance(step, Via):
                        chain.deliver(chunk)
                    yield chunk
        except AIError as error:
            chain.resume(request)
            step = await _astep(layer, layer.failed, chain, error)
            continue
        except BaseException:
            layer.close()
            raise
        chain.resume(request)
        step = await _astep(layer, layer.sent, chain, result[0])
    box.append(step)


async def _aterminal(chain: _Chain, request: ChatRequest,
                     box: list[Response]) -> AsyncGenerator[StreamChunk, None]:
    call = chain.terminal_call(request)
    if not chain.stream:
        box.append(await chain.driver._achat_once(request, call))
        return
    state = chain.driver._stream_state(request, call)
    async with contextlib.aclosing(state.arun()) as chunks:
        async for chunk in chunks:
            chain.deliver(chunk)
            yield chunk
    assert state.response is not None
    box.append(state.response)

