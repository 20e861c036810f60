"""The plugin hooks: the public API a plugin implements. Mark implementations with
``jtd_ai.hookimpl``; wrappers (``@hookimpl(wrapper=True)``) work as pluggy defines them,
except on ``wrap_call``, which is itself the wrapper hook (docs/writing-a-plugin.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from jtd_ai.calls import CallInfo
    from jtd_ai.errors import AIError
    from jtd_ai.middleware import CallWrapper
    from jtd_ai.responses import Response, StreamChunk

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


@hookspec
def wrap_call(call: CallInfo) -> CallWrapper | None:
    """Wrap one chat call (``call.operation`` is ``chat`` or ``stream``), sync or async
    alike: return a generator that yields ``call.request`` (or a changed one) to call
    through, or a :class:`jtd_ai.Via` to call another provider, is sent the Response (or
    thrown the AIError) and returns the Response to give back; or return None to stay out.
    The first result is the outermost wrapper. See :mod:`jtd_ai.middleware`."""


@hookspec
def on_chunk(call: CallInfo, chunk: StreamChunk) -> None:
    """Called with each chunk of a stream as it reaches the caller (chunks replayed from a
    Response a wrapper gave without calling included). Costs nothing unless implemented."""
