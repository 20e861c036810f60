"""xAI: the OpenAI Chat Completions adapter with only xAI's differences written down.

- ``completion_tokens`` leaves reasoning tokens out (``total_tokens`` adds them), so our
  output count adds them back (:attr:`completion_includes_reasoning` is False).
- Thinking text arrives as ``reasoning_content`` (read by the base adapter).
- Errors are ``{"code": "<gRPC status text>", "error": "<message>"}``; a wrong key is a
  400, and a 429 may mean the team is out of credits (not worth retrying).
- Models come from ``GET /language-models`` with prices, which then price the calls.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from jtd_ai.convert import structure_wire
from jtd_ai.errors import ProviderError, QuotaExceededError, ValidationError
from jtd_ai.modelinfo import ModelInfo, ModelKind
from jtd_ai.pricing import PriceTier, Pricing
from jtd_ai.protocol import ModelPage
from jtd_ai.wire import HttpResponse
from jtd_ai_openai.catalog import ModelTable, PriceTable
from jtd_ai_openai.errors import ErrorFields
from jtd_ai_openai.protocol import OpenAIProtocol
from jtd_ai_openai.strict import self_reference
from jtd_ai_xai.tables import XAI_MODELS, XAI_PRICES
from jtd_ai_xai.wire import LanguageModel, LanguageModelList

if TYPE_CHECKING:
    from jtd_ai.config import ProviderConfig
    from jtd_ai.request import ChatRequest

__all__ = ["XAIProtocol"]

#: xAI prices are US cents per 100 million tokens; this turns them into dollars per million.
_PRICE_UNIT = Decimal(10_000)
_LISTING_SOURCE = "xai /language-models"


class XAIProtocol(OpenAIProtocol):
    """xAI's chat, errors and priced model listing."""

    name: ClassVar[str] = "xai"
    models_path: ClassVar[str] = "/language-models"
    model_table: ClassVar[ModelTable | None] = XAI_MODELS
    price_table: ClassVar[PriceTable | None] = XAI_PRICES
    completion_includes_reasoning: ClassVar[bool] = False

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        #: Prices read from the last model listing, by model id and alias.
        self.listed_prices: dict[str, Pricing] = {}

    # -- requests ---------------------------------------------------------------------------

    def wire_response_format(self, request: ChatRequest) -> dict[str, Any] | None:
        """OpenAI's form; a schema that refers to itself is refused before sending, as xAI's
        structured outputs take non-circular ``$ref`` only."""
        fmt = request.response_format
        loop = self_reference(fmt.schema) if fmt is not None and fmt.schema else None
        if loop is not None:
            raise ValidationError(
                f"{self.provider} (xAI) cannot take a response schema that refers to itself "
                f"(the definition {loop!r}): xAI supports non-circular $ref only; use a type "
                f"that does not contain itself", field="response_format.schema")
        return super().wire_response_format(request)

    # -- errors -----------------------------------------------------------------------------

    def classify_error(self, response: HttpResponse, fields: ErrorFields) -> ProviderError:
        text = fields.message.lower()
        if response.status == 400 and "api key" in text:
            context = self.error_context(fields, status=400, headers=response.headers,
                                         body=response.content)
            return self.credentials_error(fields.message, context)
        if response.status == 429 and ("credits" in text or "spending limit" in text):
            context = self.error_context(fields, status=429, headers=response.headers,
                                         body=response.content)
            return QuotaExceededError(
                f"{self.provider}: the team is out of credits or at its spending limit: "
                f"{fields.message} Add credits or raise the limit; retrying will not help",
                **context)
        return super().classify_error(response, fields)

    # -- models and prices ------------------------------------------------------------------

    def parse_models(self, response: HttpResponse) -> ModelPage:
        listing = structure_wire(response.json(provider=self.provider), LanguageModelList,
                                 provider=self.provider, what="$language_models")
        entries = listing.models if listing.models is not None else listing.data or []
        as_of = _date_of(response)
        models = []
        for entry in entries:
            price = _listed_pricing(entry, as_of)
            if price is not None:
                for key in (entry.id, *entry.aliases):
                    self.listed_prices[key] = price
            models.append(self._listed_model(entry))
        return ModelPage(models)

    def _listed_model(self, entry: LanguageModel) -> ModelInfo:
        info = self.model_info(entry.id, created=entry.created, owned_by=entry.owned_by)
        changes: dict[str, Any] = {}
        if entry.context_length is not None:
            changes["context_length"] = entry.context_length
        if entry.output_modalities is not None:
            changes["kind"] = _kind(entry.output_modalities)
        if entry.input_modalities is not None:
            changes["capabilities"] = attrs.evolve(
                info.capabilities, vision="image" in entry.input_modalities)
        return attrs.evolve(info, **changes) if changes else info

    def pricing(self, model: str) -> Pricing | None:
        """The listing's price once models were listed, else the dated table's."""
        listed = self.listed_prices.get(model)
        return listed if listed is not None else super().pricing(model)


def _dollars(value: int | None) -> Decimal | None:
    return None if value is None else Decimal(value) / _PRICE_UNIT


def _listed_pricing(entry: LanguageModel, as_of: dt.date | None) -> Pricing | None:
    input_price = _dollars(entry.prompt_text_token_price)
    output_price = _dollars(entry.completion_text_token_price)
    if input_price is None or output_price is None:
        return None
    tiers = []
    long_input = _dollars(entry.prompt_text_token_price_long_context)
    long_output = _dollars(entry.completion_text_token_price_long_context)
    if entry.long_context_threshold and long_input is not None and long_output is not None:
        # xAI's threshold is the first token count the long prices apply to.
        tiers.append(PriceTier(
            above_input_tokens=entry.long_context_threshold - 1, input=long_input,
            output=long_output,
            cached_input=_dollars(entry.cached_prompt_text_token_price_long_context),
        ))
    return Pricing(input=input_price, output=output_price,
                   cached_input=_dollars(entry.cached_prompt_text_token_price), tiers=tiers,
                   source=_LISTING_SOURCE, as_of=as_of)


def _kind(output_modalities: list[str]) -> ModelKind:
    if "text" in output_modalities:
        return ModelKind.CHAT
    if "image" in output_modalities:
        return ModelKind.IMAGE
    return ModelKind.UNKNOWN


def _date_of(response: HttpResponse) -> dt.date | None:
    """The day the listing was served (its Date header), which dates its prices."""
    value = response.headers.get("date")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).date()
    except (TypeError, ValueError):
        return None
