"""cattrs conversion of config and wire payloads into our attrs classes.

Unknown fields are tolerated; a missing or mistyped required field raises a typed error that
names it (``ConfigurationError`` for config, ``MalformedResponseError`` for wire payloads).
cattrs is imported on first use, not with ``jtd_ai``.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar

from jtd_ai.errors import AIError, ConfigurationError, MalformedResponseError
from jtd_ai.secret import Secret

if TYPE_CHECKING:
    import cattrs

__all__ = ["converter", "structure_config", "structure_wire", "unstructure"]

T = TypeVar("T")


def _decimal(value: Any, _: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("a price is a number, not a boolean")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None


def _date(value: Any, _: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


@functools.cache
def converter() -> cattrs.Converter:
    """The shared converter, built once."""
    import cattrs

    conv = cattrs.Converter(forbid_extra_keys=False)
    conv.register_structure_hook(Secret, lambda v, _: Secret(v))
    conv.register_unstructure_hook(Secret, lambda _: "[REDACTED]")
    conv.register_structure_hook(Decimal, _decimal)
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(dt.date, _date)
    conv.register_unstructure_hook(dt.date, lambda d: d.isoformat())
    return conv


def _describe(exc: Exception, what: str) -> str:
    import cattrs

    try:
        problems = cattrs.transform_error(exc, path=what)
    except Exception:  # pragma: no cover - transform_error is best effort
        problems = [str(exc)]
    return "; ".join(problems)


def structure_config(data: Any, cls: type[T], *, what: str) -> T:
    """``data`` as ``cls``, or a ConfigurationError naming the bad key under ``what``."""
    try:
        return converter().structure(data, cls)
    except AIError:
        raise
    except Exception as exc:
        raise ConfigurationError(f"invalid configuration: {_describe(exc, what)}") from None


def structure_wire(data: Any, cls: type[T], *, provider: str, what: str = "$") -> T:
    """A provider payload as ``cls``, or a MalformedResponseError naming the field."""
    try:
        return converter().structure(data, cls)
    except AIError:
        raise
    except Exception as exc:
        raise MalformedResponseError(
            f"{provider} sent a reply we could not read: {_describe(exc, what)}",
            provider=provider,
        ) from None


def unstructure(value: Any) -> Any:
    """Plain data for ``value`` (secrets come out redacted)."""
    return converter().unstructure(value)
