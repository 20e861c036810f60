"""Decoding Ollama's NDJSON stream: one reply object per line, the last with ``done: true``.

If the model fails after output has started the server keeps status 200 and writes a line
``{"error": "..."}``; that raises StreamInterruptedError here, and the core attaches the
text received so far as ``partial``. A body that ends without the ``done: true`` line is
interrupted too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from jtd_ai.errors import StreamInterruptedError
from jtd_ai.protocol import StreamDecoder, StreamEvent
from jtd_ai.responses import StreamChunk, ToolCallDelta
from jtd_ai_ollama.reply import finish_reason, read, translate

__all__ = ["OllamaStreamDecoder"]


class OllamaStreamDecoder(StreamDecoder):
    """One stream's decoder: counts tool calls across lines and waits for ``done``."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.calls = 0
        self.done = False

    def feed(self, event: StreamEvent) -> Iterable[StreamChunk]:
        data = event.json(provider=self.provider)
        if isinstance(data, Mapping) and data.get("error") is not None:
            raise StreamInterruptedError(
                f"{self.provider}: the server reported an error in the middle of the stream: "
                f"{data['error']}; what arrived before it is in .partial",
                provider=self.provider, body=event.data,
            )
        piece = translate(read(data, self.provider), call_offset=self.calls)
        first = self.calls
        self.calls += len(piece.calls)
        finish = None
        if piece.done:
            self.done = True
            finish = finish_reason(piece.done_reason, self.calls > 0)
        deltas = [ToolCallDelta(first + i, id=c.id, name=c.name, arguments=c.arguments)
                  for i, c in enumerate(piece.calls)]
        return (StreamChunk(delta=piece.text, reasoning=piece.reasoning, tool_calls=deltas,
                            finish_reason=finish, usage=piece.usage, model=piece.model,
                            raw=data),)

    def end(self) -> Iterable[StreamChunk]:
        if not self.done:
            raise StreamInterruptedError(
                f"{self.provider}: the stream ended before its final 'done: true' line, so "
                f"the reply may be cut short; what arrived is in .partial",
                provider=self.provider,
            )
        return ()
