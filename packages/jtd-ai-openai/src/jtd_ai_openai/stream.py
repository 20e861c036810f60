"""Decoding a streamed Chat Completions reply: one SSE ``data:`` event in, chunks out.

Each event is a ``chat.completion.chunk``; ``data: [DONE]`` ends the stream. Tool calls come
as fragments keyed by ``index`` (OpenAI sends the id and name first, then argument pieces;
xAI sends each call whole); the core's StreamAccumulator joins them. With
``stream_options.include_usage`` the usage arrives in a last chunk whose ``choices`` is
empty. Only choice 0 is read: a chunk of another choice (``choices[].index`` > 0, from a
server that streams several) is left out rather than merged. An ``{"error": ...}`` event
(or an SSE ``event: error``) becomes a typed error, and a body that ends before ``[DONE]``
is an interruption: in both cases the core keeps what arrived in ``partial``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from jtd_ai.convert import structure_wire
from jtd_ai.errors import MalformedResponseError, StreamInterruptedError
from jtd_ai.protocol import StreamDecoder, StreamEvent
from jtd_ai.responses import StreamChunk, ToolCallDelta
from jtd_ai.wire import loads
from jtd_ai_openai.errors import ErrorFields, error_fields
from jtd_ai_openai.wire import ChatChunk, ToolCallBody

if TYPE_CHECKING:
    from jtd_ai_openai.protocol import OpenAIProtocol

__all__ = ["ChatStreamDecoder"]

_DONE = "[DONE]"
#: The delta keys of a content-only chunk.
_TEXT_ONLY = frozenset(("content", "role"))


class ChatStreamDecoder(StreamDecoder):
    """The decoder of one streamed reply (it remembers the model and the tool-call ids)."""

    def __init__(self, protocol: OpenAIProtocol) -> None:
        self.protocol = protocol
        self.done = False
        self.model: str | None = None
        self._call_ids: dict[str, int] = {}
        self._last_index = 0

    def feed(self, event: StreamEvent) -> Iterable[StreamChunk]:
        data = event.data
        if data == _DONE:
            self.done = True
            return ()
        try:
            payload = loads(data)
        except ValueError:
            provider = self.protocol.provider
            if event.event == "error":
                raise self.protocol.body_error(ErrorFields(data[:200]), data) from None
            raise MalformedResponseError(
                f"{provider} sent a stream event that is not JSON: {data[:200]!r}",
                provider=provider, body=data,
            ) from None
        quick = self._text_only(payload) if event.event is None else None
        if quick is not None:
            return quick
        provider = self.protocol.provider
        if event.event == "error" or (isinstance(payload, dict) and "error" in payload):
            fields = error_fields(payload)
            if fields is not None:
                raise self.protocol.body_error(fields, data)
            if event.event == "error":
                raise self.protocol.body_error(ErrorFields(data[:200]), data)
        chunk = structure_wire(payload, ChatChunk, provider=provider, what="$chunk")
        if chunk.model:
            self.model = chunk.model
        usage = (self.protocol.token_usage(chunk.usage, payload.get("usage") or {})
                 if chunk.usage is not None else None)
        # One Response is one choice, index 0 (n > 1 is refused before sending); a server
        # that streams other choices anyway has their chunks left out, never merged in.
        choice = next((c for c in chunk.choices if c.index == 0), None)
        if choice is None:
            return (StreamChunk(usage=usage, model=self.model, raw=payload),) if usage else ()
        delta = choice.delta
        calls = tuple(self._delta(call) for call in delta.tool_calls or ())
        finish = self.protocol.finish_reason(choice.finish_reason)
        thinking = delta.thinking
        if not (delta.content or thinking or delta.refusal or calls or finish or usage):
            return ()  # role-only or empty delta (xAI sends many while it reasons)
        return (StreamChunk(
            delta=delta.content or "", reasoning=thinking or "",
            refusal=delta.refusal or "", tool_calls=calls, finish_reason=finish, usage=usage,
            model=self.model, raw=payload,
        ),)

    def _text_only(self, payload: Any) -> tuple[StreamChunk] | None:
        """The chunk of the most common event, a piece of content and nothing else, read
        directly; None for any other event (it takes the general path below)."""
        try:
            (choice,) = payload["choices"]
            delta = choice["delta"]
            content = delta["content"]
            model = payload.get("model")
        except (KeyError, TypeError, ValueError):
            return None
        if (type(content) is not str or not content or choice.get("finish_reason") is not None
                or type(choice) is not dict or choice.get("index", 0) != 0
                or type(choice.get("index", 0)) is not int
                or len(delta) > 2 or not _TEXT_ONLY.issuperset(delta)
                or type(payload) is not dict or "error" in payload
                or payload.get("usage") is not None  # with include_usage, every chunk: null
                or not (model is None or type(model) is str)):
            return None
        if model:
            self.model = model
        return (StreamChunk(delta=content, model=self.model, raw=payload),)

    def _delta(self, call: ToolCallBody) -> ToolCallDelta:
        index = call.index
        if index is None:
            # Some compatible servers leave out the index: a new id is a new call, and a
            # fragment without an id continues the call before it.
            if call.id is not None:
                index = self._call_ids.setdefault(call.id, len(self._call_ids))
            else:
                index = self._last_index
        elif call.id is not None:
            self._call_ids.setdefault(call.id, index)
        self._last_index = index
        function = call.function
        return ToolCallDelta(
            index=index, id=call.id, name=function.name if function else None,
            arguments=(function.arguments or "") if function else "",
        )

    def end(self) -> Iterable[StreamChunk]:
        if not self.done:
            provider = self.protocol.provider
            raise StreamInterruptedError(
                f"{provider}: the stream ended before its [DONE] marker, so the reply may be "
                f"incomplete; what arrived is in .partial",
                provider=provider,
            )
        return ()
