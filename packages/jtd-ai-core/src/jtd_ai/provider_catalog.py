"""A driver's view of the catalog: model listings within a TTL, and price resolution.

The manager attaches one :class:`ProviderCatalog` to each driver it builds
(``driver.catalog``). ``get_available_models()`` asks it first: a listing younger than the
TTL (in this process's memory, else in the store, written by any process) is served
without a request; an older one is fetched from the provider and stored. With no usable
store it still caches in memory for the TTL.

Prices resolve in this order (the first that has one wins):

1. the ``prices`` override in the provider's config (checked by the driver itself);
2. the price the provider publishes with its model listing, as synced into the catalog,
   unless it is only the driver's own table echoed back (same source, not newer);
3. the driver's dated price table;
4. ``genai-prices``, when ``[pricing] genai_prices = true`` and the extra is installed.

Catalog failures are reported through ``on_error`` and never raised into a call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from jtd_ai import fork_gate

if TYPE_CHECKING:
    from jtd_ai.catalog import Catalog, ProviderSync
    from jtd_ai.modelinfo import ModelInfo
    from jtd_ai.pricing import Pricing

__all__ = ["DEFAULT_MODELS_TTL", "ProviderCatalog", "is_published"]

#: Seconds a model listing is served without asking the provider again.
DEFAULT_MODELS_TTL = 3600.0

PriceFallback = Callable[[str, str], "Pricing | None"]  # (driver name, model) -> price


def is_published(catalog_price: Pricing, table: Pricing | None) -> bool:
    """Whether a synced price is the provider's own rather than the driver table's copy."""
    if table is None or catalog_price.source != table.source:
        return True
    if catalog_price.as_of is None or table.as_of is None:
        return False
    return catalog_price.as_of > table.as_of


class ProviderCatalog:
    """One provider's models and prices, from memory, the store, or the provider."""

    def __init__(
        self,
        provider: str,
        driver: str,
        catalog: Callable[[], Catalog | None],
        *,
        ttl: float = DEFAULT_MODELS_TTL,
        fallback: PriceFallback | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.provider = provider
        self.driver = driver
        self.ttl = ttl
        self._catalog = catalog
        self._fallback = fallback
        self._on_error = on_error
        self._lock = threading.Lock()
        fork_gate.renew_after_fork(self, ProviderCatalog._renew_lock)
        self._models: tuple[float, list[ModelInfo]] | None = None  # (monotonic, models)
        self._prices: tuple[float, dict[str, Pricing]] | None = None

    def _renew_lock(self) -> None:
        self._lock = threading.Lock()  # in a forked child: a parent's thread may have held it

    def __repr__(self) -> str:
        return f"<ProviderCatalog {self.provider!r} ttl={self.ttl}>"

    def _store(self) -> Catalog | None:
        try:
            return self._catalog()
        except Exception as exc:
            self._report(exc)
            return None

    def _report(self, exc: BaseException) -> None:
        if self._on_error is not None:
            self._on_error(exc)

    # -- listings ------------------------------------------------------------------------------

    def fresh(self) -> list[ModelInfo] | None:
        """The models listed less than ``ttl`` seconds ago, or None (then ask the provider)."""
        if self.ttl <= 0:
            return None
        now = time.monotonic()
        held = self._models
        if held is not None and now - held[0] < self.ttl:
            return list(held[1])
        catalog = self._store()
        if catalog is None:
            return None
        try:
            from jtd_ai.catalog import utc_now

            synced = catalog.synced_at(self.provider)
            if synced is None:
                return None
            age = (utc_now() - synced).total_seconds()
            if not 0 <= age < self.ttl:
                return None
            models = catalog.models(self.provider)
        except Exception as exc:
            self._report(exc)
            return None
        self._models = (now - age, models)
        return list(models)

    def listed(self, models: Iterable[ModelInfo], *, dry_run: bool = False) -> ProviderSync:
        """Take a complete, fresh listing: remember it and store it (unless ``dry_run``).
        A store failure is reported and returned in the result, never raised."""
        from jtd_ai.catalog import ProviderSync

        models = list(models)
        if not dry_run:
            with self._lock:
                self._models = (time.monotonic(), models)
                self._prices = (time.monotonic(), {
                    m.id: m.pricing for m in models if m.pricing is not None})
        catalog = self._store()
        if catalog is None:
            if dry_run:
                return ProviderSync(self.provider, sorted(m.id for m in models), dry_run=True)
            return ProviderSync(self.provider, error="the store is not usable; see "
                                "AIManager.storage.error", dry_run=dry_run)
        try:
            return catalog.apply(self.provider, models, dry_run=dry_run)
        except Exception as exc:
            self._report(exc)
            return ProviderSync(self.provider, error=str(exc), dry_run=dry_run)

    def forget(self) -> None:
        """Drop what is held in memory (the store keeps its copy)."""
        with self._lock:
            self._models = None
            self._prices = None

    # -- prices --------------------------------------------------------------------------------

    def published(self, model: str) -> Pricing | None:
        """The price ``provider`` published for ``model`` with its last listing, if any."""
        now = time.monotonic()
        held = self._prices
        if held is None or now - held[0] >= max(self.ttl, 1.0):
            catalog = self._store()
            prices: dict[str, Pricing] = {}
            if catalog is not None:
                try:
                    prices = catalog.prices(self.provider)
                except Exception as exc:
                    self._report(exc)
            held = self._prices = (now, prices)
        return held[1].get(model)

    def resolve_price(self, model: str, table: Pricing | None) -> Pricing | None:
        """The price of ``model`` after the config override: published, table, fallback."""
        published = self.published(model)
        if published is not None and is_published(published, table):
            return published
        if table is not None:
            return table
        if self._fallback is not None:
            try:
                return self._fallback(self.driver, model)
            except Exception as exc:
                self._report(exc)
        return None
