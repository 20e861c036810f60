"""``jtd-ai models list|sync``: the models each provider offers, and the catalog kept of them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from jtd_ai.cli.exits import ITEMS_FAILED, OK
from jtd_ai.cli.output import emit_json, money, table
from jtd_ai.cli.selection import chosen_providers
from jtd_ai.cli.state import state

if TYPE_CHECKING:
    from jtd_ai.manager import AIManager
    from jtd_ai.modelinfo import ModelInfo
    from jtd_ai.pricing import Pricing

__all__ = ["models"]

_PROVIDERS = click.option("-p", "--provider", "providers", multiple=True,
                          help="A provider (repeatable; default: every configured provider).")


def _model_dict(model: ModelInfo, price: Pricing | None) -> dict[str, Any]:
    caps = model.capabilities.declared()
    return {
        "provider": model.provider, "id": model.id, "kind": str(model.kind),
        "display_name": model.display_name, "context_length": model.context_length,
        "max_output_tokens": model.max_output_tokens,
        "capabilities": sorted(k for k, v in caps.items() if v),
        "input_per_million": str(price.input) if price else None,
        "output_per_million": str(price.output) if price else None,
        "price_source": price.source if price else None,
    }


def _listing(manager: AIManager, name: str, *, refresh: bool,
             offline: bool) -> list[dict[str, Any]]:
    if offline:
        return [_model_dict(m, m.pricing) for m in manager.catalog.models(name)]
    driver = manager.driver(name)
    found = driver.get_available_models(refresh=refresh)
    return [_model_dict(m, m.pricing or driver.pricing(m.id)) for m in found]


@click.group()
def models() -> None:
    """List the models of providers, or sync them into the local catalog."""


@models.command("list")
@_PROVIDERS
@click.option("--refresh", is_flag=True, help="Ask the provider now, not the catalog's copy.")
@click.option("--offline", is_flag=True,
              help="Read only the local catalog (no request); see 'models sync'.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_models(providers: tuple[str, ...], refresh: bool, offline: bool,
                as_json: bool) -> None:
    """Models with their kind, context length, capabilities and price per million tokens."""
    from decimal import Decimal

    from jtd_ai.errors import AIError

    manager = state().manager
    rows: list[dict[str, Any]] = []
    failed: dict[str, str] = {}
    names = chosen_providers(manager, providers)
    for name in names:
        try:
            rows.extend(_listing(manager, name, refresh=refresh, offline=offline))
        except AIError as error:
            if len(names) == 1:
                raise
            failed[name] = str(error)
    if as_json:
        emit_json({"models": rows, "failed": failed})
    else:
        table(["provider", "model", "kind", "context", "in $/M", "out $/M", "capabilities"],
              [[r["provider"], r["id"], r["kind"], r["context_length"],
                money(Decimal(r["input_per_million"])) if r["input_per_million"] else None,
                money(Decimal(r["output_per_million"])) if r["output_per_million"] else None,
                ", ".join(r["capabilities"]) or None] for r in rows])
    for name, reason in failed.items():
        click.echo(f"error: {name}: {reason}", err=True)
    click.get_current_context().exit(ITEMS_FAILED if failed else OK)


@models.command("sync")
@_PROVIDERS
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def sync_models(providers: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    """Ask each provider for its models and store them in the catalog (added, updated,
    deactivated); one provider failing does not stop the others."""
    manager = state().manager
    report = manager.sync_models(chosen_providers(manager, providers), dry_run=dry_run)
    rows: list[dict[str, Any]] = [
        {"provider": p.provider, "added": list(p.added), "updated": list(p.updated),
         "deactivated": list(p.deactivated), "unchanged": p.unchanged, "error": p.error,
         "dry_run": p.dry_run} for p in report.providers]
    if as_json:
        emit_json({"providers": rows})
    else:
        table(["provider", "added", "updated", "deactivated", "unchanged", "error"],
              [[r["provider"], len(r["added"]), len(r["updated"]), len(r["deactivated"]),
                r["unchanged"], r["error"]] for r in rows],
              title="dry run: nothing written" if dry_run else None)
    click.get_current_context().exit(ITEMS_FAILED if report.failed else OK)
