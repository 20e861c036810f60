"""Reading an error body: OpenAI's envelope and the flat shapes compatible servers use.

OpenAI: ``{"error": {"message", "type", "param", "code"}}``. xAI and others:
``{"code": "...", "error": "<message>"}`` or ``{"error": "<message>"}``. Whatever the
shape, the result is one :class:`ErrorFields`; turning it into a typed error is the
protocol's job (:meth:`OpenAIProtocol.classify_error`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from jtd_ai.wire import HttpResponse
from jtd_ai_openai.ratelimit import parse_duration

__all__ = ["ErrorFields", "error_fields", "read_error", "retry_after_from_message"]

_TRY_AGAIN = re.compile(r"try again in ((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)", re.IGNORECASE)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@frozen
class ErrorFields:
    """What an error body says: the message and, when given, its code, type and param."""

    message: str
    code: str | None = None
    type: str | None = None
    param: str | None = None

    @property
    def kinds(self) -> frozenset[str]:
        """The code and type together, for matching either."""
        return frozenset(k for k in (self.code, self.type) if k)


def error_fields(data: Any) -> ErrorFields | None:
    """The error described by a decoded body, or None if it is not an error body."""
    if not isinstance(data, Mapping):
        return None
    error = data.get("error")
    if isinstance(error, Mapping):
        return ErrorFields(
            message=_text(error.get("message")) or "",
            code=_text(error.get("code")), type=_text(error.get("type")),
            param=_text(error.get("param")),
        )
    if isinstance(error, str):
        return ErrorFields(message=error, code=_text(data.get("code")),
                           type=_text(data.get("type")))
    if isinstance(data.get("message"), str):
        return ErrorFields(message=data["message"], code=_text(data.get("code")),
                           type=_text(data.get("type")))
    return None


def read_error(response: HttpResponse) -> ErrorFields:
    """The error in a reply with status >= 400; the start of the body if it is not JSON."""
    try:
        fields = error_fields(json.loads(response.content))
    except (ValueError, UnicodeDecodeError):
        fields = None
    if fields is not None and fields.message:
        return fields
    text = " ".join(response.text.split())[:200]
    message = text or f"HTTP {response.status} with an empty body"
    return ErrorFields(message, fields.code, fields.type) if fields else ErrorFields(message)


def retry_after_from_message(message: str) -> float | None:
    """The wait in "Please try again in 26.604s" (OpenAI's rate-limit text), if present."""
    match = _TRY_AGAIN.search(message)
    return parse_duration(match.group(1)) if match else None
