"""What a provider says about a model: kind, limits, capabilities and price."""

from __future__ import annotations

import datetime as dt
import enum

from attrs import frozen

from jtd_ai.pricing import Pricing

__all__ = ["Capabilities", "ModelInfo", "ModelKind"]


class ModelKind(enum.StrEnum):
    CHAT = "chat"
    EMBEDDING = "embedding"
    IMAGE = "image"
    AUDIO = "audio"
    OTHER = "other"
    UNKNOWN = "unknown"


@frozen
class Capabilities:
    """What a model or driver can do. ``None`` means unknown, never a guess."""

    streaming: bool | None = None
    tools: bool | None = None
    vision: bool | None = None
    json_mode: bool | None = None
    structured_output: bool | None = None
    reasoning: bool | None = None
    system_prompt: bool | None = None

    def declared(self) -> dict[str, bool | None]:
        """Each capability by name, as declared."""
        from attrs import asdict

        return asdict(self)


@frozen
class ModelInfo:
    """One model of one provider. Unknown fields stay ``None``."""

    id: str
    provider: str
    kind: ModelKind = ModelKind.UNKNOWN
    display_name: str | None = None
    context_length: int | None = None
    max_output_tokens: int | None = None
    capabilities: Capabilities = Capabilities()
    pricing: Pricing | None = None
    created: dt.datetime | None = None
    owned_by: str | None = None
