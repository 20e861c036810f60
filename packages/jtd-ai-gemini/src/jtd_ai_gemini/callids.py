"""Tool-call ids for Gemini, which sends none of its own on the Developer API.

An id is made from the call's position, name and arguments, so the same reply gives the
same ids streamed or not. Gemini 2.5+/3 models attach a ``thoughtSignature`` to a function
call that must be sent back with it on the next turn (Gemini 3 rejects the turn without
it); our ``ToolCall`` has no field for it, so it travels in the id after a ``#``:
``gemini-call-0-1a2b3c4d5e#<signature>``. The conversation history therefore round-trips
the signature with no state kept anywhere.
"""

from __future__ import annotations

import hashlib

__all__ = ["SYNTHETIC_PREFIX", "make_call_id", "split_call_id"]

#: Ids we made up start with this; they are never sent to Gemini as ``functionCall.id``.
SYNTHETIC_PREFIX = "gemini-call-"
_SIGNATURE_MARK = "#"


def make_call_id(*, index: int, name: str, arguments: str, given: str | None = None,
                 signature: str | None = None) -> str:
    """The id of a call: Gemini's own when it sent one, else a stable synthetic one."""
    if given:
        base = given
    else:
        digest = hashlib.sha256(f"{name}\0{arguments}".encode()).hexdigest()[:10]
        base = f"{SYNTHETIC_PREFIX}{index}-{digest}"
    return f"{base}{_SIGNATURE_MARK}{signature}" if signature else base


def split_call_id(call_id: str) -> tuple[str | None, str | None]:
    """``(id to send as functionCall.id or None, thought signature or None)``."""
    base, _, signature = call_id.partition(_SIGNATURE_MARK)
    sendable = None if (not base or base.startswith(SYNTHETIC_PREFIX)) else base
    return sendable, signature or None
