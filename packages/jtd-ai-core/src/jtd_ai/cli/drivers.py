"""``jtd-ai drivers``: installed driver packages from metadata; capabilities only on request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from jtd_ai.cli.exits import ITEMS_FAILED, OK
from jtd_ai.cli.output import emit_json, table
from jtd_ai.cli.state import state

if TYPE_CHECKING:
    from jtd_ai.plugins import DriverRegistry

__all__ = ["drivers"]


def _details(registry: DriverRegistry, name: str) -> dict[str, Any]:
    """Load driver ``name`` (importing its module) and describe it; needs no key."""
    from jtd_ai.config import ProviderConfig
    from jtd_ai.protocol import ChatProtocol

    spec = registry.spec(name)
    config = ProviderConfig(name=name, driver=name,
                            base_url=spec.default_base_url or "http://localhost",
                            default_model=spec.default_model)
    made = spec.factory(config)
    protocol = made if isinstance(made, ChatProtocol) else getattr(made, "protocol", None)
    caps = protocol.capabilities(None).declared() if protocol is not None else {}
    return {
        "description": spec.description or None,
        "default_model": spec.default_model,
        "default_base_url": spec.default_base_url,
        "api_key_env": spec.api_key_env,
        "requires_api_key": spec.requires_api_key,
        "capabilities": sorted(k for k, v in caps.items() if v),
    }


@click.command()
@click.argument("names", nargs=-1)
@click.option("-c", "--capabilities", "load", is_flag=True,
              help="Also load each listed driver and show its capabilities, defaults and "
                   "key variable (imports those driver modules).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def drivers(names: tuple[str, ...], load: bool, as_json: bool) -> None:
    """Installed drivers (name, package, version, entry point), read from package metadata
    without importing any driver; NAMES restricts the list."""
    from jtd_ai.errors import AIError

    registry = state().manager.registry
    listings = [d for d in registry.listings() if not names or d.name in names]
    missing = sorted(set(names) - {d.name for d in listings})
    rows: list[dict[str, Any]] = []
    failed = 0
    for d in listings:
        row: dict[str, Any] = {"name": d.name, "distribution": d.distribution,
                               "version": d.version, "entry_point": d.target}
        if load:
            try:
                row.update(_details(registry, d.name))
            except Exception as error:  # a broken plugin must not hide the others
                failed += 1
                row["error"] = (str(error) if isinstance(error, AIError)
                                else f"{type(error).__name__}: {error}")
        rows.append(row)
    if as_json:
        emit_json({"drivers": rows, "missing": missing})
    elif load:
        table(["driver", "package", "version", "capabilities", "default model", "key variable"],
              [[r["name"], r["distribution"], r["version"],
                ", ".join(r.get("capabilities", ())) or r.get("error"), r.get("default_model"),
                _key_variables(r.get("api_key_env")) if r.get("requires_api_key")
                else "(not needed)"]
               for r in rows])
    else:
        table(["driver", "package", "version", "entry point"],
              [[r["name"], r["distribution"], r["version"], r["entry_point"]] for r in rows])
    for name in missing:
        click.echo(f"error: no driver named {name!r} is installed", err=True)
    click.get_current_context().exit(ITEMS_FAILED if failed or missing else OK)


def _key_variables(value: Any) -> str | None:
    """``OPENAI_API_KEY``, or ``GEMINI_API_KEY / GOOGLE_API_KEY`` for several."""
    if value is None or isinstance(value, str):
        return value
    return " / ".join(value)
