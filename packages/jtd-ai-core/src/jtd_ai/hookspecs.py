"""The plugin hooks: the public API a plugin implements. Mark implementations with
``jtd_ai.hookimpl``; wrappers (``@hookimpl(wrapper=True)``) work as pluggy defines them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from jtd_ai.calls import CallInfo
    from jtd_ai.errors import AIError
    from jtd_ai.responses import Response

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("jtd_ai")
hookimpl = pluggy.HookimplMarker("jtd_ai")


@hookspec
def register_drivers(register: Callable[..., Any]) -> None:
    """Register drivers: ``register(name, factory, api_key_env=..., ...)`` for each one."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add subcommands to the ``jtd-ai`` click group ``cli`` (entry-point group
    ``jtd_ai.commands``; keep that module light: ``jtd-ai --help`` imports it)."""


@hookspec
def before_request(call: CallInfo) -> None:
    """Called before each call is sent (once per call, not per retry attempt)."""


@hookspec
def after_response(call: CallInfo, response: Response) -> None:
    """Called with the complete Response of each successful call or finished stream."""


@hookspec
def on_error(call: CallInfo, error: AIError) -> None:
    """Called with the error that ended a call, after retries were exhausted."""
