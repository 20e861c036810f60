"""Gemini's error envelope ``{"error": {"code", "message", "status", "details"}}`` as our
typed errors.

The gRPC ``status`` decides the type more precisely than the HTTP code: an invalid key is a
400 ``INVALID_ARGUMENT`` carrying ``ErrorInfo.reason = API_KEY_INVALID``. The wait for a 429
comes from the body (``google.rpc.RetryInfo.retryDelay``, e.g. ``"26s"``), as Gemini sends no
``Retry-After`` header; a per-day quota will not clear in seconds, so it is not retried.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jtd_ai.errors import (
    InvalidCredentialsError,
    ModelNotFoundError,
    ProviderError,
    ProviderUnavailableError,
    QuotaExceededError,
    RateLimitError,
    TimeoutError,
)
from jtd_ai.protocol import parse_retry_after
from jtd_ai.wire import HttpResponse

if TYPE_CHECKING:
    from jtd_ai.protocol import ChatProtocol

__all__ = ["error_from_payload", "error_from_response", "retry_delay"]

_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def error_from_response(protocol: ChatProtocol, response: HttpResponse) -> ProviderError:
    """The typed error for an HTTP reply with status >= 400."""
    payload = _payload(response.content)
    if payload is None:
        text = response.text.strip()[:200] or f"HTTP {response.status}"
        return protocol.error_for_status(response, text)
    return error_from_payload(protocol, payload, response.status, response.headers,
                              response.content)


def error_from_payload(protocol: ChatProtocol, error: Mapping[str, Any], status: int,
                       headers: Mapping[str, str], body: bytes | str | None) -> ProviderError:
    """The typed error for one ``error`` object, from a reply or from inside a stream."""
    name = str(error.get("status") or "")
    message = str(error.get("message") or f"HTTP {status}")
    details = [d for d in error.get("details") or () if isinstance(d, Mapping)]
    reasons = {str(d.get("reason")) for d in details if d.get("reason")}
    wait = retry_delay(details)
    if wait is None:
        wait = parse_retry_after(headers)
    provider = protocol.provider
    common: dict[str, Any] = {
        "provider": provider, "status": status, "body": body, "code": name or None,
        "rate_limit": protocol.rate_limit(headers),
    }
    key_env = protocol.config.api_key_env or "GEMINI_API_KEY"
    if "API_KEY_INVALID" in reasons or name == "UNAUTHENTICATED":
        return InvalidCredentialsError(
            f"{provider} rejected the API key: {message} Check {key_env} (or api_key in the "
            f"provider's configuration).", **common,
        )
    if name == "PERMISSION_DENIED":
        return InvalidCredentialsError(
            f"{provider} refused access: {message} The key may be restricted, or the "
            f"Generative Language API not enabled for its project.", **common,
        )
    if name == "NOT_FOUND":
        return ModelNotFoundError(
            f"{provider}: not found: {message} List the models this key can use with "
            f"get_available_models().", **common,
        )
    if name == "RESOURCE_EXHAUSTED" or status == 429:
        if _per_day(details):
            return QuotaExceededError(
                f"{provider}: the daily quota is used up: {message} Waiting seconds will not "
                f"help; retry tomorrow or raise the quota.", retry_after=wait, **common,
            )
        return RateLimitError(f"{provider} is rate limiting requests: {message}",
                              retry_after=wait, **common)
    if name == "DEADLINE_EXCEEDED":
        return TimeoutError(f"{provider} ran out of time on its side: {message}", **common)
    if name in ("UNAVAILABLE", "INTERNAL") or status >= 500:
        return ProviderUnavailableError(
            f"{provider} failed on its side (HTTP {status} {name}): {message}",
            retry_after=wait, **common,
        )
    # INVALID_ARGUMENT, FAILED_PRECONDITION, or no gRPC status: the HTTP code decides.
    response = HttpResponse(status, headers, body if isinstance(body, bytes) else
                            (body or "").encode())
    return protocol.error_for_status(response, message, code=name or None, retry_after=wait)


def retry_delay(details: list[Mapping[str, Any]]) -> float | None:
    """Seconds from ``RetryInfo.retryDelay`` (a protobuf Duration such as ``"26s"``)."""
    for detail in details:
        if detail.get("@type") == _RETRY_INFO:
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _per_day(details: list[Mapping[str, Any]]) -> bool:
    for detail in details:
        if detail.get("@type") != _QUOTA_FAILURE:
            continue
        for violation in detail.get("violations") or ():
            if isinstance(violation, Mapping) and "PerDay" in str(violation.get("quotaId", "")):
                return True
    return False


def _payload(content: bytes) -> Mapping[str, Any] | None:
    try:
        data = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if isinstance(data, list) and data:  # streamGenerateContent without alt=sse wraps it
        data = data[0]
    if isinstance(data, Mapping) and isinstance(data.get("error"), Mapping):
        error: Mapping[str, Any] = data["error"]
        return error
    return None
