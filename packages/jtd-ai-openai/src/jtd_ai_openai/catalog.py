"""Dated tables of model facts and prices, and how a model id is looked up in them.

A lookup tries the id as given, then its alias, then the id without a dated snapshot
suffix (``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``). Nothing else is guessed: an id not
found stays unknown (None), so a new model still lists without invented facts.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal

from attrs import field, frozen

from jtd_ai.modelinfo import Capabilities, ModelKind
from jtd_ai.pricing import PriceTier, Pricing

__all__ = ["ModelFacts", "ModelTable", "PriceTable", "base_model_id"]

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def base_model_id(model: str) -> str:
    """``model`` without a trailing dated snapshot suffix (``-YYYY-MM-DD``)."""
    return _SNAPSHOT.sub("", model)


def _resolve(model: str, keys: Mapping[str, object], aliases: Mapping[str, str]) -> str | None:
    for candidate in (model, aliases.get(model), base_model_id(model)):
        if candidate is not None and candidate in keys:
            return candidate
    base = base_model_id(model)
    alias = aliases.get(base)
    return alias if alias is not None and alias in keys else None


@frozen
class ModelFacts:
    """What is known of one model; None where the source does not say."""

    kind: ModelKind = ModelKind.CHAT
    context_length: int | None = None
    max_output_tokens: int | None = None
    capabilities: Capabilities = field(factory=Capabilities)


@frozen
class ModelTable:
    """Model facts from ``source`` as of ``as_of``; ``aliases`` maps other ids to table ids."""

    source: str
    as_of: dt.date
    models: Mapping[str, ModelFacts]
    aliases: Mapping[str, str] = field(factory=dict)

    def get(self, model: str) -> ModelFacts | None:
        key = _resolve(model, self.models, self.aliases)
        return self.models[key] if key is not None else None


PriceRow = tuple[str, str | None, str]


@frozen
class PriceTable:
    """Prices per million tokens (input, cached input, output) from ``source`` as of ``as_of``."""

    source: str
    as_of: dt.date
    rows: Mapping[str, PriceRow]
    aliases: Mapping[str, str] = field(factory=dict)
    #: Long-prompt prices by model: (above this many input tokens, input, cached, output).
    tiers: Mapping[str, tuple[int, str, str | None, str]] = field(factory=dict)
    #: Prices built so far, by model name (Pricing values are immutable, so shared).
    _built: dict[str, Pricing | None] = field(factory=dict, init=False, repr=False, eq=False)

    def get(self, model: str) -> Pricing | None:
        try:
            return self._built[model]
        except KeyError:
            pass
        pricing = self._build(model)
        if len(self._built) < 4096:  # model names come from replies; keep the memo bounded
            self._built[model] = pricing
        return pricing

    def _build(self, model: str) -> Pricing | None:
        key = _resolve(model, self.rows, self.aliases)
        if key is None:
            return None
        input_price, cached, output = self.rows[key]
        tier = self.tiers.get(key)
        tiers = () if tier is None else (
            PriceTier(above_input_tokens=tier[0], input=Decimal(tier[1]),
                      cached_input=None if tier[2] is None else Decimal(tier[2]),
                      output=Decimal(tier[3])),
        )
        return Pricing(
            input=Decimal(input_price), output=Decimal(output),
            cached_input=None if cached is None else Decimal(cached), tiers=tiers,
            source=self.source, as_of=self.as_of,
        )

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and _resolve(model, self.rows, self.aliases) is not None
