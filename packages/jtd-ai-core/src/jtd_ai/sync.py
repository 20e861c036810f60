"""Syncing the catalog for several providers at once, each failure kept to its provider."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from jtd_ai.catalog import ProviderSync, SyncReport

if TYPE_CHECKING:
    from jtd_ai.manager import AIManager
    from jtd_ai.modelinfo import ModelInfo

__all__ = ["async_providers", "sync_providers"]


def _names(manager: AIManager, providers: Iterable[str] | None) -> list[str]:
    return list(dict.fromkeys(providers)) if providers is not None else manager.providers()


def _failure(name: str, exc: BaseException, dry_run: bool) -> ProviderSync:
    # AIError messages are already redacted; other errors are a driver's bug, named as such.
    from jtd_ai.errors import AIError
    from jtd_ai.secret import redact

    text = str(exc) if isinstance(exc, AIError) else redact(f"{type(exc).__name__}: {exc}")
    return ProviderSync(name, error=text or type(exc).__name__, dry_run=dry_run)


def _apply(driver: Any, name: str, models: list[ModelInfo], dry_run: bool) -> ProviderSync:
    catalog = getattr(driver, "catalog", None)
    if catalog is None:  # a driver object the manager could not attach a catalog to
        return ProviderSync(name, error="this driver has no catalog attached", dry_run=dry_run)
    result: ProviderSync = catalog.listed(models, dry_run=dry_run)
    return result


def sync_providers(manager: AIManager, providers: Iterable[str] | None, *,
                   dry_run: bool = False) -> SyncReport:
    """Fetch each provider's models and apply them to the catalog, one after another."""
    results = []
    for name in _names(manager, providers):
        try:
            driver = manager.driver(name)
            models = driver.fetch_models()
        except Exception as exc:
            results.append(_failure(name, exc, dry_run))
            continue
        results.append(_apply(driver, name, models, dry_run))
    return SyncReport(results)


async def async_providers(manager: AIManager, providers: Iterable[str] | None, *,
                          dry_run: bool = False) -> SyncReport:
    """Like :func:`sync_providers`, asking the providers concurrently."""
    import asyncio

    names = _names(manager, providers)

    async def one(name: str) -> ProviderSync:
        try:
            driver = manager.driver(name)
            models = await driver.afetch_models()
        except Exception as exc:
            return _failure(name, exc, dry_run)
        return _apply(driver, name, models, dry_run)

    return SyncReport(await asyncio.gather(*(one(n) for n in names)))
