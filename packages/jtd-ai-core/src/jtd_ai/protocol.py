"""The driver author's contract: a sans-I/O protocol adapter. Read this file first.

A driver is two halves. The **core** owns every effect: httpx clients (pooled, one per
provider, sync and async), timeouts, retries, SSE/NDJSON framing, hooks, logging, cost.
The **protocol adapter** you write owns translation only::

    ChatRequest  --chat_request()-->  HttpRequest      (what to send)
    HttpResponse --parse_chat()---->  Response         (what it means)
    StreamEvent  --decoder.feed()-->  StreamChunk...   (one SSE event / NDJSON line)
    HttpResponse --parse_error()--->  ProviderError    (any status >= 400)
    HttpResponse --parse_models()-->  ModelPage        (one page of the model listing)

It opens no sockets, sleeps on nothing and knows nothing of sync versus async, which is why
one adapter serves ``send_message``, ``asend_message``, ``stream_message``, ``astream``
and ``send_batch``, and why it can be tested from recorded bytes alone. Example::

    class EchoLikeProtocol(ChatProtocol):
        name = "mine"

        def chat_request(self, request, *, stream):
            body = {"model": request.model, "prompt": request.messages[-1].text}
            return HttpRequest("POST", "/chat", json=body, stream="sse" if stream else None)

        def parse_chat(self, response, request):
            data = response.json(provider=self.name)
            return Response(content=data["text"], model=request.model, provider=self.name)

        def parse_error(self, response):
            return self.error_for_status(response, response.text)

The cut sits here because translation is the only part that differs between providers;
everything that can go wrong with I/O is written, tested and tuned once, in the core.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from attrs import field, frozen

from jtd_ai.errors import (
    ContentFilteredError,
    InvalidCredentialsError,
    MalformedResponseError,
    ModelNotFoundError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    TimeoutError,
    ValidationError,
)
from jtd_ai.modelinfo import Capabilities, ModelInfo
from jtd_ai.wire import HttpRequest, HttpResponse, loads

if TYPE_CHECKING:
    import httpx

    from jtd_ai.batch_protocol import BatchProtocol
    from jtd_ai.config import ProviderConfig
    from jtd_ai.pricing import Pricing
    from jtd_ai.request import ChatRequest
    from jtd_ai.responses import RateLimitInfo, Response, StreamChunk

__all__ = ["ChatProtocol", "ModelPage", "StreamDecoder", "StreamEvent", "parse_retry_after"]


class StreamEvent(NamedTuple):
    """One event of a streamed body: an SSE event (``event``, ``data``, ``id``) or one
    NDJSON line (in ``data``). A named tuple: one is made per chunk, so it must be cheap."""

    data: str
    event: str | None = None
    id: str | None = None

    def json(self, *, provider: str = "provider") -> Any:
        """The data as JSON, or a MalformedResponseError that quotes the start of it."""
        try:
            return loads(self.data)
        except json.JSONDecodeError:
            raise MalformedResponseError(
                f"{provider} sent a stream event that is not JSON: {self.data[:100]!r}",
                provider=provider, body=self.data,
            ) from None


def _models(value: Iterable[ModelInfo]) -> tuple[ModelInfo, ...]:
    return tuple(value)


@frozen
class ModelPage:
    """One page of a model listing; ``next_page_token`` is None on the last page."""

    models: tuple[ModelInfo, ...] = field(converter=_models)
    next_page_token: str | None = None


class StreamDecoder(abc.ABC):
    """Turns the events of one stream into chunks; one instance per stream, so it may keep
    state (e.g. the model name seen in the first event)."""

    @abc.abstractmethod
    def feed(self, event: StreamEvent) -> Iterable[StreamChunk]:
        """Chunks for one event (often one, possibly none). Raise a ProviderError for an
        error event; the core attaches everything received so far as ``partial``."""

    def end(self) -> Iterable[StreamChunk]:
        """Called when the body ends cleanly. Raise StreamInterruptedError if the protocol's
        end marker (``[DONE]``, ``done: true``, a finish reason) never came."""
        return ()


class ChatProtocol(abc.ABC):
    """Base of every protocol adapter; subclass it and fill in the translation methods."""

    #: The driver name this adapter serves, e.g. "openai".
    name: ClassVar[str]
    #: Response header that carries the provider's request id, if any.
    request_id_header: ClassVar[str | None] = "x-request-id"
    #: The driver-specific keys this adapter reads from a ``[providers.NAME]`` table
    #: (``config.option(...)``), besides the core's settings. Declared, they let a misspelled
    #: key fail when the provider is built, with the nearest name suggested; None (the
    #: default) accepts any key. Subclasses extend it: ``Base.config_options | {"mine"}``.
    config_options: ClassVar[frozenset[str] | None] = None

    def __init__(self, config: ProviderConfig) -> None:
        from jtd_ai.config import check_options

        check_options(config, self.config_options, driver=getattr(self, "name", None))
        self.config = config

    @property
    def provider(self) -> str:
        """The configured provider name (not the driver name), for errors and responses."""
        return self.config.name

    # -- required -------------------------------------------------------------------------

    @abc.abstractmethod
    def chat_request(self, request: ChatRequest, *, stream: bool) -> HttpRequest:
        """The HTTP request for a chat call; set ``stream`` on it when ``stream`` is true.

        Raise ValidationError for input this provider cannot take (e.g. an option it lacks);
        it is raised before anything is sent."""

    @abc.abstractmethod
    def parse_chat(self, response: HttpResponse, request: ChatRequest) -> Response:
        """Our Response for a successful (status < 400) chat reply."""

    @abc.abstractmethod
    def parse_error(self, response: HttpResponse) -> ProviderError:
        """The typed error for a reply with status >= 400. See :meth:`error_for_status`."""

    # -- optional -------------------------------------------------------------------------

    def auth_headers(self) -> Mapping[str, str]:
        """Headers that authenticate every request. The core never logs them."""
        return {}

    def default_transport(self) -> httpx.BaseTransport | httpx.AsyncBaseTransport | None:
        """An httpx transport to use instead of the network (an in-process server, say);
        None means real HTTP. A transport passed to the manager or Driver wins over it."""
        return None

    def stream_decoder(self, request: ChatRequest) -> StreamDecoder:
        """A decoder for one streamed reply. Not overriding it means no streaming."""
        raise NotImplementedError

    def supports_streaming(self) -> bool:
        return type(self).stream_decoder is not ChatProtocol.stream_decoder

    def models_request(self, page_token: str | None) -> HttpRequest | None:
        """The request for one page of the model listing; None if the provider has none."""
        return None

    def parse_models(self, response: HttpResponse) -> ModelPage:
        raise NotImplementedError(f"{self.name} does not list models")

    def credentials_request(self) -> HttpRequest | None:
        """The cheapest authenticated request; by default the first page of models."""
        return self.models_request(None)

    def capabilities(self, model: str | None = None) -> Capabilities:
        """What the driver (or ``model``) can do; None for anything unknown."""
        return Capabilities(streaming=self.supports_streaming())

    def pricing(self, model: str) -> Pricing | None:
        """The price of ``model``, from the driver's dated table; None when unknown."""
        return None

    def batch_protocol(self) -> BatchProtocol | None:
        """The provider's own batch API (:mod:`jtd_ai.batch_protocol`), or None (the
        default) when the driver offers none."""
        return None

    def rate_limit(self, headers: Mapping[str, str]) -> RateLimitInfo | None:
        """Rate-limit state from response headers (lower-cased names), if the provider sends it."""
        return None

    # -- helpers for adapters ---------------------------------------------------------------

    def error_for_status(
        self,
        response: HttpResponse,
        message: str,
        *,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> ProviderError:
        """The conventional error type for ``response.status``: a ready default for
        :meth:`parse_error` once the provider's message and code are read out."""
        status = response.status
        headers = response.headers
        kwargs = self.error_kwargs(response, code=code)
        if status in (401, 403):
            return InvalidCredentialsError(
                f"{self.provider} rejected the credentials: {message}. Check the API key "
                f"(api_key or {self.config.api_key_env or 'its environment variable'}).",
                **kwargs,
            )
        if status == 404:
            return ModelNotFoundError(f"{self.provider}: not found: {message}", **kwargs)
        if status == 429:
            wait = retry_after if retry_after is not None else parse_retry_after(headers)
            return RateLimitError(
                f"{self.provider} is rate limiting requests: {message}", retry_after=wait,
                **kwargs,
            )
        if status == 408:
            return TimeoutError(f"{self.provider} timed out the request: {message}", **kwargs)
        if status == 409:
            return ProviderError(f"{self.provider} reported a conflict: {message}",
                                 retryable=True, **kwargs)
        if status >= 500:
            return ProviderUnavailableError(
                f"{self.provider} failed on its side (HTTP {status}): {message}",
                retry_after=retry_after if retry_after is not None else parse_retry_after(headers),
                **kwargs,
            )
        if status == 451:
            return ContentFilteredError(f"{self.provider} refused the content: {message}",
                                        **kwargs)
        return ProviderError(f"{self.provider} rejected the request: {message}", **kwargs)

    def error_kwargs(self, response: HttpResponse, *, code: str | None = None) -> dict[str, Any]:
        """The keyword arguments a typed error for ``response`` is built with (provider,
        status, request id, body, code, rate limits), for adapters raising their own types."""
        headers = response.headers
        return {
            "provider": self.provider,
            "status": response.status,
            "request_id": headers.get(self.request_id_header) if self.request_id_header else None,
            "body": response.content,
            "code": code,
            "rate_limit": self.rate_limit(headers),
        }

    def check_roles(self, request: ChatRequest, allowed: frozenset[str]) -> None:
        """Raise ValidationError if a message has a role this provider cannot take."""
        for i, message in enumerate(request.messages):
            if message.role not in allowed:
                raise ValidationError(
                    f"{self.name} cannot take a {message.role} message (messages[{i}])",
                    field="messages",
                )


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from a ``Retry-After`` (seconds or HTTP date) or ``retry-after-ms``."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import datetime as dt
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
