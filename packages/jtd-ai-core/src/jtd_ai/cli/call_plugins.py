"""``jtd-ai plugins``: the call plugins (built in and installed), which ones the configuration
enables, and those that failed to load."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from jtd_ai.cli.exits import ITEMS_FAILED, OK, code_for
from jtd_ai.cli.output import echo, emit_json, table
from jtd_ai.cli.state import state

if TYPE_CHECKING:
    from jtd_ai.errors import AIError, PluginError

__all__ = ["plugins"]

#: The distribution the built-in plugins come with.
CORE = "jtd-ai-core"


def _core_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(CORE)
    except PackageNotFoundError:  # pragma: no cover - a source tree run without installing
        return None


def _error_name(error: PluginError) -> str:
    """The plugin a PluginError is about (its entry point reads ``NAME = target``)."""
    return error.entry_point.partition(" = ")[0].strip()


def _enabled(name: str, tables: Mapping[str, Mapping[str, Any]], loaded: Mapping[str, Any],
             failed: Mapping[str, PluginError]) -> bool:
    """Whether the configuration turns plugin ``name`` on: an installed one unless its table
    says ``enabled = false``, a built-in one when a table names it (fallbacks also when a
    provider sets ``fallbacks``, which loads it)."""
    from jtd_ai.plugins import BUILTIN_PLUGINS

    if name in loaded or name in failed:
        return True
    table = tables.get(name)
    if table is None:
        return name not in BUILTIN_PLUGINS
    return bool(table.get("enabled", True))


def _status(name: str, enabled: bool, loaded: Mapping[str, Any],
            failed: Mapping[str, PluginError]) -> str:
    """``loaded`` (wrapping calls), ``failed``, ``idle`` (enabled, but its factory found
    nothing to do with these options) or ``off``."""
    if name in failed:
        return "failed"
    if name in loaded:
        return "loaded"
    return "idle" if enabled else "off"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins(as_json: bool) -> None:
    """Call plugins: the built-in ones (fallbacks, cache, log) and those installed (entry-point
    group jtd_ai.plugins), with their package and version, whether the configuration enables
    them ([plugins.NAME]), and why one failed to load. Loading them runs their factories (as
    the first call would); nothing is sent. Exit 1 if a plugin failed to load."""
    from jtd_ai.errors import AIError
    from jtd_ai.plugins import BUILTIN_PLUGINS, plugin_listings, plugin_tables

    manager = state().manager
    problem: AIError | None = None
    tables: Mapping[str, Mapping[str, Any]] = {}
    loaded: Mapping[str, Any] = {}
    failed: dict[str, PluginError] = {}
    try:
        tables = plugin_tables(manager.settings.tables.get("plugins"))
        loaded = manager.load_plugins()
        failed = {_error_name(e): e for e in manager.plugin_errors}
    except AIError as exc:  # an unknown [plugins.X], bad options, a required plugin failing
        problem = exc
    core_version = _core_version()
    rows: list[dict[str, Any]] = []
    for listing in plugin_listings():
        name = listing.name
        builtin = name in BUILTIN_PLUGINS
        row: dict[str, Any] = {
            "name": name, "builtin": builtin,
            "distribution": CORE if builtin else listing.distribution,
            "version": core_version if builtin else listing.version,
            "entry_point": listing.target, "enabled": None, "status": "unknown",
            "error": None}
        if problem is None:  # else the configuration could not be read: see the error
            row["enabled"] = _enabled(name, tables, loaded, failed)
            row["status"] = _status(name, row["enabled"], loaded, failed)
            if name in failed:
                row["error"] = failed[name].message
        rows.append(row)
    if as_json:
        emit_json({"plugins": rows, "error": _words(problem)})
    else:
        table(["plugin", "package", "version", "enabled", "status", "entry point"],
              [[r["name"], f"{r['distribution']} (built in)" if r["builtin"]
                else r["distribution"], r["version"], r["enabled"], r["status"],
                r["entry_point"]] for r in rows])
        for row in rows:
            if row["error"]:
                echo(f"error: {row['error']}", err=True)
    if problem is not None:
        echo(f"error: {problem}", err=True)
        click.get_current_context().exit(code_for(problem))
    click.get_current_context().exit(ITEMS_FAILED if any(r["error"] for r in rows) else OK)


def _words(error: AIError | None) -> str | None:
    return None if error is None else str(error)
