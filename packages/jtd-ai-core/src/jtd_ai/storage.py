"""What the manager attaches to its drivers: the store, catalog, ledger and budgets.

Built from the ``[store]``, ``[pricing]`` and ``[budget]`` tables of the settings. The store
is a SQLite file (``[store] path``, the default) or any database named by ``[store] url``, else
by ``JTD_AI_STORE_URL`` (``postgresql://user@host/db`` shares one store across hosts; see
:func:`jtd_ai.store.store_location`). Nothing touches the disk or the network until it is
needed (the first ledger row, price or model listing). If the
database cannot be opened, the failure is logged once at WARNING naming the file, kept in
:attr:`Storage.error`, and calls go on without catalog or ledger; the query API
(``AIManager.usage``, ``AIManager.catalog``) raises the :class:`~jtd_ai.errors.StoreError`.

Ledger rows that cannot be written (the database stayed locked through every retry, the
disk is full, the file broke) are counted one by one in :attr:`Storage.failures` (and
:attr:`Storage.lost_rows`). A burst of such failures (each within ``BURST_QUIET`` seconds of
the one before) is logged at WARNING under ``jtd_ai.store`` once, when it starts, with the
rows it lost and why; when it is over (a row written ``BURST_QUIET`` seconds after its last
failure, or the storage closed) one more WARNING gives its total, if it grew.
"""

from __future__ import annotations

import logging
import os
import threading
import time
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
    from jtd_ai.store import AnyStore

__all__ = ["Storage", "StoreOptions", "storage_of"]

log = logging.getLogger("jtd_ai.store")

#: Seconds without a lost row that end a burst of write failures.
BURST_QUIET = 30.0

_ALL: weakref.WeakSet[Storage] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for storage in list(_ALL):
        storage._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)

_STORE_KEYS = frozenset({"enabled", "path", "url", "ledger", "models_ttl", "busy_timeout",
                         "background_writes", "connect_timeout"})
#: Seconds a database server found unreachable on open is left alone before the next try
#: (meanwhile calls go on without catalog and ledger, their rows counted as lost).
RETRY_OPEN = 5.0
#: Seconds a call waits for a database server's connection (``[store] connect_timeout``).
CONNECT_TIMEOUT = 0.5
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
    #: A database URL (``postgresql://...``, ``sqlite:///file.db``); None: ``path``, else
    #: ``JTD_AI_STORE_URL``, else the default file.
    url: str | None = None
    ledger: bool = True
    models_ttl: float = 3600.0
    busy_timeout: float = 5.0
    genai_prices: bool = False
    #: Ledger rows committed in batches by a background thread (False: before the call
    #: returns).
    background_writes: bool = True
    #: Seconds a call waits for a database server's connection (the ledger writer and the
    #: query API wait longer: ``max(2, busy_timeout)``).
    connect_timeout: float = CONNECT_TIMEOUT

    @classmethod
    def from_config(cls, store: Mapping[str, Any], pricing: Mapping[str, Any] | None = None,
                    *, default_enabled: bool = True) -> StoreOptions:
        """Checked options; ``default_enabled`` applies when none of ``enabled``, ``path``
        and ``url`` is given (an explicit path or URL turns the store on)."""
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
        url = store.get("url")
        if url is not None:
            from jtd_ai.store import store_location

            if not isinstance(url, str):
                raise ConfigurationError(f"store.url must be a database URL, not a "
                                         f"{type(url).__name__}")
            if path is not None:
                raise ConfigurationError("store: give either path or url, not both")
            store_location(url)  # an unknown scheme is named now
        return cls(
            enabled=_flag("store.enabled", store.get(
                "enabled", True if path is not None or url is not None else default_enabled)),
            path=Path(path).expanduser() if path is not None else None,
            url=url,
            ledger=_flag("store.ledger", store.get("ledger", True)),
            models_ttl=_seconds("store.models_ttl", store.get("models_ttl", 3600.0),
                                zero_ok=True),
            busy_timeout=_seconds("store.busy_timeout", store.get("busy_timeout", 5.0),
                                  zero_ok=False),
            genai_prices=_flag("pricing.genai_prices", pricing.get("genai_prices", False)),
            background_writes=_flag("store.background_writes",
                                    store.get("background_writes", True)),
            connect_timeout=_seconds("store.connect_timeout",
                                     store.get("connect_timeout", CONNECT_TIMEOUT),
                                     zero_ok=False),
        )


class _Opening:
    """The one attempt to open the store under way: made by the first patient caller itself,
    or, for a call, by a helper thread (so the call can stop waiting for it)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.done = threading.Event()
        self.error: BaseException | None = None


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
        from jtd_ai.store import store_location

        self.options = options
        location = options.url or (None if options.path else env.get("JTD_AI_STORE_URL"))
        engine, where = store_location(location) if location else ("sqlite", None)
        #: ``sqlite`` or ``postgresql``.
        self.engine = engine
        #: The PostgreSQL URL, or None for a SQLite file.
        self.url: str | None = str(where) if engine == "postgresql" else None
        #: The SQLite file (for PostgreSQL: where a local file would be, used only for
        #: what lives beside it, such as the REPL's history).
        self.path = (where if isinstance(where, Path) else
                     options.path or default_store_path(env))
        #: What messages show of the store: the file, or the URL with its password masked.
        self.location = str(self.path)
        if self.url is not None:
            from jtd_ai.store_postgres import display_url

            self.location = display_url(self.url)
        self._retry_open = 0.0  # before this (monotonic), an unreachable server is not retried
        self.budget = budget
        self._active = active
        # Re-entrant: a SIGTERM handler writing rows may interrupt a thread holding them.
        self._lock = threading.RLock()
        self._count_lock = threading.RLock()
        self._store: AnyStore | None = None
        self._opening: _Opening | None = None  # the attempt to open the store under way
        #: Why the store is not usable, once opening it failed; None while it is fine.
        self.error: StoreError | None = None
        #: Failures after opening: each ledger row not written, each listing not stored.
        self.failures = 0
        #: Ledger rows that could not be written (also counted in ``failures``).
        self.lost_rows = 0
        # The current burst of write failures: [rows lost, rows logged, when the last was]
        self._burst: list[float] | None = None
        self._plugins: list[object] = []
        self._hooks: pluggy.PluginManager | None = None
        self._drivers: dict[str, weakref.ref[Driver]] = {}
        self._fallback: PriceFallback | None = None
        self._fallback_tried = False
        self._writer: LedgerWriter | None = None
        _ALL.add(self)

    def _after_fork_in_child(self) -> None:
        # A thread of the parent may have held these when it forked: the child's are new.
        # Re-entrant: a SIGTERM handler writing rows may interrupt a thread holding them.
        self._lock = threading.RLock()
        self._count_lock = threading.RLock()
        self._burst = None  # the parent's failures are the parent's to report
        self._opening = None  # a parent's thread opening the store is not the child's

    def __repr__(self) -> str:
        state = "off" if not self.options.enabled else ("error" if self.error else "ok")
        return f"<Storage {self.location!r} {state}>"

    # -- the store -----------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the store holds anything yet (a database server: always taken as so)."""
        return self.url is not None or self.path.exists()

    def store(self, *, in_call: bool = False) -> AnyStore:
        """The open store; raises StoreError (naming it) when it cannot be used. A database
        server found unreachable is tried again :data:`RETRY_OPEN` seconds later; any other
        failure is final. No thread opens it while holding the lock other callers take:
        one attempt runs at a time and the others wait for it, except ``in_call`` ones (work
        done inside a chat call) on a database server: the attempt runs in a helper thread
        and they wait for it until ``[store] connect_timeout`` seconds after it began, then
        go on without the store (StoreError)."""
        if not self.options.enabled:
            raise StoreError("the jtd-ai store is turned off ([store] enabled = false)",
                             path=self.location)
        if self._store is not None:
            return self._store
        from jtd_ai.store import is_patient

        in_call = in_call and self.url is not None and not is_patient()
        if in_call:
            from jtd_ai.store_postgres import load_driver

            load_driver()  # imported first (only the server's answer is timed), and a
            # missing driver raised here, before an attempt is begun
        with self._lock:
            opened = self._opened()
            if opened is not None:
                return opened
            if self.error is not None and (
                    not self._retry_open or time.monotonic() < self._retry_open):
                raise self.error
            opening = self._opening
            created = opening is None
            if opening is None:
                opening = self._opening = _Opening()
        if created and in_call:
            threading.Thread(target=self._run_opening, args=(opening, self._open_for_call),
                             daemon=True, name="jtd-ai-store-open").start()
        elif created:
            self._run_opening(opening, self._open_patiently)
        opening.done.wait(opening.started + self.options.connect_timeout - time.monotonic()
                          if in_call else None)
        with self._lock:
            opened = self._opened()
            if opened is not None:
                return opened
        if opening.done.is_set():
            if opening.error is not None and not isinstance(opening.error, StoreError):
                raise opening.error  # a ConfigurationError (the driver is not installed)
            if self.error is not None:
                raise self.error
        raise StoreError(f"the jtd-ai database {self.location} cannot be reached (no answer "
                         f"within {self.options.connect_timeout:g}s, [store] "
                         f"connect_timeout; still tried in the background); the store is "
                         f"skipped for this call", path=self.location)

    def _run_opening(self, opening: _Opening, work: Callable[[], object]) -> None:
        try:
            work()
        except Exception as exc:  # kept for the callers waiting (StoreError: in self.error)
            opening.error = exc
        finally:
            with self._lock:
                if self._opening is opening:
                    self._opening = None
            opening.done.set()

    def _open_patiently(self) -> AnyStore:
        """Open the store, a database server given its full connect timeout."""
        from jtd_ai.store import patient

        with patient():
            return self._open()

    def _open_for_call(self) -> None:
        """Open the store in a helper thread, then hand its connection to the next thread
        needing one (the helper ends here, which would close it)."""
        store = self._open_patiently()
        hand_over = getattr(store, "hand_over", None)
        if hand_over is not None:
            hand_over()

    def _opened(self) -> AnyStore | None:
        return self._store  # read again after a wait (another thread may have set it)

    def _open(self) -> AnyStore:
        """Open the store (the one attempt under way); records and raises its failure."""
        from jtd_ai.store import open_store
        from jtd_ai.store_postgres import StoreUnavailableError

        store = open_store(self.url or self.path, busy_timeout=self.options.busy_timeout,
                           connect_timeout=self.options.connect_timeout)
        try:
            store.open()
        except StoreError as exc:
            again = isinstance(exc, StoreUnavailableError)
            with self._lock:
                first = self.error is None
                self._retry_open = time.monotonic() + RETRY_OPEN if again else 0.0
                if first or not again:
                    self.error = exc
                error = self.error or exc
            if first:  # logged once, not at each retry
                log.warning("jtd-ai store unusable, continuing without catalog and "
                            "ledger%s: %s",
                            f" (tried again every {RETRY_OPEN:g}s)" if again else "", exc)
            raise error from None
        with self._lock:
            back = self.error is not None
            self.error = None
            self._store = store
        if back:
            log.warning("jtd-ai store: %s is reachable again", self.location)
        return store

    def _usable(self) -> AnyStore | None:
        """The store for work done inside a call: None (already reported) when unusable."""
        if not self.options.enabled:
            return None
        try:
            return self.store(in_call=True)
        except StoreError:
            return None

    def report(self, exc: BaseException) -> None:
        """Log a failure of work done inside a call; the call itself goes on."""
        with self._count_lock:
            self.failures += 1
        if isinstance(exc, StoreError) and exc is self.error:
            return  # logged once when the store failed to open
        log.warning("jtd-ai store: %s", exc)

    def rows_lost(self, exc: BaseException | None, rows: int) -> None:
        """Count ``rows`` ledger rows that could not be written (``exc`` None: the store is
        unusable); the first loss of a burst is logged."""
        now = time.monotonic()
        with self._count_lock:
            self.failures += rows
            self.lost_rows += rows
            ended, burst = None, self._burst
            if burst is not None and now - burst[2] > BURST_QUIET:
                ended, burst = burst, None
            if burst is None:
                self._burst = [rows, rows, now]
            else:
                burst[0] += rows
                burst[2] = now
        if ended is not None:
            self._log_burst(ended, "then the failures stopped for a while")
        if exc is None or exc is self.error:
            return  # logged once when the store failed to open
        if burst is None:
            log.warning("jtd-ai store: %d usage row(s) could not be written: %s (every row "
                        "lost is counted in storage.failures; if more follow, their total "
                        "is logged once the failures stop)", rows, exc)
        else:
            log.debug("jtd-ai store: %d more usage row(s) could not be written: %s", rows,
                      exc)

    def rows_written(self, rows: int) -> None:
        """``rows`` ledger rows were written: a burst of failures long past is over."""
        burst = self._burst
        if burst is not None and time.monotonic() - burst[2] > BURST_QUIET:
            self._end_burst("writes succeed again")

    def _end_burst(self, how: str) -> None:
        with self._count_lock:
            burst, self._burst = self._burst, None
        if burst is not None:
            self._log_burst(burst, how)

    @staticmethod
    def _log_burst(burst: list[float], how: str) -> None:
        if burst[0] > burst[1]:
            log.warning("jtd-ai store: %d usage rows in all could not be written in the last "
                        "burst of failures; %s", int(burst[0]), how)

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
        """The ledger for a budget check, this process's queued rows written first; None at
        once (no waiting for the writer) while the store cannot be used."""
        if self._ledger_or_none() is None:
            return None
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
            budget_plugin: BudgetPlugin | None = None
            if self.budget is not None:
                from jtd_ai.budget import BudgetPlugin

                budget_plugin = BudgetPlugin(self.budget, self._flushed_ledger_or_none,
                                             on_error=self.report, active=self._active)
            if self.options.ledger:
                if self.options.background_writes:
                    from jtd_ai.ledger_writer import LedgerWriter

                    self._writer = LedgerWriter(self._ledger_or_none, on_lost=self.rows_lost,
                                                on_written=self.rows_written)
                plugins.append(LedgerPlugin(self._ledger_or_none, pricing=self._price_of,
                                            on_lost=self.rows_lost,
                                            on_written=self.rows_written,
                                            active=self._active, writer=self._writer,
                                            settle=budget_plugin.settle if budget_plugin
                                            else None))
            if budget_plugin is not None:
                plugins.append(budget_plugin)
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

    def holds(self, driver: Driver) -> bool:
        """Whether ``driver`` is one this storage attached (:meth:`attach_driver`)."""
        ref = self._drivers.get(driver.provider)
        return ref is not None and ref() is driver

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
            if self._writer.pending():
                self._writer.give_up("not written before the storage was closed: the "
                                     "database did not take them in time")
        if self._burst is not None:
            self._end_burst("the storage was closed")
        with self._lock:
            if self._hooks is not None:
                for plugin in self._plugins:
                    if self._hooks.is_registered(plugin):
                        self._hooks.unregister(plugin)
            self._hooks, self._plugins = None, []
            if self._store is not None:
                self._store.close()
            self._store = None


def storage_of(driver: Driver) -> Storage | None:
    """The storage of the manager that built ``driver`` (its store, ``[store] ledger`` and
    ``[budget]`` settings), or None for a driver made without a manager."""
    for storage in list(_ALL):
        if storage.holds(driver):
            return storage
    return None
