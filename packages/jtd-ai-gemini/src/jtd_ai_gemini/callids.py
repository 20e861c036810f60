"""Tool-call ids for Gemini, which sends none of its own on the Developer API.

An id is made from the call's position, name and arguments, so the same reply gives the
same ids streamed or not. Gemini 2.5+/3 models attach a ``thoughtSignature`` to a function
call that must be sent back with it on the next turn (Gemini 3 rejects the turn without
it): it travels in ``ToolCall.metadata["thought_signature"]``, which the conversation
history keeps and equality ignores, so no state is kept anywhere.

Ids made by earlier versions carried the signature after a ``#``
(``gemini-call-0-1a2b3c4d5e#<signature>``); :func:`split_call_id` still reads them, so a
saved history replays.
"""

from __future__ import annotations

import hashlib

__all__ = ["SIGNATURE", "SYNTHETIC_PREFIX", "make_call_id", "split_call_id"]

#: Ids we made up start with this; they are never sent to Gemini as ``functionCall.id``.
SYNTHETIC_PREFIX = "gemini-call-"
#: The ``ToolCall.metadata`` key of a call's thought signature.
SIGNATURE = "thought_signature"
_SIGNATURE_MARK = "#"


def make_call_id(*, index: int, name: str, arguments: str, given: str | None = None) -> str:
    """The id of a call: Gemini's own when it sent one, else a stable synthetic one."""
    if given:
        return given
    digest = hashlib.sha256(f"{name}\0{arguments}".encode()).hexdigest()[:10]
    return f"{SYNTHETIC_PREFIX}{index}-{digest}"


def split_call_id(call_id: str) -> tuple[str | None, str | None]:
    """``(id to send as functionCall.id or None, thought signature in the id or None)``."""
    base, _, signature = call_id.partition(_SIGNATURE_MARK)
    sendable = None if (not base or base.startswith(SYNTHETIC_PREFIX)) else base
    return sendable, signature or None
