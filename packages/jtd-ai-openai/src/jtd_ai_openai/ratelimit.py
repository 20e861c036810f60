"""OpenAI's ``x-ratelimit-*`` headers as a RateLimitInfo.

Limits and remaining counts are integers; resets are Go-style durations (``12ms``, ``1s``,
``6m0s``, ``1h2m3.5s``), turned into seconds. A header that cannot be read is left None.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from jtd_ai.responses import RateLimitInfo

__all__ = ["parse_duration", "rate_limit_info"]

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@functools.lru_cache(maxsize=512)  # a provider repeats the same few values on every reply
def parse_duration(value: str) -> float | None:
    """Seconds in a Go-style duration (or a bare number of seconds); None if unreadable."""
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    position, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _SECONDS[match.group(2)]
        position = match.end()
    return total if position == len(text) and position else None


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _seconds(value: str | None) -> float | None:
    return None if value is None else parse_duration(value)


_NONE = (None,) * 6


def rate_limit_info(headers: Mapping[str, str]) -> RateLimitInfo | None:
    """The rate-limit state in (lower-cased) ``headers``; None when none is sent."""
    get = headers.get
    values = (get("x-ratelimit-limit-requests"), get("x-ratelimit-remaining-requests"),
              get("x-ratelimit-reset-requests"), get("x-ratelimit-limit-tokens"),
              get("x-ratelimit-remaining-tokens"), get("x-ratelimit-reset-tokens"))
    if values == _NONE:
        return None
    return RateLimitInfo(
        limit_requests=_int(values[0]), remaining_requests=_int(values[1]),
        reset_requests=_seconds(values[2]), limit_tokens=_int(values[3]),
        remaining_tokens=_int(values[4]), reset_tokens=_seconds(values[5]),
    )

