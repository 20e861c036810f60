"""What the manager attaches to its drivers: the store, catalog, ledger and budgets.

Built from the ``[store]``, ``[pricing]`` and ``[budget]`` tables of the settings. Nothing
touches the disk until it is needed (the first ledger row, price or model listing). If the
database cannot be opened, the failure is logged once at WARNING naming the file, kept in
:attr:`Storage.error`, and calls go on without catalog or ledger; the query API
(``AIManager.usage``, ``AIManager.catalog``) raises the :class:`~jtd_ai.errors.StoreError`.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import frozen

from jtd_ai.errors import ConfigurationError, StoreError

if TYPE_CHECKING:
    import pluggy

    from jtd_ai.budget import BudgetLimits, BudgetPlugin
    from jtd_ai.catalog import Catalog
    from jtd_ai.driver import Driver
    from jtd_ai.ledger import Ledger, LedgerPlugin
    from jtd_ai.ledger_writer import LedgerWriter
    from jtd_ai.pricing import Pricing
    from jtd_ai.provider_catalog import PriceFallback, ProviderCatalog
    from jtd_ai.store import Store

__all__ = ["Storage", "StoreOptions"]

log = logging.getLogger("jtd_ai.store")

_STORE_KEYS = frozenset({"enabled", "path", "ledger", "models_ttl", "busy_timeout",
                         "background_writes"})
_PRICING_KEYS = frozenset({"genai_prices"})


def _seconds(what: str, value: Any, *, zero_ok: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            value < 0 or (value == 0 and not zero_ok)):
        raise ConfigurationError(f"{what} must be a number of seconds"
                                 f"{' (0 or more)' if zero_ok else ' above 0'}, not {value!r}")
    return float(value)


def _flag(what: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{what} must be true or false, not {value!r}")
    return value


@frozen
class StoreOptions:
    """The ``[store]`` and ``[pricing]`` settings, checked."""

    enabled: bool = True
    path: Path | None = None  # None: JTD_AI_HOME, else the user data directory
    ledger: bool = True
    models_ttl: float = 3600.0
    busy_timeout: float = 5.0
    genai_prices: bool = False
    #: Ledger rows committed in batches by a background thread (False: before the call
    #: returns).
    background_writes: bool = True

    @classmethod
    def from_config(cls, store: Mapping[str, Any], pricing: Mapping[str, Any] | None = None,
                    *, default_enabled: bool = True) -> StoreOptions:
        """Checked options; ``default_enabled`` applies when neither ``enabled`` nor
        ``path`` is given (an explicit path turns the store on)."""
        pricing = pricing or {}
        for table, keys, known in (("store", store, _STORE_KEYS),
                                   ("pricing", pricing, _PRICING_KEYS)):
            unknown = set(keys) - known
            if unknown:
                raise ConfigurationError(f"{table}: unknown key {sorted(unknown)[0]!r} "
                                         f"(known: {', '.join(sorted(known))})")
        path = store.get("path")
        if path is not None and not isinstance(path, str | Path):
            raise ConfigurationError(f"store.path must be a file path, not {path!r}")
        return cls(
            enabled=_flag("store.enabled", store.get(
                "enabled", True if path is not None else default_enabled)),
            path=Path(path).expanduser() if path is not None else None,
            ledger=_flag("store.ledger", store.get("ledger", True)),
            models_ttl=_seconds("store.models_ttl", store.get("models_ttl", 3600.0),
                                zero_ok=True),
            busy_timeout=_seconds("store.busy_timeout", store.get("busy_timeout", 5.0),
                                  zero_ok=False),
            genai_prices=_flag("pricing.genai_prices", pricing.get("genai_prices", False)),
            background_writes=_flag("store.background_writes",
                                    store.get("background_writes", True)),
        )


class Storage:
    """One manager's store and what is built on it, opened on first use."""

    def __init__(self, options: StoreOptions, *, env: Mapping[str, str],
                 budget: BudgetLimits | None = None,
                 active: Callable[[], bool] | None = None) -> None:
        from jtd_ai.store import default_store_path

        if budget is not None and not (options.enabled and options.ledger):
            raise ConfigurationError(
                "budgets are measured on the usage ledger: remove [budget], or turn the "
                "ledger on ([store] enabled = true, ledger = true)")
        self.options = options
        self.path = options.path or default_store_path(env)
        self.budget = budget
        self._active = active
        self._lock = threading.Lock()
        self._store: Store | None = None
        #: Why the store is not usable, once opening it failed; None while it is fine.
        self.error: StoreError | None = None
        #: Failures after opening (a row not written, a listing not stored), counted.
        self.failures = 0
        self._plugins: list[object] = []
        self._hooks: pluggy.PluginManager | None = None
        self._drivers: dict[str, weakref.ref[Driver]] = {}
        self._fallback: PriceFallback | None = None
        self._fallback_tried = False
        self._writer: LedgerWriter | None = None

    def __repr__(self) -> str:
        state = "off" if not self.options.enabled else ("error" if self.error else "ok")
        return f"<Storage {str(self.path)!r} {state}>"

    # -- the store -----------------------------------------------------------------------------

    def store(self) -> Store:
        """The open store; raises StoreError (naming the file) when it cannot be used."""
        if not self.options.enabled:
            raise StoreError("the jtd-ai store is turned off ([store] enabled = false)",
                             path=str(self.path))
        if self._store is not None:
            return self._store
        with self._lock:
            if self._store is None:
                if self.error is not None:
                    raise self.error
                from jtd_ai.store import Store

                store = Store(self.path, busy_timeout=self.options.busy_timeout)
                try:
                    store.open()
                except StoreError as exc:
                    self.error = exc
                    log.warning("jtd-ai store unusable, continuing without catalog and "
                                "ledger: %s", exc)
                    raise
                self._store = store
        return self._store

    def _usable(self) -> Store | None:
        """The store for work done inside a call: None (already reported) when unusable."""
        if not self.options.enabled:
            return None
        try:
            return self.store()
        except StoreError:
            return None

    def report(self, exc: BaseException) -> None:
        """Log a failure of work done inside a call; the call itself goes on."""
        self.failures += 1
        if isinstance(exc, StoreError) and exc is self.error:
            return  # logged once when the store failed to open
        log.warning("jtd-ai store: %s", exc)

    def catalog(self) -> Catalog:
        from jtd_ai.catalog import Catalog

        return Catalog(self.store())

    def ledger(self) -> Ledger:
        """The ledger, every row this process queued written first."""
        from jtd_ai.ledger import Ledger

        self.flush()
        return Ledger(self.store())

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until the ledger rows queued so far are written; False on timeout."""
        writer = self._writer
        return writer.flush(timeout) if writer is not None else True

    def _catalog_or_none(self) -> Catalog | None:
        from jtd_ai.catalog import Catalog

        store = self._usable()
        return Catalog(store) if store is not None else None

    def _ledger_or_none(self) -> Ledger | None:
        from jtd_ai.ledger import Ledger

        store = self._usable() if self.options.ledger else None
        return Ledger(store) if store is not None else None

    def _flushed_ledger_or_none(self) -> Ledger | None:
        self.flush()
        return self._ledger_or_none()

    # -- hooks and drivers ---------------------------------------------------------------------

    def attach(self, hooks: pluggy.PluginManager) -> None:
        """Register the ledger and budget plugins on ``hooks``, once."""
        with self._lock:
            if self._hooks is not None or not self.options.enabled:
                return
            from jtd_ai.ledger import LedgerPlugin

            plugins: list[LedgerPlugin | BudgetPlugin] = []
            if self.options.ledger:
                if self.options.background_writes:
                    from jtd_ai.ledger_writer import LedgerWriter

                    self._writer = LedgerWriter(self._ledger_or_none, on_error=self.report)
                plugins.append(LedgerPlugin(self._ledger_or_none, pricing=self._price_of,
                                            on_error=self.report, active=self._active,
                                            writer=self._writer))
            if self.budget is not None:
                from jtd_ai.budget import BudgetPlugin

                plugins.append(BudgetPlugin(self.budget, self._flushed_ledger_or_none,
                                            on_error=self.report, active=self._active))
            for plugin in plugins:
                hooks.register(plugin)
            self._plugins = list(plugins)
            self._hooks = hooks

    def attach_driver(self, driver: Driver) -> None:
        """Give ``driver`` its catalog view (TTL listings, price resolution)."""
        from jtd_ai.provider_catalog import ProviderCatalog

        config = driver.config
        ttl = config.option("models_ttl", self.options.models_ttl)
        ttl = _seconds(f"providers.{config.name}.models_ttl", ttl, zero_ok=True)
        catalog: Callable[[], Catalog | None] = (
            self._catalog_or_none if self.options.enabled else (lambda: None))
        driver.catalog = ProviderCatalog(
            config.name, config.driver, catalog, ttl=ttl, fallback=self._price_fallback(),
            on_error=self.report)
        self._drivers[config.name] = weakref.ref(driver)

    def provider_catalog(self, provider: str) -> ProviderCatalog | None:
        ref = self._drivers.get(provider)
        driver = ref() if ref is not None else None
        return driver.catalog if driver is not None else None

    def _price_of(self, provider: str, model: str) -> Pricing | None:
        ref = self._drivers.get(provider)
        driver = ref() if ref is not None else None
        return driver.pricing(model) if driver is not None else None

    def _price_fallback(self) -> PriceFallback | None:
        if not self.options.genai_prices:
            return None
        if not self._fallback_tried:
            self._fallback_tried = True
            try:
                from jtd_ai.price_fallback import GenaiPrices

                self._fallback = GenaiPrices()
            except ImportError:
                log.warning("[pricing] genai_prices = true, but genai-prices is not "
                            "installed: pip install 'jtd-ai-core[genai-prices]'")
        return self._fallback

    def close(self) -> None:
        """Unregister the plugins, write queued rows, close the database connections."""
        if self._writer is not None:
            self._writer.close()
        with self._lock:
            if self._hooks is not None:
                for plugin in self._plugins:
                    if self._hooks.is_registered(plugin):
                        self._hooks.unregister(plugin)
            self._hooks, self._plugins = None, []
            if self._store is not None:
                self._store.close()
            self._store = None
