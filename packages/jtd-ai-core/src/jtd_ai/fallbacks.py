"""Fallbacks: a call that fails with an error meaning "try elsewhere" is tried on the next
target, a built-in plugin on the public ``wrap_call`` hook (:mod:`jtd_ai.middleware`).

Targets are ``"provider"`` (its default model) or ``"provider:model"``, from the provider's
``fallbacks = [...]`` setting or from the call: ``send_message(..., fallbacks=[...])``,
``Conversation.fallbacks(...)``; a call's list replaces the provider's (``[]``: none).
``[plugins.fallbacks] enabled = false`` turns them off: the providers' lists are ignored and a
call's list is a ValidationError.

* Tried elsewhere: :class:`~jtd_ai.ProviderUnavailableError` and
  :class:`~jtd_ai.RateLimitError` (each after the provider's own retries),
  :class:`~jtd_ai.QuotaExceededError`, :class:`~jtd_ai.TimeoutError`,
  :class:`~jtd_ai.ModelNotFoundError`.
* Raised at once: everything else. A request the provider refused as bad would be refused
  anywhere; :class:`~jtd_ai.InvalidCredentialsError` is a configuration fault to fix, and
  quietly moving every call (and its spend) to another provider would hide it; a content
  filter or a budget is a decision, not an outage.

Each target is that provider's own full call (hooks, retries, a ledger row per attempt). The
reply says who answered (``Response.provider``, ``.model``) and who failed before
(``Response.tried``). When every target fails, the last error is raised, with a note naming
each target tried and its error. A stream falls back only before its first chunk reached the
caller. A fallback's call does not run this plugin again (a plugin never re-enters itself
through Via), so lists that name each other end.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from jtd_ai.errors import (
    AIError,
    ConfigurationError,
    ModelNotFoundError,
    ProviderUnavailableError,
    RateLimitError,
    TimeoutError,
    ValidationError,
)
from jtd_ai.hookspecs import hookimpl
from jtd_ai.middleware import Via
from jtd_ai.responses import TriedProvider

if TYPE_CHECKING:
    import pluggy

    from jtd_ai.calls import CallInfo
    from jtd_ai.driver import Driver
    from jtd_ai.middleware import CallWrapper
    from jtd_ai.responses import Response

__all__ = ["ELSEWHERE", "NAME", "Fallbacks", "follow_config", "plugin", "prepare",
           "split_target"]

#: The errors that send a call to its next target.
ELSEWHERE: tuple[type[AIError], ...] = (ProviderUnavailableError, RateLimitError,
                                        TimeoutError, ModelNotFoundError)
#: The plugin's name (``[plugins.fallbacks]``, ``hooks.get_plugin("fallbacks")``).
NAME = "fallbacks"
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # a thread of the parent may have held it


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


def split_target(target: str) -> tuple[str, str | None]:
    """``"openai:gpt-4o-mini"`` as ``("openai", "gpt-4o-mini")``; ``"gemini"`` as
    ``("gemini", None)``."""
    provider, _, model = target.partition(":")
    return provider, model or None


def check_targets(value: Any, setting: str,
                  error: Callable[[str], AIError] = ConfigurationError) -> tuple[str, ...]:
    """``value`` as a tuple of targets, or ``error`` naming ``setting``."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise error(f"{setting} must be a list of \"provider\" or \"provider:model\" "
                    f"strings, not {type(value).__name__}")
    for target in value:
        if not isinstance(target, str) or not split_target(target)[0] or target.endswith(":"):
            shown = repr(target[:60]) if isinstance(target, str) else type(target).__name__
            raise error(f"{setting}: each target is \"provider\" or \"provider:model\", not "
                        f"{shown}")
    return tuple(value)


def check_known(setting: str, targets: Iterable[str], known: Iterable[str]) -> None:
    """ConfigurationError for a target naming no provider in ``known``, suggesting the
    nearest name."""
    from jtd_ai.config import _nearest

    names = sorted(set(known))
    for target in targets:
        provider = split_target(target)[0]
        if provider not in names:
            raise ConfigurationError(
                f"{setting}: no provider named {provider[:60]!r}{_nearest(provider, names)}; "
                f"providers: {', '.join(names) or 'none'}")


def prepare(driver: Driver, targets: Any) -> tuple[str, ...]:
    """A call's ``fallbacks=`` checked before anything is sent (each target's provider is
    resolved now), with the plugin registered on the driver's hooks."""
    checked = check_targets(targets, "fallbacks",
                            lambda message: ValidationError(message, field="fallbacks"))
    if not checked:
        return checked
    if driver._hooks is not None and driver._hooks.is_blocked(NAME):
        raise ValidationError(
            "fallbacks=[...] cannot be used: the fallbacks plugin is disabled in config "
            "([plugins.fallbacks] enabled = false)", field="fallbacks")
    if driver.resolver is None:
        raise ValidationError(
            f"fallbacks need a driver built by an AIManager (driver {driver.provider!r} "
            f"knows no other provider)", field="fallbacks")
    for target in checked:
        driver.resolver(split_target(target)[0])  # ConfigurationError if it cannot be used
    register(driver._hooks)
    return checked


def follow_config(hooks: pluggy.PluginManager, table: Mapping[str, Any] | None) -> None:
    """Block the plugin on ``hooks`` while its ``[plugins.fallbacks]`` table says ``enabled =
    false`` (drivers then ignore the providers' lists and refuse a call's ``fallbacks=``);
    unblock it when the configuration no longer does."""
    if table is not None and table.get("enabled", True) is False:
        hooks.set_blocked(NAME)  # also unregisters one a call registered earlier
    elif hooks.is_blocked(NAME):
        hooks.unblock(NAME)


def register(hooks: pluggy.PluginManager | None) -> None:
    """Register the plugin on ``hooks`` unless it is there already."""
    if hooks is None or hooks.has_plugin(NAME):
        return
    with _lock:
        if not hooks.has_plugin(NAME):
            hooks.register(Fallbacks(), name=NAME)


def plugin(manager: Any, options: Mapping[str, Any]) -> Fallbacks:
    """The plugin factory (``[plugins.fallbacks]``; it takes no options)."""
    if options:
        from jtd_ai.config import _nearest

        key = next(iter(options))
        raise ConfigurationError(f"plugins.fallbacks: unknown key {key!r}"
                                 f"{_nearest(str(key), ['enabled'])}; the targets are set "
                                 f"per provider (fallbacks = [...]) or per call")
    return Fallbacks()


class Fallbacks:
    """Tries a failed call's fallback targets in order (``CallInfo.fallbacks``)."""

    @hookimpl(tryfirst=True)
    def wrap_call(self, call: CallInfo) -> CallWrapper | None:
        if not call.fallbacks or call.operation not in ("chat", "stream"):
            return None
        return _fall_back(call, call.fallbacks)


def _fall_back(call: CallInfo, targets: tuple[str, ...]) -> CallWrapper:
    request = call.request
    assert request is not None
    tried: list[TriedProvider] = []
    try:
        response: Response = yield request
        return response
    except ELSEWHERE as error:
        tried.append(TriedProvider(call.provider, request.model, type(error).__name__))
        last: AIError = error
    for target in targets:
        provider, model = split_target(target)
        try:
            response = yield Via(provider, model=model, request=request)
        except ELSEWHERE as error:
            tried.append(TriedProvider(provider, model, type(error).__name__))
            last = error
            continue
        return attrs.evolve(response, tried=(*tried, *response.tried))
    last.add_note("fallbacks tried, in order: " + ", ".join(
        f"{t.provider}{':' + t.model if t.model else ''} ({t.error})" for t in tried))
    raise last
