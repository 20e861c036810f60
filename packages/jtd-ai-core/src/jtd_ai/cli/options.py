"""``-o key value`` pairs: values read as JSON when they parse, else taken as text."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

__all__ = ["option_value", "options_from_pairs"]


def option_value(raw: str) -> Any:
    """``0.2`` -> 0.2, ``100`` -> 100, ``["a"]`` -> list, ``true`` -> True, else the text."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def options_from_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The options named on the command line; the core validates names and values."""
    return {key: option_value(value) for key, value in pairs}
