"""Call plugins for jtd-ai's own tests of plugin loading (entry-point group
``jtd_ai.plugins``). Installed in the development environment, so each is inert unless its
``[plugins.NAME]`` table configures it: it must not change any other test's calls.

``factory``: with ``suffix = "..."``, a wrapper that appends the suffix to the last message
(the fake server echoes it back, so a reply shows which wrappers ran, outermost first);
``order = "first"`` / ``"last"`` marks it tryfirst / trylast. ``failing``: with ``fail =
true``, a factory that raises.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

import attrs

from jtd_ai import CallInfo, ChatRequest, Message, Response, hookimpl

__all__ = ["First", "Last", "Plain", "factory", "failing"]


class Plain:
    """Appends ``suffix`` to the last message of each call."""

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix
        self.calls: list[CallInfo] = []

    @hookimpl
    def wrap_call(self, call: CallInfo) -> Generator[ChatRequest, Response, Response] | None:
        return self._wrap(call)

    def _wrap(self, call: CallInfo) -> Generator[ChatRequest, Response, Response] | None:
        if call.operation not in ("chat", "stream") or call.request is None:
            return None
        self.calls.append(call)
        return self._wrapper(call.request)

    def _wrapper(self, request: ChatRequest) -> Generator[ChatRequest, Response, Response]:
        *before, last = request.messages
        changed = attrs.evolve(request, messages=(*before, Message.user(last.text + self.suffix)))
        response = yield changed
        return response


class First(Plain):
    @hookimpl(tryfirst=True)
    def wrap_call(self, call: CallInfo) -> Generator[ChatRequest, Response, Response] | None:
        return self._wrap(call)


class Last(Plain):
    @hookimpl(trylast=True)
    def wrap_call(self, call: CallInfo) -> Generator[ChatRequest, Response, Response] | None:
        return self._wrap(call)


def factory(manager: Any, options: Mapping[str, Any]) -> Plain | None:
    suffix = options.get("suffix")
    if suffix is None:
        return None
    kind = {"first": First, "last": Last}.get(options.get("order", ""), Plain)
    return kind(str(suffix))


def failing(manager: Any, options: Mapping[str, Any]) -> None:
    if options.get("fail"):
        raise RuntimeError("this factory fails on purpose")
