"""xAI's model listing with prices (``GET /v1/language-models``), read with cattrs.

Prices are integers in US cents per 100 million tokens (30000 = $3.00 per million).
Newer listings add ``context_length`` and long-context prices; all of those are optional.
"""

# No `from __future__ import annotations` here: cattrs reads these annotations at runtime.

from attrs import Factory, define

__all__ = ["LanguageModel", "LanguageModelList"]


@define
class LanguageModel:
    id: str
    created: int | None = None
    owned_by: str | None = None
    aliases: list[str] = Factory(list)
    input_modalities: list[str] | None = None
    output_modalities: list[str] | None = None
    prompt_text_token_price: int | None = None
    cached_prompt_text_token_price: int | None = None
    completion_text_token_price: int | None = None
    context_length: int | None = None
    long_context_threshold: int | None = None
    prompt_text_token_price_long_context: int | None = None
    cached_prompt_text_token_price_long_context: int | None = None
    completion_text_token_price_long_context: int | None = None


@define
class LanguageModelList:
    """``{"models": [...]}``; some listings use ``data`` instead."""

    models: list[LanguageModel] | None = None
    data: list[LanguageModel] | None = None
