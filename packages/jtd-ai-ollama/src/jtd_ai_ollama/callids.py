"""Tool-call ids for Ollama: the server's own (``call_…``, newer servers) or a stable
synthetic one made from the call's position, name and arguments (older servers send none).

Synthetic ids are never sent back as ``tool_call_id``; Ollama matches results by
``tool_name`` then.
"""

from __future__ import annotations

import hashlib

__all__ = ["SYNTHETIC_PREFIX", "make_call_id", "sendable_id"]

SYNTHETIC_PREFIX = "ollama-call-"


def make_call_id(*, index: int, name: str, arguments: str, given: str | None = None) -> str:
    """The server's id when it sent one, else ``ollama-call-<index>-<digest>``."""
    if given:
        return given
    digest = hashlib.sha256(f"{name}\0{arguments}".encode()).hexdigest()[:10]
    return f"{SYNTHETIC_PREFIX}{index}-{digest}"


def sendable_id(call_id: str | None) -> str | None:
    """The id to send back, or None for one we made up."""
    if not call_id or call_id.startswith(SYNTHETIC_PREFIX):
        return None
    return call_id
