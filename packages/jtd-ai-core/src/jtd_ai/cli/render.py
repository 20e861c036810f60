"""Replies and errors as plain data (JSON output, batch lines) and as one status line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jtd_ai.cli.output import money

if TYPE_CHECKING:
    from jtd_ai.errors import AIError
    from jtd_ai.responses import Response, TokenUsage

__all__ = ["error_dict", "response_dict", "status_line", "usage_dict"]


def usage_dict(usage: TokenUsage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "cached_input_tokens": usage.cached_input_tokens,
            "reasoning_tokens": usage.reasoning_tokens}


def response_dict(response: Response) -> dict[str, Any]:
    """What a script needs from a reply; cost is an exact decimal string."""
    return {
        "content": response.content,
        "model": response.model,
        "provider": response.provider,
        "finish_reason": str(response.finish_reason) if response.finish_reason else None,
        "usage": usage_dict(response.usage),
        "cost": str(response.cost) if response.cost is not None else None,
        "latency": round(response.latency, 6) if response.latency is not None else None,
        "request_id": response.request_id,
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
    """``[openai/gpt-4o-mini: 12 in, 40 out, $0.000026, 0.41s]`` for stderr."""
    usage = response.usage
    tokens = (f"{usage.input_tokens} in, {usage.output_tokens} out" if usage is not None
              else "tokens unknown")
    latency = f", {response.latency:.2f}s" if response.latency is not None else ""
    return f"[{response.provider}/{response.model}: {tokens}, {money(response.cost)}{latency}]"
