"""Subcommands from plugins: entry-point group ``jtd_ai.commands``, hook ``register_commands``.

The group is separate from ``jtd_ai.drivers`` so that building the command line (and
``jtd-ai --help``) imports only these small command modules, never a driver module. A plugin
that fails to load or register is reported on stderr and the others still load.
``JTD_AI_PLUGINS`` (a comma list of entry-point names) restricts these as it does drivers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from importlib_metadata import EntryPoint

__all__ = ["COMMANDS_GROUP", "load_command_plugins"]

COMMANDS_GROUP = "jtd_ai.commands"


def _allowed(env: Mapping[str, str]) -> frozenset[str] | None:
    raw = env.get("JTD_AI_PLUGINS")
    return None if raw is None else frozenset(p.strip() for p in raw.split(",") if p.strip())


def _where(ep: EntryPoint) -> str:
    dist = ep.dist.name if ep.dist is not None else "unknown distribution"
    return f"{ep.name} = {ep.value} ({dist})"


def load_command_plugins(cli: click.Group, env: Mapping[str, str] | None = None) -> list[str]:
    """Let each command plugin add its subcommands to ``cli``; returns the problems found."""
    import pluggy
    from importlib_metadata import entry_points

    from jtd_ai import hookspecs

    allowed = _allowed(os.environ if env is None else env)
    pm = pluggy.PluginManager("jtd_ai")
    pm.add_hookspecs(hookspecs)
    problems: list[str] = []
    for ep in entry_points(group=COMMANDS_GROUP):
        if allowed is not None and ep.name not in allowed:
            continue
        before = set(cli.commands)
        try:
            module = ep.load()
            if not pm.is_registered(module):
                pm.register(module, name=f"commands:{ep.name}")
            others = [p for p in pm.get_plugins() if p is not module]
            pm.subset_hook_caller("register_commands", remove_plugins=others)(cli=cli)
        except Exception as exc:
            for name in set(cli.commands) - before:  # keep no half-registered plugin
                cli.commands.pop(name)
            problems.append(f"command plugin {_where(ep)} failed: {type(exc).__name__}: {exc}")
    return problems
