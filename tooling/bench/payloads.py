"""The one conversation every benchmark client has with the fake server, and its replies.

Shared by the server (which precomputes its answers from it) and the clients (which check
every reply against it), so a client that drops, reorders or garbles anything fails instead
of looking fast. Standard library only: the server imports it too.
"""

from __future__ import annotations

import json
from typing import Any

MODEL = "gpt-4o-mini"
#: The model name the server answers with, as OpenAI does (a dated snapshot).
SERVED_MODEL = "gpt-4o-mini-2024-07-18"
#: A dummy key; the server checks that it is sent.
API_KEY = "sk-bench-0123456789"
PROMPT = "Say hello to the benchmark in one short sentence."

#: The whole non-streaming reply, and its token counts.
REPLY = "Hello, benchmark! This reply is short, fixed and precomputed, like a cached answer."
PROMPT_TOKENS = 21
REPLY_TOKENS = 19

#: Chunks in the standard stream scenario.
STREAM_CHUNKS = 5000
#: Content pieces of a stream, cycled: ASCII words and a few multi-byte ones.
_PIECES = ("The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog",
           ",", " café", " naïve", " 🚀", " and", " keeps", " streaming", ".", "\n")


def stream_piece(index: int) -> str:
    """The content of stream chunk ``index`` (0-based)."""
    return _PIECES[index % len(_PIECES)]


def stream_text(chunks: int) -> str:
    """What the ``chunks`` pieces of a stream add up to."""
    whole, rest = divmod(chunks, len(_PIECES))
    return "".join(_PIECES) * whole + "".join(_PIECES[:rest])


def batch_prompts(count: int) -> list[str]:
    """Distinct prompts for a batch, so request bodies differ as they would in real use."""
    return [f"{PROMPT} (item {i})" for i in range(count)]


def messages(prompt: str = PROMPT) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


def chat_body(prompt: str = PROMPT) -> dict[str, Any]:
    """The request JSON of a plain chat call, for clients that build it themselves."""
    return {"model": MODEL, "messages": messages(prompt)}


def stream_body(chunks: int) -> dict[str, Any]:
    """The request JSON of a stream of ``chunks`` content chunks (``max_tokens`` sets it)."""
    return {"model": MODEL, "messages": messages(), "max_tokens": chunks, "stream": True,
            "stream_options": {"include_usage": True}}


def dumps(value: Any) -> bytes:
    """Compact JSON, UTF-8, non-ASCII kept as is: what OpenAI sends."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class WrongReply(AssertionError):
    """A client got (or made) a reply that differs from what the server sent."""
