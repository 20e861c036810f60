"""Which providers a command works on when none are named."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jtd_ai.manager import AIManager

__all__ = ["chosen_providers"]


def chosen_providers(manager: AIManager, named: Sequence[str]) -> list[str]:
    """The providers named; else every configured one; else the default named by the
    config or ``JTD_AI_DEFAULT_PROVIDER``; else every one an API key in the environment
    makes usable. With none of these, the error that says ``use -p NAME`` (exit 2)."""
    if named:
        return list(dict.fromkeys(named))
    configured = list(manager.settings.providers)
    if configured:
        return configured
    if manager.settings.default:
        return [manager.settings.default]
    return manager.usable_providers() or [manager.default_provider()]
