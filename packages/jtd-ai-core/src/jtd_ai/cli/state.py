"""What every command shares: the ``--config`` choice and one manager built on first use."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from jtd_ai.manager import AIManager

__all__ = ["CliState", "state"]


class CliState:
    """Per-invocation state; the manager reads the configuration only when a command asks."""

    def __init__(self, config: Path | None = None) -> None:
        self.config = config
        self._manager: AIManager | None = None

    @property
    def manager(self) -> AIManager:
        if self._manager is None:
            from jtd_ai.manager import AIManager

            self._manager = AIManager(config_file=self.config)
        return self._manager

    def close(self) -> None:
        if self._manager is not None:
            self._manager.close()
            self._manager = None


def state(ctx: click.Context | None = None) -> CliState:
    """The CliState of the running command (made on the spot when the group was skipped)."""
    ctx = ctx or click.get_current_context()
    found = ctx.find_object(CliState)
    if found is None:
        root = ctx.find_root()
        found = root.ensure_object(CliState)
        root.call_on_close(found.close)
    return found
