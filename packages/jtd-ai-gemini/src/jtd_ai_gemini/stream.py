"""Decoding ``streamGenerateContent?alt=sse``: each SSE event is a whole
``GenerateContentResponse`` holding only the new parts, with running usage totals.

Gemini sends no end marker: the reply is complete when a chunk carries a ``finishReason``.
A body that ends before one came is a StreamInterruptedError (the core attaches what
arrived). A blocked prompt or a filtered reply raises ContentFilteredError; an ``error``
object inside the stream raises the typed error it describes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from jtd_ai.errors import StreamInterruptedError
from jtd_ai.protocol import StreamDecoder, StreamEvent
from jtd_ai.responses import StreamChunk, ToolCallDelta
from jtd_ai_gemini.errors import error_from_payload
from jtd_ai_gemini.reply import blocked_prompt, filtered, finish_reason, read, translate

if TYPE_CHECKING:
    from jtd_ai.protocol import ChatProtocol

__all__ = ["GeminiStreamDecoder"]


class GeminiStreamDecoder(StreamDecoder):
    """One stream's decoder: counts tool calls across chunks and watches for the finish."""

    def __init__(self, protocol: ChatProtocol) -> None:
        self.protocol = protocol
        self.provider = protocol.provider
        self.calls = 0
        self.finished = False

    def feed(self, event: StreamEvent) -> Iterable[StreamChunk]:
        data = event.json(provider=self.provider)
        if isinstance(data, Mapping) and isinstance(data.get("error"), Mapping):
            error = data["error"]
            status = error.get("code") if isinstance(error.get("code"), int) else 500
            raise error_from_payload(self.protocol, error, status, {}, event.data)
        reply = read(data, self.provider)
        blocked = blocked_prompt(reply, self.provider, event.data)
        if blocked is not None:
            raise blocked
        turn = translate(reply, call_offset=self.calls)
        first = self.calls
        self.calls += len(turn.calls)
        finish = None
        if turn.finish is not None:
            self.finished = True
            stopped = filtered(turn, self.provider, None, event.data)
            if stopped is not None:
                raise stopped
            finish = finish_reason(turn.finish, self.calls > 0)
        deltas = [ToolCallDelta(first + i, id=c.id, name=c.name, arguments=c.arguments,
                                metadata=c.metadata)
                  for i, c in enumerate(turn.calls)]
        return (StreamChunk(delta=turn.text, reasoning=turn.reasoning, tool_calls=deltas,
                            finish_reason=finish, usage=turn.usage, model=turn.model,
                            request_id=turn.response_id, raw=data),)

    def end(self) -> Iterable[StreamChunk]:
        if not self.finished:
            raise StreamInterruptedError(
                f"{self.provider}: the stream ended before a chunk with a finishReason, so the "
                f"reply may be cut short; what arrived is in .partial", provider=self.provider,
            )
        return ()
