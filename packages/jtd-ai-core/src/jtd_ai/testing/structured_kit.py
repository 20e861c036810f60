"""What the conformance kit's structured-output tests use (``output=T``).

The kit asks for replies parsed into :class:`KitReport`. It needs no sample of its own: it
takes the driver's chat sample and puts the JSON text it wants where the sample's reply
text is (the text is a JSON string in the provider's body, so it is found there once,
escaped), so every driver is tested in its own wire format.
"""

from __future__ import annotations

import json
from typing import Literal

import attrs

__all__ = ["KIT_REPORT", "KIT_REPORT_JSON", "KIT_REPORT_MISMATCH", "KitReport",
           "KitUndescribable", "with_reply_text"]


@attrs.frozen
class KitReport:
    """The type the kit asks replies to be parsed into."""

    kit_title: str
    kit_count: int
    kit_tags: list[str]
    kit_mood: Literal["kit-calm", "kit-busy"]


class KitUndescribable:
    """A class with no JSON schema: asking for it must fail before anything is sent."""


KIT_REPORT = KitReport("kit-title-21", 3, ["kit-a", "kit-b"], "kit-busy")
KIT_REPORT_JSON = json.dumps(attrs.asdict(KIT_REPORT))
#: A reply that is JSON but not a KitReport (a number for the title, the rest missing).
KIT_REPORT_MISMATCH = '{"kit_title": 21}'


def with_reply_text(body: bytes, content: str | None, text: str) -> bytes | None:
    """``body`` with the reply text ``content`` replaced by ``text``, or None when
    ``content`` is not in it exactly once as the inside of a JSON string."""
    if not content:
        return None
    replacement = json.dumps(text)[1:-1].encode()
    for ascii_only in (True, False):
        encoded = json.dumps(content, ensure_ascii=ascii_only)[1:-1].encode()
        if body.count(encoded) == 1:
            return body.replace(encoded, replacement)
    return None
