"""Driver discovery: lazy and addressed by name.

Listing reads entry-point metadata only (group ``jtd_ai.drivers``, the entry point's name is
the driver's name). A driver module is imported the first time that driver is used. A plugin
that fails to import raises a :class:`~jtd_ai.errors.PluginError` naming its distribution and
entry point, and every other driver stays usable. ``JTD_AI_PLUGINS`` (comma list; empty
means none) restricts which entry points may load.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from jtd_ai.errors import ConfigurationError, PluginError

if TYPE_CHECKING:
    import pluggy
    from importlib_metadata import EntryPoint

    from jtd_ai.config import ProviderConfig

__all__ = ["ENTRY_POINT_GROUP", "DriverListing", "DriverRegistry", "DriverSpec"]

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

    # -- discovery (metadata only) --------------------------------------------------------

    def _discover(self) -> dict[str, EntryPoint]:
        if self._entry_points is None:
            from importlib_metadata import entry_points

            found: dict[str, EntryPoint] = {}
            for ep in entry_points(group=ENTRY_POINT_GROUP):
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
