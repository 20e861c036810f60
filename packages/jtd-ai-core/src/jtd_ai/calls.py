"""What hooks and log records are told about a call."""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from attrs import define, field

from jtd_ai.errors import AIError
from jtd_ai.request import ChatRequest

if TYPE_CHECKING:
    from jtd_ai.responses import Response

__all__ = ["CONVERSATION_ID", "REPLY_CHECK", "CallInfo", "CallStoppedError",
           "stop_status"]

#: The id of the conversation whose turn is being sent; :class:`~jtd_ai.Conversation` sets
#: it while it sends, and each call made meanwhile carries it in ``CallInfo.conversation_id``.
CONVERSATION_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "jtd_ai_conversation_id", default=None)

#: Whether the caller will accept a reply, set while a structured call (``output=T``) sends:
#: false for a reply it would reject (one that does not parse). Each call made meanwhile
#: carries it in ``CallInfo.reply_check``.
REPLY_CHECK: contextvars.ContextVar[Callable[[Response], bool] | None] = (
    contextvars.ContextVar("jtd_ai_reply_check", default=None))

_NO_TAGS: Mapping[str, Any] = MappingProxyType({})


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
    #: The conversation this call is a turn of (see :data:`CONVERSATION_ID`), if any.
    conversation_id: str | None = None
    #: Per-call labels for plugins (``send_message(..., tags={"team": "search"})``).
    tags: Mapping[str, Any] = _NO_TAGS
    #: Where to try this call next when it fails with an error meaning "try elsewhere":
    #: ``"provider"`` or ``"provider:model"`` targets, from ``send_message(...,
    #: fallbacks=[...])`` or the provider's ``fallbacks`` setting (see
    #: :mod:`jtd_ai.fallbacks`); empty when there are none.
    fallbacks: tuple[str, ...] = ()
    #: True when a wrapper answered the call without calling the provider (a cache hit):
    #: ``before_request`` and ``after_response`` still see it, with ``attempts`` 0, but
    #: nothing is sent and it costs nothing (a budget neither checks nor reserves for it).
    cached: bool = False
    #: Whether the caller will accept a reply (see :data:`REPLY_CHECK`); None: any reply. A
    #: plugin that keeps replies for later (the reply cache) keeps and serves only accepted
    #: ones.
    reply_check: Callable[[Response], bool] | None = field(default=None, repr=False,
                                                            eq=False)


def stop_status(exc: BaseException) -> str:
    """The ledger status of a call ended by ``exc`` rather than by a reply or an AIError:
    ``cancelled`` when the caller let go of it (a stream closed before its end, an asyncio
    task cancelled), ``interrupted`` when the process is being stopped (KeyboardInterrupt,
    SystemExit, any other BaseException), ``error`` for any other exception."""
    if isinstance(exc, GeneratorExit):
        return "cancelled"
    asyncio = sys.modules.get("asyncio")  # never imported here just to be asked
    if asyncio is not None and isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    if isinstance(exc, Exception):
        return "error"
    return "interrupted"


class CallStoppedError(AIError):
    """Given to ``on_error`` hooks, never raised: a call that may have reached the provider
    ended without a reply and without an AIError. The exception that ended it propagates to
    the caller unchanged; this only tells plugins (the usage ledger first) that the call is
    over, how (``status``: ``cancelled``, ``interrupted`` or ``error``), what ended it
    (``kind``, the exception's type name) and what had arrived (``partial``)."""

    def __init__(self, message: str, *, status: str, kind: str,
                 partial: Response | None = None) -> None:
        super().__init__(message, partial=partial)
        self.status = status
        self.kind = kind

    @classmethod
    def of(cls, exc: BaseException, *, partial: Response | None = None) -> CallStoppedError:
        status = stop_status(exc)
        kind = type(exc).__name__
        what = {"cancelled": "cancelled", "interrupted": "interrupted"}.get(
            status, "ended by an unexpected error")
        return cls(f"the call was {what} ({kind}) before its reply was complete",
                   status=status, kind=kind, partial=partial)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.message, self.status, self.kind, self.partial))


def _rebuild(message: str, status: str, kind: str,
             partial: Response | None) -> CallStoppedError:
    return CallStoppedError(message, status=status, kind=kind, partial=partial)
