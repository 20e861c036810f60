"""An example jtd-ai call plugin: text matching configured patterns is replaced before any
request leaves, for every call of every driver, sent or streamed, sync or async.

    [plugins.redact]
    patterns = ['[\\w.+-]+@[\\w-]+\\.[\\w.]+']   # regular expressions (here: e-mail addresses)
    replacement = "[redacted]"                 # optional

Installed, it does nothing until ``patterns`` is set (an installed plugin is on in every
manager: one that changed requests without being asked to would surprise). It wraps calls
through jtd-ai's ``wrap_call`` hook: the wrapper yields the changed request, is sent the reply
and gives it back. See docs/writing-a-plugin.md.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Mapping, Sequence
from typing import Any

import attrs

from jtd_ai import (
    CallInfo,
    ChatRequest,
    ConfigurationError,
    Message,
    Response,
    TextPart,
    hookimpl,
)

__all__ = ["Redact", "plugin"]

Wrapper = Generator[ChatRequest, Response, Response]


class Redact:
    """Replaces every match of ``patterns`` in the text of each message of a request."""

    def __init__(self, patterns: Sequence[re.Pattern[str]], replacement: str) -> None:
        self.patterns = tuple(patterns)
        self.replacement = replacement
        #: How many pieces of text were replaced, over every call so far.
        self.redacted = 0

    # Outermost (tryfirst): every other plugin, a reply cache or a call log included, sees
    # the redacted request only.
    @hookimpl(tryfirst=True)
    def wrap_call(self, call: CallInfo) -> Wrapper | None:
        if call.request is None:
            return None
        changed = self.redact(call.request)
        if changed is call.request:
            return None  # nothing to hide: stay out of this call
        return _through(changed)

    def redact(self, request: ChatRequest) -> ChatRequest:
        """``request`` with the matches replaced (the same object when nothing matched)."""
        messages = tuple(self._message(m) for m in request.messages)
        if all(new is old for new, old in zip(messages, request.messages, strict=True)):
            return request
        return attrs.evolve(request, messages=messages)

    def _message(self, message: Message) -> Message:
        parts = tuple(self._part(p) for p in message.parts)
        if all(new is old for new, old in zip(parts, message.parts, strict=True)):
            return message
        return attrs.evolve(message, parts=parts)

    def _part(self, part: Any) -> Any:
        if not isinstance(part, TextPart):
            return part
        text, count = part.text, 0
        for pattern in self.patterns:
            text, found = pattern.subn(self.replacement, text)
            count += found
        if not count:
            return part
        self.redacted += count
        return TextPart(text)


def _through(request: ChatRequest) -> Wrapper:
    response = yield request
    return response


def plugin(manager: Any, options: Mapping[str, Any]) -> Redact | None:
    """The entry point's factory: the plugin from its ``[plugins.redact]`` options, or None
    (nothing to do) when no pattern is set. A bad option is a ConfigurationError."""
    unknown = sorted(set(options) - {"patterns", "replacement"})
    if unknown:
        raise ConfigurationError(f"plugins.redact: unknown key {unknown[0]!r}; known: "
                                 f"patterns, replacement")
    patterns = options.get("patterns", [])
    replacement = options.get("replacement", "[redacted]")
    if not isinstance(replacement, str):
        raise ConfigurationError("plugins.redact.replacement must be a string")
    if isinstance(patterns, str) or not isinstance(patterns, Sequence):
        raise ConfigurationError("plugins.redact.patterns must be a list of regular "
                                 "expressions")
    compiled = []
    for index, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or not pattern:
            raise ConfigurationError(f"plugins.redact.patterns[{index}] must be a non-empty "
                                     f"string")
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ConfigurationError(f"plugins.redact.patterns[{index}] is not a regular "
                                     f"expression: {exc}") from None
    return Redact(compiled, replacement) if compiled else None
