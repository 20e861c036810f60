"""What one ``GenerateContentResponse`` means in our terms, for whole replies and chunks alike.

A whole reply and a stream chunk have the same shape, so both go through :func:`translate`;
that is what makes a streamed reply and a non-streamed one agree. Text parts make the
content, ``thought: true`` parts the reasoning, ``functionCall`` parts the tool calls (their
``args`` object becomes the JSON text of ``ToolCall.arguments``, a ``thoughtSignature``
its ``metadata``). Token usage follows our
rules: input includes cached and tool-use prompt tokens, output includes thinking tokens.
"""

from __future__ import annotations

import json
from typing import Any

from attrs import frozen

from jtd_ai.convert import structure_wire
from jtd_ai.errors import ContentFilteredError
from jtd_ai.messages import ToolCall
from jtd_ai.responses import FinishReason, Response, TokenUsage
from jtd_ai_gemini.callids import SIGNATURE, make_call_id
from jtd_ai_gemini.wire import (
    Candidate,
    GenerateContentResponse,
    PromptFeedback,
    SafetyRating,
    UsageMetadata,
)

__all__ = ["FILTERED", "Turn", "blocked_prompt", "filtered", "finish_reason", "read",
           "translate", "usage_of"]

#: Finish reasons that mean a safety or policy filter stopped the reply (the
#: ``FinishReason`` enum of the Gemini API reference; ``MODEL_ARMOR`` is Vertex's, sent by
#: Model Armor templates). Each is a ContentFilteredError, never a quiet empty reply.
FILTERED = frozenset({
    "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR",
})
_ERRORS = frozenset({"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS"})
_PROBABILITY = {"NEGLIGIBLE": 1, "LOW": 2, "MEDIUM": 3, "HIGH": 4}


@frozen
class Turn:
    """The first candidate of one reply or chunk, translated."""

    text: str
    reasoning: str
    calls: tuple[ToolCall, ...]
    finish: str | None
    usage: TokenUsage | None
    model: str | None
    response_id: str | None
    candidate: Candidate | None


def read(data: Any, provider: str) -> GenerateContentResponse:
    """A decoded reply body as typed wire data (MalformedResponseError if it is not one)."""
    return structure_wire(data, GenerateContentResponse, provider=provider)


def translate(reply: GenerateContentResponse, *, call_offset: int = 0) -> Turn:
    """Our view of ``reply``; tool calls are numbered from ``call_offset`` (a stream's count
    so far), which keeps the synthetic ids of a stream and of a whole reply the same."""
    candidate = _first(reply.candidates)
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    if candidate is not None:
        for part in candidate.content.parts:
            if part.functionCall is not None:
                call = part.functionCall
                arguments = json.dumps(call.args or {}, ensure_ascii=False)
                index = call_offset + len(calls)
                call_id = make_call_id(index=index, name=call.name, arguments=arguments,
                                       given=call.id)
                metadata = ({SIGNATURE: part.thoughtSignature} if part.thoughtSignature
                            else {})
                calls.append(ToolCall(id=call_id, name=call.name, arguments=arguments,
                                      metadata=metadata))
            elif part.text:
                (reasoning if part.thought else text).append(part.text)
    return Turn(
        text="".join(text), reasoning="".join(reasoning), calls=tuple(calls),
        finish=candidate.finishReason if candidate is not None else None,
        usage=usage_of(reply.usageMetadata), model=reply.modelVersion,
        response_id=reply.responseId, candidate=candidate,
    )


def usage_of(meta: UsageMetadata | None) -> TokenUsage | None:
    """TokenUsage from ``usageMetadata``: thoughts count as output and as reasoning."""
    if meta is None:
        return None
    return TokenUsage(
        input_tokens=meta.promptTokenCount + meta.toolUsePromptTokenCount,
        output_tokens=meta.candidatesTokenCount + meta.thoughtsTokenCount,
        cached_input_tokens=meta.cachedContentTokenCount,
        reasoning_tokens=meta.thoughtsTokenCount,
    )


def finish_reason(raw: str | None, has_calls: bool) -> FinishReason | None:
    """Gemini's ``finishReason`` in our vocabulary; a function call ends with STOP there."""
    if raw is None:
        return None
    if raw == "STOP":
        return FinishReason.TOOL_CALLS if has_calls else FinishReason.STOP
    if raw == "MAX_TOKENS":
        return FinishReason.LENGTH
    if raw in FILTERED:
        return FinishReason.CONTENT_FILTER
    if raw in _ERRORS:
        return FinishReason.ERROR
    return FinishReason.OTHER


def blocked_prompt(reply: GenerateContentResponse, provider: str,
                   body: bytes | str | None = None) -> ContentFilteredError | None:
    """The error for a prompt Gemini refused (``promptFeedback.blockReason``), if it did."""
    feedback: PromptFeedback | None = reply.promptFeedback
    if feedback is None or not feedback.blockReason:
        return None
    category = _category(feedback.safetyRatings) or feedback.blockReason
    detail = f": {feedback.blockReasonMessage}" if feedback.blockReasonMessage else ""
    return ContentFilteredError(
        f"{provider} blocked the prompt (blockReason {feedback.blockReason}, category "
        f"{category}){detail}. Rephrase it, or relax safetySettings if that is appropriate",
        category=category, provider=provider, code=feedback.blockReason, body=body,
        finish_message=feedback.blockReasonMessage,
    )


def filtered(turn: Turn, provider: str, partial: Response | None,
             body: bytes | str | None = None) -> ContentFilteredError | None:
    """The error for a reply a filter stopped (finishReason SAFETY, RECITATION, ...)."""
    if turn.finish not in FILTERED or turn.candidate is None:
        return None
    category = _category(turn.candidate.safetyRatings) or turn.finish
    said = turn.candidate.finishMessage
    detail = f": {said}" if said else ""
    return ContentFilteredError(
        f"{provider} stopped the reply (finishReason {turn.finish}, category {category})"
        f"{detail}; anything generated before that is in .partial", category=category,
        provider=provider, code=turn.finish, body=body, partial=partial, finish_message=said,
    )


def _first(candidates: tuple[Candidate, ...]) -> Candidate | None:
    for candidate in candidates:
        if candidate.index == 0:
            return candidate
    return candidates[0] if candidates else None


def _category(ratings: tuple[SafetyRating, ...]) -> str | None:
    """The harm category that blocked: the one marked blocked, else the most probable."""
    for rating in ratings:
        if rating.blocked and rating.category:
            return rating.category
    ranked = sorted((r for r in ratings if r.category),
                    key=lambda r: _PROBABILITY.get(r.probability, 0), reverse=True)
    if ranked and _PROBABILITY.get(ranked[0].probability, 0) >= _PROBABILITY["MEDIUM"]:
        return ranked[0].category
    return None
