"""Gemini's model listing (``GET models``, paginated by ``pageToken``) as our ModelInfo.

Only models that support ``generateContent`` are chat models (streaming is offered with it;
``streamGenerateContent`` is never listed). ``inputTokenLimit`` is the context length,
``outputTokenLimit`` the longest reply, and ``thinking: true`` marks a reasoning model.
"""

from __future__ import annotations

from collections.abc import Callable

from jtd_ai.convert import structure_wire
from jtd_ai.modelinfo import Capabilities, ModelInfo, ModelKind
from jtd_ai.pricing import Pricing
from jtd_ai_gemini.wire import Model

__all__ = ["model_id", "model_info"]

_EMBEDDING = frozenset({"embedContent", "batchEmbedContents", "asyncBatchEmbedContent",
                        "embedText", "batchEmbedText"})


def model_id(name: str) -> str:
    """``models/gemini-2.5-flash`` -> ``gemini-2.5-flash``."""
    return name.removeprefix("models/")


def model_info(model: Model, provider: str,
               pricing: Callable[[str], Pricing | None]) -> ModelInfo:
    """Our ModelInfo for one listed Gemini model."""
    ident = model_id(model.name)
    methods = set(model.supportedGenerationMethods)
    chat = "generateContent" in methods
    if chat:
        kind = ModelKind.CHAT
    elif methods & _EMBEDDING:
        kind = ModelKind.EMBEDDING
    else:
        kind = ModelKind.OTHER if methods else ModelKind.UNKNOWN
    capabilities = Capabilities(
        streaming=chat if methods else None,
        reasoning=True if model.thinking else None,
    )
    return ModelInfo(
        id=ident, provider=provider, kind=kind, display_name=model.displayName,
        context_length=model.inputTokenLimit, max_output_tokens=model.outputTokenLimit,
        capabilities=capabilities, pricing=pricing(ident) if chat else None,
        owned_by="google",
    )


def read_model(data: object, provider: str) -> Model:
    """One ``Model`` object (``GET models/{model}``)."""
    return structure_wire(data, Model, provider=provider)
