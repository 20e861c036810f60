"""Dated tables of model facts and prices, and how a model id is looked up in them: the
public API a subclass of :class:`~jtd_ai_openai.protocol.OpenAIProtocol` sets as its
``price_table`` and ``model_table`` class attributes::

    ACME_PRICES = PriceTable(
        source="acme.example/pricing", as_of=dt.date(2026, 1, 5),
        rows={
            "acme-1": ("0.50", "0.05", "1.50"),          # input, cached input, output
            "acme-2": Price(input="1.00", output="4.00", cached_input="0.10",
                            cache_write="1.25"),         # any column by name
        },
        aliases={"acme-latest": "acme-2"},
    )

Prices are US dollars per million tokens, written as strings: a float in a table is a
TypeError when the table is built (``0.15`` as a float is not 0.15). ``table.get(model)`` is
the model's :class:`~jtd_ai.pricing.Pricing` (or None), ``model in table`` says whether it
is known. A lookup tries the id as given, then its alias, then the id without a dated
snapshot suffix (``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``). Nothing else is guessed:
an id not found stays unknown (None), so a new model still lists without invented facts.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal

from attrs import field, frozen

from jtd_ai.modelinfo import Capabilities, ModelKind
from jtd_ai.pricing import PriceTier, Pricing

__all__ = ["ModelFacts", "ModelTable", "Price", "PriceRow", "PriceTable", "base_model_id"]

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


#: The short form of a row: (input, cached input or None, output).
PriceRow = tuple[str, str | None, str]


@frozen
class Price:
    """One model's prices in US dollars per million tokens, as strings (``"0.15"``), for a
    row that needs more than the short form: a cache-write or a reasoning price. A column
    left None is billed at the input (cached input, cache write) or output (reasoning)
    price."""

    input: str
    output: str
    cached_input: str | None = None
    cache_write: str | None = None
    reasoning: str | None = None


def _exact(where: str, value: object, *, optional: bool = False) -> None:
    """A price must be a decimal string; a float (binary, inexact) is refused by name."""
    if value is None and optional:
        return
    if isinstance(value, float):
        raise TypeError(f"{where} is a float ({value!r}); write prices as strings "
                        f"('{value!r}') so no binary rounding reaches the bill")
    if not isinstance(value, str):
        raise TypeError(f"{where} must be a decimal string such as '0.15', not "
                        f"{type(value).__name__}")
    try:
        Decimal(value)
    except ArithmeticError:
        raise TypeError(f"{where} is not a decimal number: {value!r}") from None


@frozen
class PriceTable:
    """Prices per million tokens from ``source`` as of ``as_of``: each row a
    :data:`PriceRow` (input, cached input, output) or a :class:`Price`."""

    source: str
    as_of: dt.date
    rows: Mapping[str, PriceRow | Price]
    aliases: Mapping[str, str] = field(factory=dict)
    #: Long-prompt prices by model: (above this many input tokens, input, cached, output).
    tiers: Mapping[str, tuple[int, str, str | None, str]] = field(factory=dict)
    #: The Batch API's price as a fraction of every row's (``"0.5"``: half), from the same
    #: source and date; None: no batch price published.
    batch_factor: str | None = None
    #: Prices built so far, by model name (Pricing values are immutable, so shared).
    _built: dict[str, Pricing | None] = field(factory=dict, init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        for model, row in self.rows.items():
            where = f"price table {self.source!r}: {model!r}"
            if isinstance(row, Price):
                for column in ("input", "output", "cached_input", "cache_write", "reasoning"):
                    _exact(f"{where} {column}", getattr(row, column),
                           optional=column not in ("input", "output"))
            else:
                input_price, cached, output = row
                _exact(f"{where} input", input_price)
                _exact(f"{where} cached input", cached, optional=True)
                _exact(f"{where} output", output)
        for model, (_, *prices) in self.tiers.items():
            for i, price in enumerate(prices):
                _exact(f"price table {self.source!r}: {model!r} tier", price, optional=i == 1)

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
        row = self.rows[key]
        if isinstance(row, Price):
            input_price, cached, output = row.input, row.cached_input, row.output
            write, reasoning = row.cache_write, row.reasoning
        else:
            (input_price, cached, output), write, reasoning = row, None, None
        tier = self.tiers.get(key)
        tiers = () if tier is None else (
            PriceTier(above_input_tokens=tier[0], input=Decimal(tier[1]),
                      cached_input=None if tier[2] is None else Decimal(tier[2]),
                      output=Decimal(tier[3])),
        )
        return Pricing(
            input=Decimal(input_price), output=Decimal(output),
            cached_input=None if cached is None else Decimal(cached),
            cache_write=None if write is None else Decimal(write),
            reasoning=None if reasoning is None else Decimal(reasoning), tiers=tiers,
            source=self.source, as_of=self.as_of, batch_factor=self.batch_factor,
        )

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and _resolve(model, self.rows, self.aliases) is not None
