"""Stream framing, owned by the core: Server-Sent Events and newline-delimited JSON.

Both take decoded text lines (split on CR, LF and CRLF by the backends' line splitter, each
line already within ``max_line_size``) and give :class:`~jtd_ai.protocol.StreamEvent` values
to a driver's decoder.
"""

from __future__ import annotations

from jtd_ai.protocol import StreamEvent

__all__ = ["NDJSONFramer", "SSEFramer"]


class SSEFramer:
    """The event-stream format of the HTML standard: ``field: value`` lines, events ended by
    a blank line, ``:`` comments ignored. An event cut off by the end of the body is dropped,
    as the standard says, so a truncated stream cannot pass half an event along. An event
    whose data lines add up to more than ``limit`` characters is a ResponseTooLargeError."""

    __slots__ = ("_data", "_event", "_id", "_limit", "_size")

    def __init__(self, limit: int = 1 << 62) -> None:
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._limit = limit
        self._size = 0

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
            self._size = 0
            return event
        if line.startswith("data: "):  # nearly every line: skip the general parsing
            self._data.append(line[6:])
            if self._data[1:]:  # one line is within its cap already; several may not be
                self._grew(line)
            return None
        if line[0] == ":":
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            if self._data[1:]:
                self._grew(line)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        return None

    def _grew(self, line: str) -> None:
        if not self._size:
            self._size = len(self._data[0])
        self._size += len(line)
        if self._size > self._limit:
            from jtd_ai.errors import ResponseTooLargeError

            self._data = []
            raise ResponseTooLargeError(
                f"one stream event passed {self._limit:,} characters (the max_line_size "
                f"setting); nothing more was read", retryable=False)

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
