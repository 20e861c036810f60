"""The manager: providers by name, drivers built on first use, and the ``AI`` facade.

``AI`` is one :class:`AIManager` built at import that reads nothing until first used. Tests
and applications that want isolation create their own ``AIManager(...)``; nothing else is
global.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jtd_ai import fork_gate
from jtd_ai.errors import ConfigurationError, NoDefaultProviderError, ValidationError

if TYPE_CHECKING:
    import pluggy

    from jtd_ai.backends import HTTPClientOption
    from jtd_ai.catalog import Catalog, SyncReport
    from jtd_ai.config import ProviderConfig, Settings
    from jtd_ai.conversation import Conversation
    from jtd_ai.driver import Driver
    from jtd_ai.errors import AIError, PluginError
    from jtd_ai.ledger import Ledger
    from jtd_ai.plugins import DriverFactory, DriverListing, DriverRegistry, DriverSpec
    from jtd_ai.presets import Preset
    from jtd_ai.responses import Response
    from jtd_ai.storage import Storage
    from jtd_ai.testing.fake import FakeAI

__all__ = ["AI", "AIManager", "NoDefaultProviderError"]


class AIManager:
    """Configured providers and their drivers.

    ``providers`` and ``default`` are explicit settings that win over the config file;
    ``config_file=False`` ignores the file; ``env`` replaces ``os.environ`` (tests);
    ``transports`` maps provider names to httpx transports (tests, in-process servers);
    ``store``, ``pricing`` and ``budget`` are the top-level config tables of the same names
    (docs/catalog.md), winning key by key over the file's; ``plugins`` maps plugin names to
    their ``[plugins.NAME]`` tables (docs/writing-a-plugin.md), each winning over the file's.
    """

    def __init__(
        self,
        *,
        providers: Mapping[str, Mapping[str, Any]] | None = None,
        default: str | None = None,
        config_file: Path | str | bool | None = None,
        env: Mapping[str, str] | None = None,
        transports: Mapping[str, HTTPClientOption] | None = None,
        store: Mapping[str, Any] | None = None,
        pricing: Mapping[str, Any] | None = None,
        budget: Mapping[str, Any] | None = None,
        plugins: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        from jtd_ai.config import check_tables

        self._explicit_tables = check_tables("tables", {
            name: table for name, table in
            (("store", store), ("pricing", pricing), ("budget", budget),
             ("plugins", check_tables("plugins", plugins) if plugins is not None else None))
            if table is not None})
        self._storage: Storage | None = None
        self._explicit = check_tables("providers", providers)
        if default is not None and not isinstance(default, str):
            raise ConfigurationError(f"default must be a provider name, not "
                                     f"{type(default).__name__}")
        if env is not None and not isinstance(env, Mapping):
            raise ConfigurationError(f"env must be a mapping of variable names to strings, "
                                     f"not {type(env).__name__}")
        if transports is not None and not isinstance(transports, Mapping):
            raise ConfigurationError(f"transports must be a mapping of provider names to "
                                     f"httpx transports, not {type(transports).__name__}")
        self._explicit_default = default
        self._config_file = config_file
        self._env = env
        self._transports = dict(transports or {})
        self._settings: Settings | None = None
        self._registry: DriverRegistry | None = None
        self._drivers: dict[str, Driver] = {}
        self._fake: FakeAI | None = None
        #: The call plugins this manager registered, by name (None: not loaded yet).
        self._plugins: dict[str, Any] | None = None
        #: While the first load_plugins() runs (its own thread may re-enter it).
        self._plugins_loading: dict[str, Any] | None = None
        self._plugin_errors: list[PluginError] = []
        self._lock = threading.RLock()
        fork_gate.renew_after_fork(self, AIManager._renew_lock)

    def _renew_lock(self) -> None:
        """In a forked child: a thread of the parent may have held the lock, and was then
        perhaps loading the plugins (the child loads them again)."""
        self._lock = threading.RLock()
        self._plugins_loading = None

    def __repr__(self) -> str:
        return f"<AIManager providers={sorted(self._drivers)!r} loaded>"

    # -- state ------------------------------------------------------------------------------

    @property
    def env(self) -> Mapping[str, str]:
        return os.environ if self._env is None else self._env

    @property
    def registry(self) -> DriverRegistry:
        if self._registry is None:
            with self._lock:
                if self._registry is None:
                    from jtd_ai.plugins import DriverRegistry

                    self._registry = DriverRegistry(self.env)
        return self._registry

    @property
    def hooks(self) -> pluggy.PluginManager:
        """The pluggy manager: ``AI.hooks.register(obj)`` adds lifecycle hooks."""
        return self.registry.plugin_manager

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            with self._lock:
                if self._settings is None:
                    from jtd_ai.config import load_settings

                    self._settings = load_settings(
                        providers=self._explicit, default=self._explicit_default,
                        config_file=self._config_file, env=self.env,
                        tables=self._explicit_tables,
                    )
        return self._settings

    def configure(self, *, providers: Mapping[str, Mapping[str, Any]] | None = None,
                  default: str | None = None) -> AIManager:
        """Add explicit settings (they win over the file); drops drivers already built."""
        from jtd_ai.config import check_tables

        checked = check_tables("providers", providers)
        if default is not None and not isinstance(default, str):
            raise ConfigurationError(f"default must be a provider name, not "
                                     f"{type(default).__name__}")
        with self._lock:
            for name, values in checked.items():
                self._explicit.setdefault(name, {}).update(values)
            if default is not None:
                self._explicit_default = default
            self.reset()
        return self

    def reset(self) -> None:
        """Forget loaded settings, built drivers (closing their connections) and the plugins
        the configuration enabled (loaded again with the next driver)."""
        with self._lock:
            for driver in self._drivers.values():
                driver.close()
            self._drivers.clear()
            self._settings = None
            for name in self._plugins or {}:
                if self.hooks.has_plugin(name):
                    self.hooks.unregister(name=name)
            self._plugins = None
            self._plugin_errors = []
            if self._storage is not None:
                self._storage.close()
                self._storage = None

    def close(self) -> None:
        self.reset()

    def __enter__(self) -> AIManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- drivers and providers ---------------------------------------------------------------

    def drivers(self) -> list[DriverListing]:
        """Installed and extended drivers, from metadata: imports no driver module."""
        return self.registry.listings()

    def extend(self, name: str, factory: DriverFactory, **meta: Any) -> None:
        """Add a driver from code: ``factory(config)`` returns a Driver or a ChatProtocol."""
        self.registry.extend(name, factory, **meta)
        with self._lock:
            stale = [p for p, d in self._drivers.items() if d.config.driver == name]
            for provider in stale:
                self._drivers.pop(provider).close()

    def providers(self) -> list[str]:
        """Configured providers, plus one per installed driver not configured under its name."""
        return sorted(set(self.settings.providers) | set(self.registry.names()))

    def default_provider(self) -> str:
        """The provider a call uses when it names none: ``default`` from the config file
        (or ``AIManager(default=...)``, or ``JTD_AI_DEFAULT_PROVIDER``); else the only one
        :meth:`usable_providers` finds. Otherwise :class:`NoDefaultProviderError`, which
        names the usable ones."""
        settings = self.settings
        if settings.default:
            return settings.default
        usable = self.usable_providers()
        if len(usable) == 1:
            return usable[0]
        raise self._no_default(usable, configured=bool(settings.providers))

    def usable_providers(self) -> list[str]:
        """The providers a default is chosen from: the configured ones when there are any;
        else each installed driver and each preset that needs an API key and finds it in
        the environment (``OPENAI_API_KEY`` makes ``openai`` usable, ``GROQ_API_KEY`` the
        ``groq`` preset). Keyless servers (Ollama, vLLM, ...) are never implied: nothing
        here knows whether one runs."""
        configured = sorted(self.settings.providers)
        if configured:
            return configured
        from jtd_ai import presets

        found: list[str] = []
        drivers = self.registry.names()
        for name in drivers:
            spec = self._loaded_spec(name)
            if (spec is not None and spec.requires_api_key
                    and presets.key_set(_variables(spec.api_key_env), self.env)):
                found.append(name)
        for preset in presets.PRESETS.values():
            if preset.name not in drivers and presets.status(preset, self.env)[0]:
                found.append(preset.name)
        return sorted(found)

    def _loaded_spec(self, name: str) -> DriverSpec | None:
        """The driver's spec, or None when its plugin cannot be loaded (a broken plugin is
        no candidate, and `jtd-ai drivers` reports it)."""
        from jtd_ai.errors import AIError

        try:
            return self.registry.spec(name)
        except AIError:
            return None

    def _no_default(self, usable: Sequence[str], *, configured: bool) -> NoDefaultProviderError:
        pick = 'set default = "NAME" in jtd-ai.toml or JTD_AI_DEFAULT_PROVIDER'
        if usable:
            what = "configured" if configured else "ready (each has its API key set)"
            several = f"no default provider: several are {what}: {', '.join(usable)}"
            return NoDefaultProviderError(
                f"{several}; name one with .provider({usable[0]!r}), or {pick}",
                ready=usable,
                cli_message=f"{several}; use -p NAME (e.g. -p {usable[0]}), or {pick}")
        variables = self._key_variables()
        none = ("no default provider: none is configured and no API key is set in the "
                f"environment; set one ({variables}), or add [providers.NAME] to jtd-ai.toml")
        return NoDefaultProviderError(
            f"{none}, or name a provider with .provider(...)", ready=(),
            cli_message=(f"{none}; or use -p NAME (jtd-ai providers lists every provider "
                         f"and preset; -p echo answers offline)"))

    def _key_variables(self) -> str:
        """The key variables of the installed drivers, then a preset's as an example."""
        from jtd_ai import presets

        seen: list[str] = []
        for name in self.registry.names():
            spec = self._loaded_spec(name)
            if spec is not None and spec.requires_api_key and spec.api_key_env:
                seen.extend(v for v in _variables(spec.api_key_env) if v not in seen)
        examples = [p.api_key_env[0] for p in presets.PRESETS.values()
                    if p.requires_api_key and not p.unavailable
                    and p.api_key_env[0] not in seen][:2]
        preset = f"or a preset's: {', '.join(examples)}, ..."
        return "; ".join([", ".join(seen), preset] if seen else [preset])

    def _preset_for(self, name: str, values: Mapping[str, Any]) -> Preset | None:
        """The preset provider ``name`` is built from: the one its table names with
        ``preset``; else, when the table names no driver and no installed driver has the
        provider's name, the preset of that name (an installed driver wins over a preset)."""
        from jtd_ai import presets
        from jtd_ai.config import _nearest, masked

        chosen = values.get("preset")
        if chosen is not None:
            if not isinstance(chosen, str) or not chosen:
                raise ConfigurationError(f"providers.{name}.preset must be a preset name, "
                                         f"not {masked(chosen)}")
            found = presets.find(chosen)
            if found is None:
                raise ConfigurationError(
                    f"providers.{name}.preset: no preset named {chosen[:40]!r}"
                    f"{_nearest(chosen, presets.names())}; presets: "
                    f"{', '.join(presets.names())}")
        elif "driver" in values or name in self.registry.names():
            return None
        else:
            found = presets.find(name)
            if found is None:
                return None
        if found.unavailable:
            raise ConfigurationError(f"preset {found.name!r} cannot be used: "
                                     f"{found.unavailable}")
        return found

    def provider_config(self, name: str) -> ProviderConfig:
        """The resolved settings of provider ``name`` (see :mod:`jtd_ai.config`); for a
        provider built from a preset, the preset fills what its table leaves unset."""
        from jtd_ai.config import resolve_provider
        from jtd_ai.presets import preset_values

        values = self.settings.providers.get(name, {})
        preset = self._preset_for(name, values)
        if preset is not None:
            values = preset_values(preset, values)
        driver_name = values.get("driver", name)
        if not isinstance(driver_name, str):
            raise ConfigurationError(f"providers.{name}.driver must be a driver name")
        spec = self._driver_spec(driver_name, name)
        if preset is None:
            key_env = spec.api_key_env
            config = resolve_provider(
                name, values, api_key_env=key_env, base_url_env=spec.base_url_env,
                default_port=spec.default_port, base_url_env_path=spec.base_url_env_path,
                option_env=spec.option_env,
                default_base_url=spec.default_base_url, default_model=spec.default_model,
                env=self.env,
            )
            requires = spec.requires_api_key
        else:  # the preset's variables, never the driver's (no OPENAI_API_KEY for groq)
            key_env = preset.api_key_env or None
            config = resolve_provider(
                name, values, api_key_env=key_env, base_url_env=preset.base_url_env,
                default_port=preset.default_port, base_url_env_path=preset.base_url_env_path,
                default_base_url=preset.base_url, default_model=preset.default_model,
                env=self.env,
            )
            requires = preset.requires_api_key
        # ``api_key_required = false`` serves keyless OpenAI-compatible servers (vLLM, ...).
        required = config.option("api_key_required", requires)
        if required and not config.api_key:
            given = values.get("api_key_env")
            where = (given if isinstance(given, str) and given else
                     " or ".join(_variables(key_env)) or f"{name.upper()}_API_KEY")
            raise ConfigurationError(
                f"provider {name!r} needs an API key: set {where} in the environment, or "
                f"api_key / api_key_env under [providers.{name}] in jtd-ai.toml"
            )
        if not config.base_url:
            if preset is not None and preset.setup:
                raise ConfigurationError(f"provider {name!r} (preset {preset.name!r}) has no "
                                         f"base_url: {preset.setup}")
            raise ConfigurationError(
                f"provider {name!r} has no base_url and driver {driver_name!r} has no default"
            )
        return config

    def _driver_spec(self, driver: str, provider: str) -> DriverSpec:
        """The spec of ``driver``; an unknown name that is a preset's says how to use it."""
        from jtd_ai import presets
        from jtd_ai.errors import PluginError

        try:
            return self.registry.spec(driver)
        except PluginError:
            raise
        except ConfigurationError as error:
            if presets.find(driver) is None:
                raise
            raise ConfigurationError(
                f"{error.message} A preset named {driver!r} exists: write preset = "
                f"\"{driver}\" instead of driver = \"{driver}\" under [providers.{provider}]"
            ) from None

    def driver(self, provider: str | None = None) -> Driver:
        """The driver instance of ``provider`` (default: the default provider), built once."""
        if provider is not None and not isinstance(provider, str):
            raise ValidationError(f"a provider is named by a string, not "
                                  f"{type(provider).__name__}", field="provider")
        name = provider or self.default_provider()
        driver = self._drivers.get(name)
        if driver is not None:
            return driver
        with self._lock:
            if name in self._drivers:
                return self._drivers[name]
            driver = self._build(name)
            self._drivers[name] = driver
            return driver

    def _build(self, name: str) -> Driver:
        from jtd_ai.driver import Driver
        from jtd_ai.protocol import ChatProtocol

        self.load_plugins()
        if self._fake is not None:
            fake = Driver(self._fake.protocol(self._fake_config(name)), hooks=self.hooks)
            fake.resolver = self.driver
            return fake
        config = self.provider_config(name)
        spec = self.registry.spec(config.driver)
        made = spec.factory(config)
        storage = self.storage
        storage.attach(self.hooks)
        if isinstance(made, ChatProtocol):
            made = Driver(made, transport=self._transports.get(name), hooks=self.hooks)
        if isinstance(made, Driver):
            storage.attach_driver(made)
            made.resolver = self.driver
            return made
        if hasattr(made, "send_message"):
            return made  # type: ignore[no-any-return]
        raise ConfigurationError(
            f"the factory of driver {config.driver!r} returned {type(made).__name__}; it must "
            f"return a jtd_ai.Driver or a jtd_ai.ChatProtocol"
        )

    # -- call plugins -------------------------------------------------------------------------

    def load_plugins(self) -> dict[str, Any]:
        """Register the call plugins the configuration enables (``[plugins.NAME]`` tables,
        and ``fallbacks`` when a provider sets them), once; done before the first driver is
        built. An unknown plugin, or a fallback naming an unknown provider, is a
        ConfigurationError; a plugin that fails to load is left out (see
        :attr:`plugin_errors`) unless its table says ``required = true``."""
        if self._plugins is not None:
            return self._plugins
        with self._lock:  # another thread waits here until the loading is done
            if self._plugins is None:
                if self._plugins_loading is not None:
                    # Re-entered on this thread (the lock is reentrant) by a factory that
                    # builds a driver: the plugins are not loaded again.
                    return self._plugins_loading
                from jtd_ai.fallbacks import follow_config
                from jtd_ai.plugins import load_plugins, plugin_tables

                settings = self.settings
                tables = plugin_tables(settings.tables.get("plugins"))
                also = ["fallbacks"] if self._check_fallbacks(settings) else []
                follow_config(self.hooks, tables.get("fallbacks"))
                loading: dict[str, Any] = {}
                self._plugins_loading = loading
                try:
                    loaded, errors = load_plugins(self, tables, self.hooks, also=also)
                finally:
                    self._plugins_loading = None
                loading.update(loaded)  # what a re-entry got is the same dict, now filled
                self._plugin_errors = errors
                self._plugins = loading
            return self._plugins

    @property
    def plugin_errors(self) -> list[PluginError]:
        """The plugins the configuration enabled that failed to load (each left out)."""
        self.load_plugins()
        return list(self._plugin_errors)

    def _check_fallbacks(self, settings: Settings) -> bool:
        """Check every provider's ``fallbacks`` (each target a known provider); whether any
        provider has some."""
        from jtd_ai import presets
        from jtd_ai.fallbacks import check_known, check_targets

        found = False
        for name, table in settings.providers.items():
            if "fallbacks" not in table:
                continue
            setting = f"providers.{name}.fallbacks"
            targets = check_targets(table["fallbacks"], setting)
            known = {*settings.providers, *self.registry.names(), *presets.names()}
            check_known(setting, targets, known)
            found = found or bool(targets)
        return found

    # -- catalog, usage ledger, budgets --------------------------------------------------------

    @property
    def storage(self) -> Storage:
        """The store, catalog, ledger and budgets of this manager (opened on first use);
        ``storage.error`` says why the database is unusable, if it is."""
        if self._storage is None:
            with self._lock:
                if self._storage is None:
                    from jtd_ai.storage import Storage, StoreOptions

                    tables = self.settings.tables
                    budget = None
                    if tables.get("budget"):
                        from jtd_ai.budget import BudgetLimits

                        budget = BudgetLimits.from_config(tables["budget"])
                    # config_file=False keeps off the user's files: the store then needs an
                    # explicit [store] path, enabled = true, or JTD_AI_HOME in env.
                    isolated = self._config_file is False and not (
                        self.env.get("JTD_AI_HOME") or self.env.get("JTD_AI_STORE_URL"))
                    self._storage = Storage(
                        StoreOptions.from_config(tables.get("store", {}),
                                                 tables.get("pricing", {}),
                                                 default_enabled=not isolated),
                        env=self.env, budget=budget, active=lambda: self._fake is None,
                    )
        return self._storage

    @property
    def usage(self) -> Ledger:
        """The usage ledger: ``AI.usage.totals(by="provider")``; raises StoreError when the
        database is unusable or the store is off."""
        return self.storage.ledger()

    @property
    def catalog(self) -> Catalog:
        """The model catalog: ``AI.catalog.models("openai")``; raises StoreError likewise."""
        return self.storage.catalog()

    def sync_models(self, providers: Iterable[str] | None = None, *,
                    dry_run: bool = False) -> SyncReport:
        """Ask each provider (default: every one :meth:`providers` lists) for its models and
        store them; ``dry_run`` reports what would change and writes nothing. One provider
        failing is reported and does not stop the others."""
        from jtd_ai.sync import sync_providers

        return sync_providers(self, providers, dry_run=dry_run)

    async def async_models(self, providers: Iterable[str] | None = None, *,
                           dry_run: bool = False) -> SyncReport:
        """Async form of :meth:`sync_models`; providers are asked concurrently."""
        from jtd_ai.sync import async_providers

        return await async_providers(self, providers, dry_run=dry_run)

    # -- testing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def fake(self, replies: Iterable[str | AIError | Response] = (), *,
             default: str | None = None, retries: bool = False,
             strict: bool = False) -> Iterator[FakeAI]:
        """Replace every provider with queued replies for the block; see
        :mod:`jtd_ai.testing.fake`. Needs no key and sends nothing over the network.
        ``strict``: a block that ends with scripted replies unused fails."""
        from jtd_ai.testing.fake import FakeAI

        fake = FakeAI(default=default, retries=retries, strict=strict).extend(replies)
        with self._lock:
            previous = (self._fake, self._drivers)
            self._fake, self._drivers = fake, {}
        try:
            yield fake
        finally:
            with self._lock:
                for driver in self._drivers.values():
                    driver.close()
                self._fake, self._drivers = previous
        fake.finish()  # only when the block raised nothing: its own error comes first

    def _fake_config(self, name: str) -> ProviderConfig:
        from jtd_ai.config import ProviderConfig
        from jtd_ai.presets import preset_values

        assert self._fake is not None
        values = self.settings.providers.get(name, {})
        preset = None
        with contextlib.suppress(ConfigurationError):  # a bad preset fails the real call only
            preset = self._preset_for(name, values)
        if preset is not None:
            values = preset_values(preset, values)
        driver = str(values.get("driver", name))
        model = values.get("default_model")
        if model is None and preset is not None:
            model = preset.default_model
        elif model is None:
            with contextlib.suppress(Exception):  # the real driver may not be installed
                model = self.registry.spec(driver).default_model
        attempts = values.get("retry_attempts", 3) if self._fake.retries else 1
        if model is not None and not isinstance(model, str):
            raise ConfigurationError(f"providers.{name}.default_model must be a string")
        return ProviderConfig(name=name, driver=driver, base_url="http://fake.invalid",
                              default_model=model or "fake-model", retry_attempts=attempts)

    def conversation(self, provider: str | None = None) -> Conversation:
        """A new conversation builder; see :class:`jtd_ai.Conversation`."""
        from jtd_ai.conversation import Conversation

        return Conversation(self, provider)


def _variables(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """A key-variable setting (one name or several) as a tuple of names."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


#: The default manager. It reads configuration on first use, not at import.
AI = AIManager()
