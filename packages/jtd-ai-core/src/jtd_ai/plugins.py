"""Driver discovery (lazy and addressed by name), and loading the call plugins.

Listing reads entry-point metadata only (group ``jtd_ai.drivers``, the entry point's name is
the driver's name). A driver module is imported the first time that driver is used. A plugin
that fails to import raises a :class:`~jtd_ai.errors.PluginError` naming its distribution and
entry point, and every other driver stays usable. ``JTD_AI_PLUGINS`` (comma list; empty
means none) restricts which entry points may load.

Call plugins wrap or watch calls through the hooks of :mod:`jtd_ai.hookspecs`. An installed
one (entry-point group ``jtd_ai.plugins``) is on in every manager unless its ``[plugins.NAME]``
table says ``enabled = false``; a built-in one (``fallbacks``, ``cache``, ``log``) is on when
its table is there (fallbacks also when a provider sets ``fallbacks``). Each is built by its
factory, ``factory(manager, options) -> plugin`` (None: nothing to do with these options).
See docs/writing-a-plugin.md.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from jtd_ai import fork_gate
from jtd_ai.errors import ConfigurationError, PluginError

if TYPE_CHECKING:
    import pluggy
    from importlib_metadata import EntryPoint

    from jtd_ai.config import ProviderConfig

__all__ = ["BUILTIN_PLUGINS", "ENTRY_POINT_GROUP", "PLUGIN_GROUP", "DriverListing",
           "DriverRegistry", "DriverSpec", "PluginListing", "load_plugins", "plugin_listings",
           "plugin_tables"]

ENTRY_POINT_GROUP = "jtd_ai.drivers"
log = logging.getLogger("jtd_ai.plugins")

#: ``factory(config)`` returns a Driver, or a ChatProtocol that the core wraps in one.
DriverFactory = Callable[["ProviderConfig"], Any]

_NO_OPTIONS: Mapping[str, str] = MappingProxyType({})


class DriverSpec(NamedTuple):
    """A registered driver: how to build it and where its settings come from.

    The environment variables are the provider SDK's own, so a user of that SDK needs no
    new ones: ``api_key_env`` (``OPENAI_API_KEY``), ``base_url_env`` (``OPENAI_BASE_URL``,
    ``OLLAMA_HOST``) and ``option_env`` (``{"organization": "OPENAI_ORG_ID"}``). Each is
    read only when the provider's configuration does not set that value itself."""

    name: str
    factory: DriverFactory
    #: The variable holding the key, or several tried in order.
    api_key_env: str | tuple[str, ...] | None = None
    #: The variable holding the base URL (``host``, ``host:port`` or a URL).
    base_url_env: str | None = None
    default_base_url: str | None = None
    default_model: str | None = None
    requires_api_key: bool = True
    description: str = ""
    #: Port added to a bare host read from ``base_url_env``.
    default_port: int | None = None
    #: Path added to the URL read from ``base_url_env`` (Gemini's SDK reads
    #: ``GOOGLE_GEMINI_BASE_URL`` as a root and adds the API version, ``/v1beta``).
    base_url_env_path: str = ""
    #: Driver options read from variables when unset: ``{"project": "OPENAI_PROJECT_ID"}``.
    option_env: Mapping[str, str] = _NO_OPTIONS


class DriverListing(NamedTuple):
    """An installed or extended driver, known from metadata alone (a NamedTuple, so listing
    drivers does not import attrs)."""

    name: str
    distribution: str | None
    version: str | None
    target: str
    loaded: bool


class DriverRegistry:
    """Which drivers exist, loading each on first use. One per manager, so tests isolate."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        raw = env.get("JTD_AI_PLUGINS")
        self._allowed: frozenset[str] | None = (
            None if raw is None else frozenset(p.strip() for p in raw.split(",") if p.strip())
        )
        self._entry_points: dict[str, EntryPoint] | None = None
        self._specs: dict[str, DriverSpec] = {}
        self._extended: set[str] = set()
        self._pm: pluggy.PluginManager | None = None
        self._lock = threading.RLock()
        fork_gate.renew_after_fork(self, DriverRegistry._renew_lock)

    def _renew_lock(self) -> None:
        self._lock = threading.RLock()  # a thread of the parent may have held it

    # -- discovery (metadata only) --------------------------------------------------------

    def _discover(self) -> dict[str, EntryPoint]:
        if self._entry_points is None:
            from importlib_metadata import entry_points

            found: dict[str, EntryPoint] = {}
            with fork_gate.held():  # scanned and loaded where no fork happens (fork_gate)
                eps = list(entry_points(group=ENTRY_POINT_GROUP))
            for ep in eps:
                if self._allowed is not None and ep.name not in self._allowed:
                    continue
                if ep.name in found:
                    log.warning(
                        "driver %r is provided by two distributions (%s, %s); using the first",
                        ep.name, _dist_name(found[ep.name]), _dist_name(ep),
                    )
                    continue
                found[ep.name] = ep
            self._entry_points = found
        return self._entry_points

    def listings(self) -> list[DriverListing]:
        """Every driver that can be used, from metadata: no driver module is imported."""
        result = [
            DriverListing(
                name=name,
                distribution=_dist_name(ep),
                version=ep.dist.version if ep.dist is not None else None,
                target=ep.value,
                loaded=name in self._specs,
            )
            for name, ep in self._discover().items()
            if name not in self._extended
        ]
        result.extend(
            DriverListing(n, None, None, _describe(self._specs[n].factory), loaded=True)
            for n in sorted(self._extended)
        )
        return sorted(result, key=lambda d: d.name)

    def names(self) -> list[str]:
        return [d.name for d in self.listings()]

    # -- loading --------------------------------------------------------------------------

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The pluggy manager holding loaded driver modules and any hooks you register."""
        if self._pm is None:
            with self._lock:
                if self._pm is None:
                    import pluggy

                    from jtd_ai import hookspecs

                    pm = pluggy.PluginManager("jtd_ai")
                    pm.add_hookspecs(hookspecs)
                    self._pm = pm
        return self._pm

    def spec(self, name: str) -> DriverSpec:
        """The driver called ``name``, importing its plugin module if this is its first use."""
        spec = self._specs.get(name)
        if spec is not None:
            return spec
        with self._lock:
            if name in self._specs:
                return self._specs[name]
            ep = self._discover().get(name)
            if ep is None:
                raise ConfigurationError(self._unknown_message(name))
            self._load(name, ep)
            return self._specs[name]

    def _load(self, name: str, ep: EntryPoint) -> None:
        dist = _dist_name(ep)
        try:
            with fork_gate.held():
                module = ep.load()
        except Exception as exc:
            raise PluginError(
                f"driver {name!r} could not be loaded: entry point {ep.name} = {ep.value} "
                f"of distribution {dist or '(unknown)'} failed to import "
                f"({type(exc).__name__}: {exc}). Reinstall or remove that package; "
                f"other drivers are unaffected.",
                distribution=dist,
                entry_point=f"{ep.name} = {ep.value}",
            ) from exc
        pm = self.plugin_manager
        if pm.is_registered(module):
            plugin = module
        else:
            pm.register(module, name=f"{dist or '?'}:{ep.name}")
            plugin = module
        others = [p for p in pm.get_plugins() if p is not plugin]
        caller = pm.subset_hook_caller("register_drivers", remove_plugins=others)
        collected: dict[str, DriverSpec] = {}

        def register(driver_name: str, factory: DriverFactory, **meta: Any) -> None:
            collected[driver_name] = DriverSpec(driver_name, factory, **meta)

        try:
            caller(register=register)
        except Exception as exc:
            raise PluginError(
                f"driver {name!r}: the register_drivers hook of {ep.value} "
                f"({dist or 'unknown distribution'}) failed: {type(exc).__name__}: {exc}",
                distribution=dist, entry_point=f"{ep.name} = {ep.value}",
            ) from exc
        if name not in collected:
            raise PluginError(
                f"entry point {ep.name} = {ep.value} ({dist or 'unknown distribution'}) "
                f"registered no driver named {name!r} (it registered: "
                f"{', '.join(sorted(collected)) or 'nothing'}); does its module implement "
                f"the register_drivers hook with @jtd_ai.hookimpl?",
                distribution=dist, entry_point=f"{ep.name} = {ep.value}",
            )
        for key, value in collected.items():
            self._specs.setdefault(key, value)

    def extend(self, name: str, factory: DriverFactory, **meta: Any) -> None:
        """Add (or replace) a driver from code, without a package or entry point."""
        if not name or not isinstance(name, str):
            raise ConfigurationError("a driver needs a non-empty name")
        if not callable(factory):
            raise ConfigurationError(f"the factory for driver {name!r} must be callable")
        with self._lock:
            meta.setdefault("requires_api_key", False)
            self._specs[name] = DriverSpec(name, factory, **meta)
            self._extended.add(name)

    def _unknown_message(self, name: str) -> str:
        known = sorted(set(self._discover()) | self._extended)
        hint = f"pip install jtd-ai[{name}]" if name in _BUILTIN else (
            f"install the package that provides it, or AI.extend({name!r}, factory)"
        )
        restricted = (
            f" (JTD_AI_PLUGINS restricts loading to: {', '.join(sorted(self._allowed)) or 'none'})"
            if self._allowed is not None else ""
        )
        return (f"no driver named {name!r}; installed: {', '.join(known) or 'none'}{restricted}. "
                f"To add it: {hint}.")


_BUILTIN = frozenset({"openai", "xai", "gemini", "ollama"})


def _dist_name(ep: EntryPoint) -> str | None:
    return ep.dist.name if ep.dist is not None else None


def _describe(factory: Any) -> str:
    module = getattr(factory, "__module__", "?")
    return f"{module}:{getattr(factory, '__qualname__', type(factory).__name__)}"


# -- call plugins (entry-point group ``jtd_ai.plugins``) ----------------------------------------

#: The entry-point group of plugins that wrap or watch calls (docs/writing-a-plugin.md).
PLUGIN_GROUP = "jtd_ai.plugins"
#: The core's own plugins, by name: ``module:factory``, on the same hook as any other.
BUILTIN_PLUGINS: Mapping[str, str] = MappingProxyType({
    "fallbacks": "jtd_ai.fallbacks:plugin",
    "cache": "jtd_ai.cache:plugin",
    "log": "jtd_ai.convlog:plugin",
})
#: Keys of a ``[plugins.NAME]`` table the core reads; the others are the plugin's options.
PLUGIN_KEYS = ("enabled", "required")

#: ``factory(manager, options)`` returns an object carrying ``@hookimpl`` methods, or None.
PluginFactory = Callable[[Any, Mapping[str, Any]], Any]


class PluginListing(NamedTuple):
    """A call plugin that can be enabled, known from metadata alone."""

    name: str
    distribution: str | None
    version: str | None
    target: str


def plugin_listings() -> list[PluginListing]:
    """The built-in plugins and every installed one (entry points; nothing is imported)."""
    found = {name: PluginListing(name, None, None, target)
             for name, target in BUILTIN_PLUGINS.items()}
    for name, ep in _plugin_entry_points().items():
        found.setdefault(name, PluginListing(
            name, _dist_name(ep), ep.dist.version if ep.dist is not None else None, ep.value))
    return sorted(found.values())


def _plugin_entry_points() -> dict[str, EntryPoint]:
    from importlib_metadata import entry_points

    found: dict[str, EntryPoint] = {}
    with fork_gate.held():
        eps = list(entry_points(group=PLUGIN_GROUP))
    for ep in eps:
        if ep.name in found:
            log.warning("plugin %r is provided by two distributions (%s, %s); using the first",
                        ep.name, _dist_name(found[ep.name]), _dist_name(ep))
            continue
        found[ep.name] = ep
    return found


def plugin_tables(tables: Any) -> dict[str, dict[str, Any]]:
    """The ``[plugins]`` table checked: one table per plugin, ``enabled`` / ``required``
    true or false; a ConfigurationError naming the key otherwise."""
    if tables is None:
        return {}
    if not isinstance(tables, Mapping):
        raise ConfigurationError("[plugins] must hold one [plugins.NAME] table per plugin")
    checked: dict[str, dict[str, Any]] = {}
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            raise ConfigurationError(f"plugins.{name} must be a table ([plugins.{name}]), not "
                                     f"{type(table).__name__}")
        for key in PLUGIN_KEYS:
            if key in table and not isinstance(table[key], bool):
                raise ConfigurationError(f"plugins.{name}.{key} must be true or false, not "
                                         f"{type(table[key]).__name__}")
        checked[str(name)] = dict(table)
    return checked


def load_plugins(manager: Any, tables: Mapping[str, Mapping[str, Any]],
                 hooks: pluggy.PluginManager, *,
                 also: Iterable[str] = ()) -> tuple[dict[str, Any], list[PluginError]]:
    """Register on ``hooks`` every installed plugin and the built-ins that ``tables`` (the
    ``[plugins.NAME]`` tables) or ``also`` name, except those whose table says ``enabled =
    false``; those without tryfirst/trylast wrap in name order, the first outermost. Returns
    the registered plugins by name and the errors of those that failed to load: a failing
    plugin is left out and the others load, unless its table says ``required = true`` (then
    its PluginError is raised). A table naming no known plugin is a ConfigurationError."""
    from jtd_ai.config import _nearest

    available = _plugin_entry_points()
    known = sorted(set(BUILTIN_PLUGINS) | set(available))
    for name in tables:
        if name not in known:
            raise ConfigurationError(
                f"[plugins.{name}]: no plugin named {name!r}{_nearest(name, known)}; "
                f"available: {', '.join(known) or 'none'}. Install the package that "
                f"provides it (entry-point group {PLUGIN_GROUP})")
    also = frozenset(also)
    wanted = [name for name in known
              if tables.get(name, {}).get("enabled", True)
              and (name not in BUILTIN_PLUGINS or name in tables or name in also)]
    loaded: dict[str, Any] = {}
    errors: list[PluginError] = []
    for name in reversed(wanted):  # pluggy calls the last registered first
        table = tables.get(name, {})
        options = {k: v for k, v in table.items() if k not in PLUGIN_KEYS}
        try:
            made = _make_plugin(name, available.get(name), manager, options)
        except PluginError as error:
            if table.get("required", False):
                raise
            log.warning("%s", error.message)
            errors.append(error)
            continue
        if made is None or hooks.is_registered(made):
            continue
        if hooks.has_plugin(name):  # registered earlier (fallbacks asked for by a call)
            hooks.unregister(name=name)
        hooks.register(made, name=name)
        loaded[name] = made
    return loaded, errors


def _make_plugin(name: str, ep: EntryPoint | None, manager: Any,
                 options: Mapping[str, Any]) -> Any:
    """Import plugin ``name`` and call its factory; PluginError naming its distribution if
    either fails (a ConfigurationError the factory raises about its options goes on)."""
    builtin = BUILTIN_PLUGINS.get(name)
    dist = None if builtin is not None or ep is None else _dist_name(ep)
    target = builtin if builtin is not None else ep.value if ep is not None else "?"
    origin = "jtd-ai-core (built in)" if builtin is not None else dist or "unknown distribution"
    try:
        if builtin is not None:
            import importlib

            module, _, attribute = builtin.partition(":")
            with fork_gate.held():
                factory = getattr(importlib.import_module(module), attribute)
        else:
            assert ep is not None
            with fork_gate.held():
                factory = ep.load()
    except Exception as exc:
        raise PluginError(
            f"plugin {name!r} could not be loaded: {target} of {origin} failed to import "
            f"({type(exc).__name__}: {exc}); it is left out and the other plugins and "
            f"every driver keep working. Reinstall or remove that package, or set enabled "
            f"= false under [plugins.{name}]",
            distribution=dist, entry_point=f"{name} = {target}") from exc
    if not callable(factory):
        raise PluginError(f"plugin {name!r}: {target} of {origin} is not a factory "
                          f"(factory(manager, options) -> plugin object)",
                          distribution=dist, entry_point=f"{name} = {target}")
    try:
        return factory(manager, MappingProxyType(dict(options)))
    except ConfigurationError:
        raise
    except Exception as exc:
        raise PluginError(
            f"plugin {name!r}: the factory {target} of {origin} failed: "
            f"{type(exc).__name__}: {exc}; it is left out, the other plugins and every "
            f"driver keep working",
            distribution=dist, entry_point=f"{name} = {target}") from exc
