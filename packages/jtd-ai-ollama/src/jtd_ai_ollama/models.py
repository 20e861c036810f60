"""Ollama's model endpoints as our ModelInfo: ``/api/tags`` (installed models, one cheap
call), ``/api/show`` (one model's capabilities and context length) and ``/api/ps`` (loaded
models with the context length they run with).

``/api/tags`` says little: newer servers may list ``capabilities``, older ones do not, and
the context length is rarely there; whatever is missing stays None (unknown). ``/api/show``
fills it in: its ``capabilities`` list (``completion``, ``tools``, ``vision``,
``thinking``, ``embedding``...) is authoritative, and the context length is
``model_info["<architecture>.context_length"]``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from jtd_ai.modelinfo import Capabilities, ModelInfo, ModelKind
from jtd_ai.pricing import Pricing
from jtd_ai_ollama.wire import RunningModel, ShowResponse, TagModel

__all__ = ["from_capabilities", "merge_details", "running_info", "show_info", "tag_info"]

PriceOf = Callable[[str], Pricing | None]


def tag_info(model: TagModel, provider: str, pricing: PriceOf) -> ModelInfo:
    """ModelInfo for one ``/api/tags`` entry."""
    kind, capabilities = from_capabilities(model.capabilities)
    return ModelInfo(
        id=model.name, provider=provider, kind=kind, display_name=None,
        context_length=model.details.context_length if model.details else None,
        capabilities=capabilities, pricing=pricing(model.name),
        created=_timestamp(model.modified_at), owned_by=_namespace(model.name),
    )


def show_info(model: str, show: ShowResponse, provider: str, pricing: PriceOf) -> ModelInfo:
    """ModelInfo for ``model`` from its ``/api/show`` reply."""
    kind, capabilities = from_capabilities(show.capabilities)
    context = _context_length(show.model_info or {})
    if context is None and show.details is not None:
        context = show.details.context_length
    return ModelInfo(
        id=model, provider=provider, kind=kind, context_length=context,
        capabilities=capabilities, pricing=pricing(model),
        created=_timestamp(show.modified_at), owned_by=_namespace(model),
    )


def running_info(model: RunningModel, provider: str, pricing: PriceOf) -> ModelInfo:
    """ModelInfo for one loaded model (``/api/ps``): its context length is the ``num_ctx``
    it was loaded with, not the model's maximum."""
    return ModelInfo(
        id=model.name, provider=provider, context_length=model.context_length,
        pricing=pricing(model.name), owned_by=_namespace(model.name),
    )


def merge_details(listed: ModelInfo, detail: ModelInfo) -> ModelInfo:
    """``listed`` (from tags) completed with what ``detail`` (from show) knows."""
    changes: dict[str, Any] = {}
    if detail.kind is not ModelKind.UNKNOWN:
        changes["kind"] = detail.kind
    if detail.context_length is not None:
        changes["context_length"] = detail.context_length
    if detail.capabilities != Capabilities():
        changes["capabilities"] = detail.capabilities
    return attrs.evolve(listed, **changes)


def from_capabilities(names: Iterable[str] | None) -> tuple[ModelKind, Capabilities]:
    """Kind and capabilities from Ollama's list; all unknown when there is no list."""
    if names is None:
        return ModelKind.UNKNOWN, Capabilities()
    have = set(names)
    chat = "completion" in have
    if chat:
        kind = ModelKind.CHAT
    elif "embedding" in have:
        kind = ModelKind.EMBEDDING
    else:
        kind = ModelKind.OTHER
    return kind, Capabilities(
        streaming=chat, tools="tools" in have, vision="vision" in have, json_mode=chat,
        structured_output=chat, reasoning="thinking" in have,
    )


def _context_length(info: Mapping[str, Any]) -> int | None:
    architecture = info.get("general.architecture")
    value = info.get(f"{architecture}.context_length") if architecture else None
    if value is None:
        value = next((v for k, v in info.items() if k.endswith(".context_length")), None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _timestamp(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def _namespace(name: str) -> str:
    """``user/model:tag`` -> ``user``; library models -> ``library`` (as Ollama says)."""
    base = name.split(":", 1)[0]
    return base.rsplit("/", 1)[0].rsplit("/", 1)[-1] if "/" in base else "library"
