"""API keys as a secret type, and the redaction every log line and error text goes through.

A :class:`Secret` never shows its value in ``repr``, ``str`` or ``format``; the value is
read only with :meth:`Secret.reveal`, at the moment a request header is built. Every value
wrapped in a ``Secret`` is also remembered so :func:`redact` can strip it from provider
error bodies (some providers echo the key back) and log text. Other secret values (the
password of a ``https://user:pass@host`` base URL or proxy) are registered with
:func:`remember`; a password written inside any URL is masked by :func:`redact` even when it
was never registered, and :func:`mask_url` gives a URL fit to display.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

__all__ = ["Secret", "mask_url", "redact", "remember"]

_MASK = "[REDACTED]"
_known: set[str] = set()
_known_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """A child forked while another thread held the lock must not wait for it forever."""
    global _known_lock
    _known_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)
_known_pattern: re.Pattern[str] | None = None

# Shapes of well-known provider keys, stripped even when we never saw the value.
_KEY_SHAPES = re.compile(
    r"(?:sk-[A-Za-z0-9_\-*]{8,}|xai-[A-Za-z0-9_\-*]{8,}|AIza[0-9A-Za-z_\-]{20,}"
    r"|(?<=Bearer )[A-Za-z0-9_\-.=*]{8,})"
)
# The password of a URL's user info: ``scheme://user:PASSWORD@host``.
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^/\s:@?#]*:)[^/\s?#]+(@)")
#: Shorter values are not remembered: masking every "abc" in all text would hide too much.
MIN_REMEMBERED = 4


class Secret:
    """A string that must not leak: redacted in repr, str, format and pickles."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Secret wraps a str, not {type(value).__name__}")
        self._value = value
        remember(value)

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


def remember(value: str) -> None:
    """Mask ``value`` in everything :func:`redact` cleans from now on (error texts, log
    records). For secrets that are not API keys, e.g. a password in a proxy URL. Values
    shorter than :data:`MIN_REMEMBERED` characters are ignored."""
    if not isinstance(value, str) or len(value) < MIN_REMEMBERED:
        return
    _remember(value)


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
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\g<1>{_MASK}\g<2>", text)
    return _KEY_SHAPES.sub(_MASK, text)


def mask_url(url: str) -> str:
    """``url`` with the password of its user info masked (``https://me:[REDACTED]@host``);
    for showing a configured URL in a repr, a table or a log line."""
    return _URL_PASSWORD.sub(rf"\g<1>{_MASK}\g<2>", url) if "://" in url else url
