"""What hooks and log records are told about a call."""

from __future__ import annotations

from attrs import define, field

from jtd_ai.request import ChatRequest

__all__ = ["CallInfo"]


@define
class CallInfo:
    """One call of one provider: what was asked, and how the attempts went."""

    provider: str
    driver: str
    operation: str  # "chat", "stream", "models", "credentials"
    model: str | None = None
    request: ChatRequest | None = field(default=None, repr=False)
    attempts: int = 0
    batch_id: str | None = None
    #: ``time.perf_counter()`` when the call began (0.0 until it does).
    started: float = 0.0
