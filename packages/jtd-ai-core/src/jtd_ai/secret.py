"""API keys as a secret type, and the redaction every log line and error text goes through.

A :class:`Secret` never shows its value in ``repr``, ``str`` or ``format``; the value is
read only with :meth:`Secret.reveal`, at the moment a request header is built. Every value
wrapped in a ``Secret`` is also remembered so :func:`redact` can strip it from provider
error bodies (some providers echo the key back) and log text.
"""

from __future__ import annotations

import re
import threading
from typing import Any

__all__ = ["Secret", "redact"]

_MASK = "[REDACTED]"
_known: set[str] = set()
_known_lock = threading.Lock()
_known_pattern: re.Pattern[str] | None = None

# Shapes of well-known provider keys, stripped even when we never saw the value.
_KEY_SHAPES = re.compile(
    r"(?:sk-[A-Za-z0-9_\-*]{8,}|xai-[A-Za-z0-9_\-*]{8,}|AIza[0-9A-Za-z_\-]{20,}"
    r"|(?<=Bearer )[A-Za-z0-9_\-.=*]{8,})"
)


class Secret:
    """A string that must not leak: redacted in repr, str, format and pickles."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Secret wraps a str, not {type(value).__name__}")
        self._value = value
        if len(value) >= 4:
            _remember(value)

    def reveal(self) -> str:
        """The real value; call it only where the value is sent, never to display it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled; pass the configuration instead")


def _remember(value: str) -> None:
    global _known_pattern
    with _known_lock:
        if value not in _known:
            _known.add(value)
            alternatives = sorted(_known, key=len, reverse=True)
            _known_pattern = re.compile("|".join(re.escape(v) for v in alternatives))


def redact(text: str) -> str:
    """``text`` with every known secret value and every key-shaped token masked."""
    pattern = _known_pattern
    if pattern is not None:
        text = pattern.sub(_MASK, text)
    return _KEY_SHAPES.sub(_MASK, text)
