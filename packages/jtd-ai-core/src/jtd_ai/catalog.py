"""The model catalog: every model each provider has listed, kept in the store.

A listing is applied as an upsert: new models are added, changed ones updated, and models
the provider no longer lists are marked inactive (never deleted, so history stays). Each
applied listing dates the provider's catalog (``provider_syncs``), which is what the TTL of
``get_available_models`` is measured against. A dry run computes the same report and
writes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from attrs import field, frozen

from jtd_ai.modelinfo import Capabilities, ModelInfo, ModelKind
from jtd_ai.pricing import Pricing

if TYPE_CHECKING:
    from jtd_ai.store import AnyStore

__all__ = ["Catalog", "ProviderSync", "SyncReport", "utc_now"]

_COLUMNS = ("kind", "display_name", "context_length", "max_output_tokens", "capabilities",
            "pricing", "created", "owned_by")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _ids(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@frozen
class ProviderSync:
    """What one provider's sync changed (or would change, in a dry run), or why it failed."""

    provider: str
    added: tuple[str, ...] = field(default=(), converter=_ids)
    updated: tuple[str, ...] = field(default=(), converter=_ids)
    deactivated: tuple[str, ...] = field(default=(), converter=_ids)
    unchanged: int = 0
    error: str | None = None
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def _syncs(value: Iterable[ProviderSync]) -> tuple[ProviderSync, ...]:
    return tuple(value)


@frozen
class SyncReport:
    """The result of syncing several providers; one failing never hides the others."""

    providers: tuple[ProviderSync, ...] = field(default=(), converter=_syncs)

    def __getitem__(self, provider: str) -> ProviderSync:
        for entry in self.providers:
            if entry.provider == provider:
                return entry
        raise KeyError(provider)

    @property
    def failed(self) -> dict[str, str]:
        """Providers whose sync failed, with the reason."""
        return {p.provider: p.error for p in self.providers if p.error is not None}

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        """One line per provider, for a terminal."""
        lines = []
        for p in self.providers:
            if p.error is not None:
                lines.append(f"{p.provider}: failed: {p.error}")
            else:
                verb = "would add" if p.dry_run else "added"
                lines.append(f"{p.provider}: {verb} {len(p.added)}, updated {len(p.updated)}, "
                             f"deactivated {len(p.deactivated)}, unchanged {p.unchanged}")
        return "\n".join(lines)


def _row(model: ModelInfo) -> dict[str, Any]:
    """The stored columns of ``model`` (JSON for the nested values)."""
    from jtd_ai.convert import unstructure

    return {
        "kind": str(model.kind),
        "display_name": model.display_name,
        "context_length": model.context_length,
        "max_output_tokens": model.max_output_tokens,
        "capabilities": json.dumps(unstructure(model.capabilities), sort_keys=True),
        "pricing": (json.dumps(unstructure(model.pricing), sort_keys=True)
                    if model.pricing is not None else None),
        "created": _iso(model.created) if model.created is not None else None,
        "owned_by": model.owned_by,
    }


def _model(provider: str, model_id: str, values: Sequence[Any]) -> ModelInfo:
    from jtd_ai.convert import converter

    data = dict(zip(_COLUMNS, values, strict=True))
    conv = converter()
    try:
        kind = ModelKind(data["kind"])
    except ValueError:
        kind = ModelKind.UNKNOWN
    return ModelInfo(
        id=model_id, provider=provider, kind=kind, display_name=data["display_name"],
        context_length=data["context_length"], max_output_tokens=data["max_output_tokens"],
        capabilities=conv.structure(json.loads(data["capabilities"]), Capabilities),
        pricing=(conv.structure(json.loads(data["pricing"]), Pricing)
                 if data["pricing"] else None),
        created=dt.datetime.fromisoformat(data["created"]) if data["created"] else None,
        owned_by=data["owned_by"],
    )


class Catalog:
    """Models by provider in the store: apply listings, read them back, with their prices."""

    def __init__(self, store: AnyStore) -> None:
        self.store = store

    def apply(self, provider: str, models: Iterable[ModelInfo], *, dry_run: bool = False,
              now: dt.datetime | None = None) -> ProviderSync:
        """Upsert a complete listing of ``provider``; models missing from it go inactive."""
        listed: dict[str, dict[str, Any]] = {}
        for model in models:
            listed[model.id] = _row(model)
        stamp = _iso(now or utc_now())
        # One listing applied at a time per database (PostgreSQL: an advisory lock; SQLite's
        # write transactions are exclusive anyway), so two hosts syncing at once agree.
        with self.store.write(lock="catalog") as conn:
            existing = {
                row[0]: (row[1:-1], bool(row[-1]))
                for row in conn.execute(
                    f"SELECT model, {', '.join(_COLUMNS)}, active FROM models "  # noqa: S608
                    f"WHERE provider = ?", (provider,))
            }
            added, updated, unchanged = [], [], 0
            for model_id, row in listed.items():
                old = existing.get(model_id)
                if old is None:
                    added.append(model_id)
                elif tuple(row[c] for c in _COLUMNS) != tuple(old[0]) or not old[1]:
                    updated.append(model_id)
                else:
                    unchanged += 1
            gone = sorted(m for m, (_, active) in existing.items() if active and m not in listed)
            if not dry_run:
                self._write(conn, provider, listed, added, stamp, gone)
        return ProviderSync(provider, sorted(added), sorted(updated), gone, unchanged,
                            dry_run=dry_run)

    def _write(self, conn: Any, provider: str, listed: dict[str, dict[str, Any]],
               added: list[str], stamp: str, gone: list[str]) -> None:
        fresh = set(added)
        for model_id, row in listed.items():
            values = [row[c] for c in _COLUMNS]
            if model_id in fresh:
                conn.execute(
                    f"INSERT INTO models (provider, model, {', '.join(_COLUMNS)}, active, "  # noqa: S608
                    f"first_seen, synced_at) VALUES (?, ?, {', '.join('?' * len(_COLUMNS))}, "
                    f"1, ?, ?)", (provider, model_id, *values, stamp, stamp))
            else:
                sets = ", ".join(f"{c} = ?" for c in _COLUMNS)
                conn.execute(
                    f"UPDATE models SET {sets}, active = 1, deactivated_at = NULL, "  # noqa: S608
                    f"synced_at = ? WHERE provider = ? AND model = ?",
                    (*values, stamp, provider, model_id))
        conn.executemany(
            "UPDATE models SET active = 0, deactivated_at = ? WHERE provider = ? AND model = ?",
            [(stamp, provider, model_id) for model_id in gone])
        conn.execute(
            "INSERT INTO provider_syncs (provider, synced_at, models) VALUES (?, ?, ?) "
            "ON CONFLICT (provider) DO UPDATE SET synced_at = excluded.synced_at, "
            "models = excluded.models", (provider, stamp, len(listed)))

    def synced_at(self, provider: str) -> dt.datetime | None:
        """When ``provider``'s listing was last applied, or None if never."""
        rows = self.store.query("SELECT synced_at FROM provider_syncs WHERE provider = ?",
                                (provider,))
        return dt.datetime.fromisoformat(str(rows[0][0])) if rows else None

    def models(self, provider: str, *, include_inactive: bool = False) -> list[ModelInfo]:
        """``provider``'s models as last listed (active only unless asked), by id."""
        where = "" if include_inactive else " AND active = 1"
        rows = self.store.query(
            f"SELECT model, {', '.join(_COLUMNS)} FROM models "  # noqa: S608
            f"WHERE provider = ?{where} ORDER BY model", (provider,))
        return [_model(provider, str(row[0]), row[1:]) for row in rows]

    def is_active(self, provider: str, model: str) -> bool | None:
        """True/False for a model the catalog knows, None for one it has never seen."""
        rows = self.store.query("SELECT active FROM models WHERE provider = ? AND model = ?",
                                (provider, model))
        return bool(rows[0][0]) if rows else None

    def prices(self, provider: str) -> dict[str, Pricing]:
        """The prices ``provider`` gave with its active models, by model id."""
        from jtd_ai.convert import converter

        rows = self.store.query(
            "SELECT model, pricing FROM models WHERE provider = ? AND active = 1 "
            "AND pricing IS NOT NULL", (provider,))
        conv = converter()
        return {str(model): conv.structure(json.loads(str(data)), Pricing)
                for model, data in rows}

    def providers(self) -> list[str]:
        """Providers whose listing the catalog holds."""
        return [str(r[0]) for r in self.store.query(
            "SELECT provider FROM provider_syncs ORDER BY provider")]
