"""Which providers a command works on when none are named."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jtd_ai.manager import AIManager

__all__ = ["chosen_providers"]


def chosen_providers(manager: AIManager, named: Sequence[str]) -> list[str]:
    """The providers named, else every configured one, else the default provider
    (ConfigurationError, exit 2, when there is none)."""
    if named:
        return list(dict.fromkeys(named))
    configured = list(manager.settings.providers)
    return configured or [manager.default_provider()]
