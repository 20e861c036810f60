"""Gemini's reply payloads as attrs classes, named exactly as on the wire (lowerCamelCase).

They are read with :func:`jtd_ai.convert.structure_wire`: unknown fields are ignored and a
missing required field raises MalformedResponseError naming it. Only what the driver reads
is declared.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen

__all__ = [
    "Candidate",
    "Content",
    "CountTokensResponse",
    "FunctionCall",
    "GenerateContentResponse",
    "ListModelsResponse",
    "Model",
    "Part",
    "PromptFeedback",
    "SafetyRating",
    "UsageMetadata",
]


@frozen
class FunctionCall:
    name: str
    args: dict[str, Any] | None = None
    id: str | None = None


@frozen
class Part:
    """One part of a turn; the driver reads text (and thoughts) and function calls."""

    text: str | None = None
    thought: bool = False
    thoughtSignature: str | None = None
    functionCall: FunctionCall | None = None


@frozen
class Content:
    parts: tuple[Part, ...] = ()
    role: str | None = None


@frozen
class SafetyRating:
    category: str = ""
    probability: str = ""
    blocked: bool = False


@frozen
class Candidate:
    content: Content = Content()
    finishReason: str | None = None
    finishMessage: str | None = None
    safetyRatings: tuple[SafetyRating, ...] = ()
    index: int = 0


@frozen
class PromptFeedback:
    blockReason: str | None = None
    blockReasonMessage: str | None = None
    safetyRatings: tuple[SafetyRating, ...] = ()


@frozen
class UsageMetadata:
    """Token counts; in a stream they are running totals, so the last chunk's win."""

    promptTokenCount: int = 0
    candidatesTokenCount: int = 0
    thoughtsTokenCount: int = 0
    cachedContentTokenCount: int = 0
    toolUsePromptTokenCount: int = 0
    totalTokenCount: int = 0


@frozen
class GenerateContentResponse:
    """A whole reply, or one chunk of a stream (each chunk has this shape)."""

    candidates: tuple[Candidate, ...] = ()
    promptFeedback: PromptFeedback | None = None
    usageMetadata: UsageMetadata | None = None
    modelVersion: str | None = None
    responseId: str | None = None


@frozen
class Model:
    name: str
    displayName: str | None = None
    description: str | None = None
    version: str | None = None
    inputTokenLimit: int | None = None
    outputTokenLimit: int | None = None
    supportedGenerationMethods: tuple[str, ...] = ()
    thinking: bool | None = None


@frozen
class ListModelsResponse:
    models: tuple[Model, ...] = ()
    nextPageToken: str | None = None


@frozen
class CountTokensResponse:
    totalTokens: int = 0
    cachedContentTokenCount: int = 0
