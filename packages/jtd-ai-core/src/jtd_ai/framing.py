"""Stream framing, owned by the core: Server-Sent Events and newline-delimited JSON.

Both take decoded text lines (httpx splits on CR, LF and CRLF) and give
:class:`~jtd_ai.protocol.StreamEvent` values to a driver's decoder.
"""

from __future__ import annotations

from jtd_ai.protocol import StreamEvent

__all__ = ["NDJSONFramer", "SSEFramer"]


class SSEFramer:
    """The event-stream format of the HTML standard: ``field: value`` lines, events ended by
    a blank line, ``:`` comments ignored. An event cut off by the end of the body is dropped,
    as the standard says, so a truncated stream cannot pass half an event along."""

    __slots__ = ("_data", "_event", "_id")

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None

    def feed_line(self, line: str) -> StreamEvent | None:
        """The event this line completes, if it is the blank line that ends one."""
        if not line:
            if not self._data and self._event is None:
                return None
            data = self._data
            event = StreamEvent(data[0] if len(data) == 1 else "\n".join(data), self._event,
                                self._id)
            self._data = []
            self._event = None
            return event
        if line.startswith("data: "):  # nearly every line: skip the general parsing
            self._data.append(line[6:])
            return None
        if line[0] == ":":
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        return None

    @property
    def pending(self) -> bool:
        """Whether an event was started and not ended when the body stopped."""
        return bool(self._data) or self._event is not None


class NDJSONFramer:
    """One JSON document per line; blank lines are skipped."""

    __slots__ = ()

    def feed_line(self, line: str) -> StreamEvent | None:
        line = line.strip()
        return StreamEvent(line) if line else None

    @property
    def pending(self) -> bool:
        return False
