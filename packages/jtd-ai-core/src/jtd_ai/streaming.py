"""Assembling a final Response from stream chunks, once, for every driver."""

from __future__ import annotations

from typing import Any

from jtd_ai.messages import ToolCall
from jtd_ai.responses import FinishReason, RateLimitInfo, Response, StreamChunk, TokenUsage

__all__ = ["StreamAccumulator"]


class StreamAccumulator:
    """Collects chunks; :meth:`response` is what the non-streamed call would have returned."""

    def __init__(self, provider: str, model: str, *, keep_raw: bool = True) -> None:
        self.provider = provider
        self.model: str | None = None
        self._fallback_model = model
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._refusal: list[str] = []
        self._calls: dict[int, list[Any]] = {}
        self.finish_reason: FinishReason | None = None
        self.usage: TokenUsage | None = None
        self.request_id: str | None = None
        self.rate_limit: RateLimitInfo | None = None
        self.chunks = 0
        self.raw: list[Any] = []
        self._keep_raw = keep_raw

    def add(self, chunk: StreamChunk) -> None:
        self.chunks += 1
        if chunk.delta:
            self._text.append(chunk.delta)
        if chunk.reasoning:
            self._reasoning.append(chunk.reasoning)
        if chunk.refusal:
            self._refusal.append(chunk.refusal)
        for part in chunk.tool_calls:
            slot = self._calls.setdefault(part.index, [None, None, [], {}])
            if part.id:
                slot[0] = part.id
            if part.name:
                slot[1] = part.name
            if part.arguments:
                slot[2].append(part.arguments)
            if part.metadata:
                slot[3].update(part.metadata)
        if chunk.finish_reason is not None:
            self.finish_reason = chunk.finish_reason
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.model and self.model is None:
            self.model = chunk.model
        if chunk.request_id and self.request_id is None:
            self.request_id = chunk.request_id
        if chunk.raw is not None and self._keep_raw:
            self.raw.append(chunk.raw)

    @property
    def text(self) -> str:
        return "".join(self._text)

    def response(self, *, request_id: str | None = None) -> Response:
        calls = tuple(
            ToolCall(id=slot[0] or f"call_{index}", name=slot[1] or "", arguments="".join(slot[2]),
                     metadata=slot[3])
            for index, slot in sorted(self._calls.items())
        )
        return Response(
            content=self.text,
            model=self.model or self._fallback_model,
            provider=self.provider,
            finish_reason=self.finish_reason,
            usage=self.usage,
            tool_calls=calls,
            request_id=self.request_id or request_id,
            refusal="".join(self._refusal) or None,
            reasoning="".join(self._reasoning) or None,
            rate_limit=self.rate_limit,
            raw=self.raw if self._keep_raw else None,
        )
