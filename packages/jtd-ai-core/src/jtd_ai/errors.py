"""The one error hierarchy: every failure jtd-ai raises is an :class:`AIError`.

Each error says what happened and what to do next. Provider errors carry the provider,
HTTP status, request id and a body excerpt with secrets stripped; errors raised after part
of a reply arrived carry it in ``partial`` so nothing received is lost.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence
    from decimal import Decimal

    from jtd_ai.responses import RateLimitInfo, Response

__all__ = [
    "AIError",
    "BatchCancelledError",
    "BudgetExceededError",
    "ConfigurationError",
    "ContentFilteredError",
    "InvalidCredentialsError",
    "MalformedResponseError",
    "ModelNotFoundError",
    "NoDefaultProviderError",
    "OutputValidationError",
    "PluginError",
    "PricingUnknownError",
    "ProviderError",
    "ProviderUnavailableError",
    "QuotaExceededError",
    "RateLimitError",
    "ResponseTooLargeError",
    "StoreError",
    "StreamInterruptedError",
    "TimeoutError",
    "UnexpectedError",
    "ValidationError",
]

_EXCERPT_LIMIT = 500


class AIError(Exception):
    """Base of every jtd-ai error."""

    def __init__(self, message: str, *, partial: Response | None = None) -> None:
        from jtd_ai.secret import redact

        self.message = redact(message)
        #: What had arrived before the failure (stream text, tool calls), if anything.
        self.partial = partial
        super().__init__(self.message)


class ConfigurationError(AIError):
    """The configuration is missing something or holds a value that cannot work."""


class NoDefaultProviderError(ConfigurationError):
    """No provider was named and none can be chosen for the call: none is usable, or several
    are. ``ready`` names the usable ones (empty when there is none); ``cli_message`` says the
    same in the command line's words (``-p NAME`` where this says ``.provider(...)``)."""

    def __init__(self, message: str, *, ready: Sequence[str], cli_message: str) -> None:
        self.ready = tuple(ready)
        self.cli_message = cli_message
        super().__init__(message)


class PricingUnknownError(ConfigurationError):
    """No price is known for a model; set one in the provider's ``prices`` config."""


class PluginError(ConfigurationError):
    """A plugin could not be loaded (a driver from ``jtd_ai.drivers``, a call plugin from
    ``jtd_ai.plugins``) or broke the ``wrap_call`` protocol; names its distribution (when
    known) and entry point or plugin name."""

    def __init__(self, message: str, *, distribution: str | None, entry_point: str) -> None:
        self.distribution = distribution
        self.entry_point = entry_point
        super().__init__(message)


class StoreError(AIError):
    """The catalog/ledger database cannot be used; ``path`` names the file."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(message)


class BudgetExceededError(AIError):
    """A configured spending limit is reached; raised before the call is sent.

    ``scope`` is a provider name or ``"global"``; ``limit`` and ``spent`` are US dollars
    (Decimal) over ``period`` (``"day"``, ``"month"`` or ``"all"``, UTC).
    """

    def __init__(self, message: str, *, scope: str, limit: Decimal, spent: Decimal,
                 period: str) -> None:
        self.scope = scope
        self.limit = limit
        self.spent = spent
        self.period = period
        super().__init__(message)


class ValidationError(AIError, ValueError):
    """Bad input, found before any request was sent. ``field`` names what was wrong."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class ProviderError(AIError):
    """The provider answered with an error, or could not be reached.

    ``retryable`` says whether sending the same request again may succeed;
    ``retry_after`` is the wait in seconds the provider asked for, when it said.
    """

    #: Whether the core's retry loop should try again after this error.
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        body: str | bytes | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        rate_limit: RateLimitInfo | None = None,
        retryable: bool | None = None,
        partial: Response | None = None,
    ) -> None:
        self.provider = provider
        self.status = status
        self.request_id = request_id
        self.code = code
        self.retry_after = retry_after
        self.rate_limit = rate_limit
        if retryable is not None:
            self.retryable = retryable
        self.body_excerpt = _excerpt(body)
        super().__init__(message, partial=partial)

    def __str__(self) -> str:
        where = []
        if self.provider:
            where.append(f"provider={self.provider}")
        if self.status is not None:
            where.append(f"status={self.status}")
        if self.code:
            where.append(f"code={self.code}")
        if self.request_id:
            where.append(f"request_id={self.request_id}")
        return f"{self.message} ({', '.join(where)})" if where else self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep errors picklable (process pools, multiprocessing batches).
        return (_rebuild, (type(self), self.__dict__))


def _rebuild(cls: type[ProviderError], state: dict[str, Any]) -> ProviderError:
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message", ""))
    err.__dict__.update(state)
    return err


class InvalidCredentialsError(ProviderError):
    """The API key is missing, wrong, revoked, or lacks permission (401/403)."""


class RateLimitError(ProviderError):
    """Too many requests (429); retried by the core, honouring ``retry_after``."""

    retryable = True


class QuotaExceededError(RateLimitError):
    """The account is out of quota or credit; waiting will not help, so never retried."""

    retryable = False


class ModelNotFoundError(ProviderError):
    """The provider does not know this model, or this key cannot use it."""


class ContentFilteredError(ProviderError):
    """The provider refused or cut the reply for safety; ``category`` says why when known,
    and ``finish_message`` is the provider's own explanation when it gave one (Gemini's
    ``finishMessage``)."""

    def __init__(self, message: str, *, category: str | None = None,
                 finish_message: str | None = None, **kwargs: Any) -> None:
        self.category = category
        self.finish_message = finish_message
        super().__init__(message, **kwargs)


class ProviderUnavailableError(ProviderError):
    """The provider failed (5xx) or could not be reached; retried by the core."""

    retryable = True


class TimeoutError(ProviderError, builtins.TimeoutError):
    """No answer in time: connect, read, stream idle, or the whole-call deadline."""

    retryable = True


class MalformedResponseError(ProviderError):
    """The provider's reply could not be understood (bad JSON, a missing required field)."""


class OutputValidationError(MalformedResponseError):
    """A reply asked to be JSON of a type or a JSON schema (``output=T``) that is not JSON
    or does not match it. ``text`` is the reply's text as received, ``problem`` says what
    did not match (and where: ``$.items[2].name``), ``attempts`` how many replies were tried
    (``output_retries``); ``partial`` is the last reply, usage and cost included."""

    def __init__(self, message: str, *, text: str, problem: str, attempts: int = 1,
                 **kwargs: Any) -> None:
        self.text = text
        self.problem = problem
        self.attempts = attempts
        super().__init__(message, **kwargs)


class ResponseTooLargeError(ProviderError):
    """A reply, a decompressed body or one stream line passed its size cap
    (``max_response_size``, ``max_line_size``); never retried, as it would come back the
    same. ``partial`` holds a stream's chunks received before it."""


class UnexpectedError(AIError):
    """An exception that is not a jtd-ai error ended a call or a batch item: a bug in
    jtd-ai, a driver or a hook. ``error_type`` names the original exception's type; the
    message repeats its text with secrets masked. The original exception is not attached
    (its arguments may hold what was being sent); its traceback is logged at DEBUG, masked
    the same way."""

    def __init__(self, message: str, *, error_type: str) -> None:
        self.error_type = error_type
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_unexpected, (self.message, self.error_type))


def _rebuild_unexpected(message: str, error_type: str) -> UnexpectedError:
    return UnexpectedError(message, error_type=error_type)


class BatchCancelledError(AIError):
    """A batch item that was never sent because the batch was cancelled first."""


class BatchInputError(AIError):
    """The input of a collected batch (``send_batch``, ``jtd_ai.batch.collect_batch``) raised
    while it was read. The batch took nothing more; the items already taken finished, and their
    results are ``results``, in input order (one per item taken). The input's own exception
    is the ``__cause__``."""

    def __init__(self, message: str, *, results: list[Response | AIError]) -> None:
        super().__init__(message)
        #: The result of every item taken before the input failed, in input order.
        self.results = results

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_input_error, (self.message, self.results))


def _rebuild_input_error(message: str, results: list[Response | AIError]) -> BatchInputError:
    return BatchInputError(message, results=results)


class StreamInterruptedError(ProviderError):
    """A stream broke after it started; ``partial`` holds everything received until then."""


def _excerpt(body: str | bytes | None) -> str | None:
    if body is None:
        return None
    from jtd_ai.secret import redact

    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    # Masked before the cut: a key straddling the cut would otherwise leave its first
    # characters behind, unrecognisable to redact(). The slice keeps the work bounded.
    text = redact(text[:_EXCERPT_LIMIT * 4])
    if len(text) > _EXCERPT_LIMIT:
        text = text[:_EXCERPT_LIMIT] + "..."
    return text
