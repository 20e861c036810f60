"""``jtd-ai providers``: configured providers, where their settings come from, and a key check."""

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
        row.update(driver=None, base_url=None, default_model=None, key=None,
                   status=_unusable(manager, name, error, configured))
        return row, configured
    base_url = mask_url(config.base_url) if config.base_url else None
    row.update(driver=config.driver, base_url=base_url,
               default_model=config.default_model,
               key=_key(manager, config, spec.requires_api_key), status="ready")
    if not check:
        return row, False
    row["status"], ok = _check(manager, name)
    return row, not ok


@click.command()
@click.argument("names", nargs=-1)
@click.option("--check", is_flag=True,
              help="Ask each usable provider whether it accepts its credentials (one cheap "
                   "request each, e.g. the first page of models).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def providers(names: tuple[str, ...], check: bool, as_json: bool) -> None:
    """Configured providers (and one per installed driver), with driver, base URL, default
    model and where the key comes from; keys are never shown. NAMES restricts the list.
    Exit 1 if a configured or named provider is broken or fails --check."""
    from jtd_ai.errors import AIError

    manager = state().manager
    listed = list(dict.fromkeys(names)) if names else manager.providers()
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
    if as_json:
        source = manager.settings.source
        emit_json({"config_file": str(source) if source else None, "default": default,
                   "providers": rows})
    else:
        source = manager.settings.source
        table(["provider", "driver", "default", "base url", "model", "key", "status"],
              [[r["name"], r["driver"], r["default"], r["base_url"], r["default_model"],
                r["key"], r["status"]] for r in rows],
              title=f"config file: {source or 'none (environment and defaults only)'}")
    click.get_current_context().exit(ITEMS_FAILED if failed else OK)
