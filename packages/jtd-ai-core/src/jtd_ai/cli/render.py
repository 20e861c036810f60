"""Replies and errors as plain data (JSON output, batch lines) and as one status line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jtd_ai.cli.output import money

if TYPE_CHECKING:
    from jtd_ai.errors import AIError
    from jtd_ai.messages import ToolCall
    from jtd_ai.responses import Response, TokenUsage

__all__ = ["error_dict", "response_dict", "status_line", "tool_call_lines", "tool_calls_list",
           "usage_dict"]


def usage_dict(usage: TokenUsage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "cached_input_tokens": usage.cached_input_tokens,
            "reasoning_tokens": usage.reasoning_tokens}


def tool_calls_list(calls: tuple[ToolCall, ...]) -> list[dict[str, str]]:
    """The tool calls a reply asks for: id, name, and the arguments as the raw JSON text the
    provider sent (as a saved conversation keeps them)."""
    return [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls]


def tool_call_lines(response: Response) -> list[str]:
    """``tool call: lookup {"query": "hi"} [call_1]``, one line per call, for a terminal."""
    return [f"tool call: {c.name} {c.arguments} [{c.id}]" for c in response.tool_calls]


def response_dict(response: Response) -> dict[str, Any]:
    """What a script needs from a reply; cost is an exact decimal string, ``cached`` says it
    came from the reply cache."""
    return {
        "content": response.content,
        "tool_calls": tool_calls_list(response.tool_calls),
        "model": response.model,
        "provider": response.provider,
        "finish_reason": str(response.finish_reason) if response.finish_reason else None,
        "usage": usage_dict(response.usage),
        "cost": str(response.cost) if response.cost is not None else None,
        "latency": round(response.latency, 6) if response.latency is not None else None,
        "request_id": response.request_id,
        "cached": response.cached,
    }


def error_dict(error: AIError) -> dict[str, Any]:
    """The typed error as data: type, message, and the provider's status when there is one."""
    data: dict[str, Any] = {"type": type(error).__name__, "message": error.message}
    for name in ("status", "code", "request_id", "retryable", "error_type"):
        value = getattr(error, name, None)
        if value is not None:
            data[name] = value
    if error.partial is not None and error.partial.content:
        data["partial"] = error.partial.content
    return data


def status_line(response: Response) -> str:
    """``[openai/gpt-4o-mini: 12 in, 40 out, $0.000026, 0.41s]`` for stderr; ``cached`` in
    place of the cost for a reply from the reply cache."""
    usage = response.usage
    tokens = (f"{usage.input_tokens} in, {usage.output_tokens} out" if usage is not None
              else "tokens unknown")
    latency = f", {response.latency:.2f}s" if response.latency is not None else ""
    cost = "cached" if response.cached else money(response.cost)
    return f"[{response.provider}/{response.model}: {tokens}, {cost}{latency}]"
