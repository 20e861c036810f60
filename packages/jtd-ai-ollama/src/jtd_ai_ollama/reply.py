"""What one Ollama chat reply (or one NDJSON line of a stream) means in our terms.

A whole reply and a stream line have the same shape, so both go through :func:`translate`,
which is what makes streamed and non-streamed results agree. ``message.content`` is the
text, ``message.thinking`` the reasoning, ``message.tool_calls`` the calls (their
``arguments`` object becomes ``ToolCall.arguments`` JSON text). Usage comes with the
``done: true`` line: ``prompt_eval_count`` in, ``eval_count`` out (thinking included).
"""

from __future__ import annotations

import json
from typing import Any

from attrs import frozen

from jtd_ai.convert import structure_wire
from jtd_ai.messages import ToolCall
from jtd_ai.responses import FinishReason, TokenUsage
from jtd_ai_ollama.callids import make_call_id
from jtd_ai_ollama.wire import ChatResponse

__all__ = ["Piece", "finish_reason", "read", "translate"]


@frozen
class Piece:
    """One reply or stream line, translated."""

    text: str
    reasoning: str
    calls: tuple[ToolCall, ...]
    done: bool
    done_reason: str | None
    usage: TokenUsage | None
    model: str | None


def read(data: Any, provider: str) -> ChatResponse:
    """A decoded body or line as typed wire data (MalformedResponseError if it is not one)."""
    return structure_wire(data, ChatResponse, provider=provider)


def translate(reply: ChatResponse, *, call_offset: int = 0) -> Piece:
    """Our view of ``reply``; tool calls are numbered from ``call_offset`` (a stream's count
    so far) so synthetic ids match between a stream and a whole reply."""
    message = reply.message
    text = message.content if message is not None else (reply.response or "")
    thinking = message.thinking if message is not None else reply.thinking
    calls: list[ToolCall] = []
    for wire_call in (message.tool_calls if message is not None else None) or ():
        raw = wire_call.function.arguments
        arguments = raw if isinstance(raw, str) else json.dumps(
            raw if raw is not None else {}, ensure_ascii=False)
        call_id = make_call_id(index=call_offset + len(calls), name=wire_call.function.name,
                               arguments=arguments, given=wire_call.id)
        calls.append(ToolCall(id=call_id, name=wire_call.function.name, arguments=arguments))
    usage = TokenUsage(reply.prompt_eval_count, reply.eval_count) if reply.done else None
    return Piece(text=text, reasoning=thinking or "", calls=tuple(calls), done=reply.done,
                 done_reason=reply.done_reason, usage=usage, model=reply.model or None)


def finish_reason(done_reason: str | None, has_calls: bool) -> FinishReason:
    """``done_reason`` in our vocabulary; older servers send none for a normal stop."""
    if done_reason in (None, "", "stop"):
        return FinishReason.TOOL_CALLS if has_calls else FinishReason.STOP
    if done_reason == "length":
        return FinishReason.LENGTH
    return FinishReason.OTHER  # "load", "unload"
