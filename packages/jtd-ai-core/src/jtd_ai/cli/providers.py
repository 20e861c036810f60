"""``jtd-ai providers``: configured providers, where their settings come from, a key check,
and the presets (every OpenAI-compatible service one ``-p NAME`` away) with what each needs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from jtd_ai.cli.exits import ITEMS_FAILED, OK
from jtd_ai.cli.output import emit_json, table
from jtd_ai.cli.state import state
from jtd_ai.secret import mask_url

if TYPE_CHECKING:
    from jtd_ai.config import ProviderConfig
    from jtd_ai.errors import AIError
    from jtd_ai.manager import AIManager

__all__ = ["providers"]


def _key(manager: AIManager, config: ProviderConfig, requires: bool) -> str:
    """Where the key comes from, never the key itself."""
    if not config.api_key:
        return "missing" if requires else "not needed"
    if manager.settings.providers.get(config.name, {}).get("api_key") is not None:
        return "set (config)"
    if config.api_key_env and manager.env.get(config.api_key_env):
        return f"set (${config.api_key_env})"
    return "set"


def _check(manager: AIManager, name: str) -> tuple[str, bool]:
    """(status, ok) of a credentials check against the provider."""
    from jtd_ai.errors import AIError

    try:
        accepted = manager.driver(name).validate_credentials()
    except AIError as error:
        return f"error: {error}", False
    return ("ok: credentials accepted", True) if accepted else ("rejected: wrong key", False)


def _unusable(manager: AIManager, name: str, error: AIError, configured: bool) -> str:
    """A short status for a provider whose configuration cannot be resolved."""
    from jtd_ai.errors import PluginError

    if isinstance(error, PluginError):
        driver = manager.settings.providers.get(name, {}).get("driver", name)
        return f"error: driver {driver!r} cannot be loaded; see: jtd-ai drivers -c {driver}"
    if configured:
        return f"error: {error}"
    from jtd_ai import presets

    preset = presets.find(name)
    if preset is not None and name not in manager.registry.names():
        return f"not configured: {presets.status(preset, manager.env)[1]}"
    try:
        spec = manager.registry.spec(name)
    except AIError:
        return f"not configured: {error}"
    if spec.requires_api_key and spec.api_key_env:
        names = (spec.api_key_env,) if isinstance(spec.api_key_env, str) else spec.api_key_env
        variables = " or ".join(f"${v}" for v in names)
        return f"not configured: set {variables} or add [providers.{name}]"
    return f"not configured: {error}"


def _describe(manager: AIManager, name: str, *, check: bool,
              default: str | None) -> tuple[dict[str, Any], bool]:
    """One provider's row, and whether it counts as a failure."""
    from jtd_ai.errors import AIError

    configured = name in manager.settings.providers
    row: dict[str, Any] = {"name": name, "default": name == default, "configured": configured}
    try:
        config = manager.provider_config(name)
        spec = manager.registry.spec(config.driver)
    except AIError as error:
        # A provider implied only by an installed driver is not an error when unset.
        row.update(driver=None, base_url=None, preset=None, default_model=None, key=None,
                   status=_unusable(manager, name, error, configured))
        return row, configured
    base_url = mask_url(config.base_url) if config.base_url else None
    requires = config.option("api_key_required", spec.requires_api_key)
    row.update(driver=config.driver, base_url=base_url, preset=config.preset,
               default_model=config.default_model,
               key=_key(manager, config, requires), status="ready")
    if not check:
        return row, False
    row["status"], ok = _check(manager, name)
    return row, not ok


def _preset_rows(manager: AIManager) -> list[dict[str, Any]]:
    """One row per preset: what it points at, its key variables, and whether it is ready
    (its key is set), needs a key, needs a server running, or is shadowed by a driver."""
    from jtd_ai import presets
    from jtd_ai.errors import AIError

    drivers = set(manager.registry.names())
    rows: list[dict[str, Any]] = []
    for name in presets.names():
        preset = presets.PRESETS[name]
        ready, status = presets.status(preset, manager.env)
        if name in drivers:
            ready, status = False, (f"driver {name!r} is installed and wins for -p {name}; "
                                    f"preset = \"{name}\" picks this")
        elif name in manager.settings.providers and not preset.unavailable:
            try:
                manager.provider_config(name)
            except AIError:
                ready, status = False, f"[providers.{name}] is incomplete: see above"
            else:
                ready, status = True, f"configured as [providers.{name}]"
        base_url = preset.base_url or (
            f"${preset.base_url_env}{preset.base_url_env_path}" if preset.base_url_env
            else None)
        key = " / ".join(preset.api_key_env) or None
        rows.append({"name": name, "service": preset.title, "driver": preset.driver,
                     "base_url": base_url, "default_model": preset.default_model,
                     "key": f"{key} (optional)" if key and preset.local else key,
                     "local": preset.local, "ready": ready, "status": status,
                     "docs": preset.docs or None})
    return rows


@click.command()
@click.argument("names", nargs=-1)
@click.option("--check", is_flag=True,
              help="Ask each usable provider whether it accepts its credentials (one cheap "
                   "request each, e.g. the first page of models).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def providers(names: tuple[str, ...], check: bool, as_json: bool) -> None:
    """Configured providers (and one per installed driver or preset whose key is set), with
    driver, base URL, default model and where the key comes from; then the presets and what
    each needs (-p NAME uses one). Keys are never shown. NAMES restricts the list to those
    providers. Exit 1 if a configured or named provider is broken or fails --check."""
    from jtd_ai.errors import AIError

    manager = state().manager
    listed = (list(dict.fromkeys(names)) if names else
              sorted({*manager.providers(), *manager.usable_providers()}))
    try:
        default: str | None = manager.default_provider()
    except AIError:
        default = None
    rows: list[dict[str, Any]] = []
    failed = 0
    for name in listed:
        row, bad = _describe(manager, name, check=check, default=default)
        rows.append(row)
        failed += bad or (bool(names) and row["driver"] is None)  # named, yet unusable
    preset_rows = [] if names else _preset_rows(manager)
    source = manager.settings.source
    if as_json:
        report: dict[str, Any] = {"config_file": str(source) if source else None,
                                  "default": default, "providers": rows}
        if not names:
            report["presets"] = preset_rows
        emit_json(report)
    else:
        table(["provider", "driver", "default", "base url", "model", "key", "status"],
              [[r["name"], r["driver"], r["default"], r["base_url"], r["default_model"],
                r["key"], r["status"]] for r in rows],
              title=f"config file: {source or 'none (environment and defaults only)'}")
        if preset_rows:
            click.echo()
            table(["preset", "service", "base url", "model", "key", "status"],
                  [[r["name"], r["service"], r["base_url"], r["default_model"], r["key"],
                    r["status"]] for r in preset_rows],
                  title='presets: -p NAME, or preset = "NAME" under [providers.NAME]')
    click.get_current_context().exit(ITEMS_FAILED if failed else OK)
