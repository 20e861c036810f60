"""The batch files: JSONL input items, and the output that doubles as the resume record.

Input: one JSON object per line (blank lines skipped), see docs/cli.md::

    {"id": "q1", "prompt": "Name three rivers"}
    {"id": "q2", "messages": [{"role": "user", "content": "Hi"}], "model": "gpt-4o",
     "system": "Be brief", "options": {"temperature": 0.2, "max_tokens": 50}}
    {"id": "q3", "prompt": "Describe Paris", "schema": {"type": "object", ...}}

Input is read as the batch goes (:func:`read_items`): a bad line is reported as that line's
error, and the batch goes on.

Output: one JSON object per finished item, written whole as it finishes, so an interrupted
run leaves only complete lines (a process killed inside a write leaves at most one
unfinished last line, cut off by the next run); ids already there are skipped on a re-run,
and so are the input lines already reported as unusable (their error lines carry
``"line"``).
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import attrs
from attrs import frozen

from jtd_ai.messages import Message

__all__ = ["BadLine", "BatchItem", "Finished", "OutputFile", "read_items"]

_ROLES = {"system": Message.system, "user": Message.user, "assistant": Message.assistant}
#: A UTF-16 surrogate code point: in text read with ``surrogateescape`` a byte that is not
#: UTF-8; in a decoded JSON string a lone ``\\ud800`` escape, which is no character at all.
_SURROGATE = re.compile("[\ud800-\udfff]")


@frozen
class BatchItem:
    """One input line: its id (``key`` is the id as canonical JSON), messages and settings;
    ``schema`` is the JSON schema its reply must match, when it gives one."""

    line: int
    id: str | int
    key: str
    messages: tuple[Message, ...]
    model: str | None = None
    options: Mapping[str, Any] = {}
    schema: Mapping[str, Any] | None = None


def id_key(value: Any) -> str:
    """The id as canonical JSON, so ``1`` and ``"1"`` stay two different ids."""
    return json.dumps(value, sort_keys=True)


def _messages(data: Mapping[str, Any]) -> tuple[Message, ...]:
    found: list[Message] = []
    system = data.get("system")
    if system is not None:
        if not isinstance(system, str):
            raise ValueError("'system' must be a string")
        found.append(Message.system(system))
    if "prompt" in data:
        if not isinstance(data["prompt"], str) or not data["prompt"]:
            raise ValueError("'prompt' must be a non-empty string")
        return (*found, Message.user(data["prompt"]))
    turns = data.get("messages")
    if not isinstance(turns, list) or not turns:
        raise ValueError("needs 'prompt' (a string) or 'messages' (a list of "
                         "{\"role\": ..., \"content\": ...})")
    for i, turn in enumerate(turns):
        make = _ROLES.get(str(turn.get("role"))) if isinstance(turn, dict) else None
        content = turn.get("content") if isinstance(turn, dict) else None
        if make is None or not isinstance(content, str):
            raise ValueError(f"messages[{i}] must be {{\"role\": \"system\"|\"user\"|"
                             f"\"assistant\", \"content\": \"text\"}}")
        found.append(make(content))
    return tuple(found)


def _item(line: int, data: Any) -> BatchItem:
    if isinstance(data, str):
        data = {"prompt": data}
    if not isinstance(data, dict):
        raise ValueError("each line must be a JSON object (or a JSON string: the prompt)")
    ident = data.get("id", line)
    if isinstance(ident, bool) or not isinstance(ident, str | int):
        raise ValueError("'id' must be a string or an integer")
    model = data.get("model")
    if model is not None and (not isinstance(model, str) or not model):
        raise ValueError("'model' must be a non-empty string")
    options = data.get("options", {})
    if not isinstance(options, dict):
        raise ValueError("'options' must be an object, e.g. {\"temperature\": 0.2}")
    schema = data.get("schema")
    if schema is not None and not isinstance(schema, dict):
        raise ValueError("'schema' must be a JSON schema (an object, e.g. {\"type\": "
                         "\"object\", \"properties\": {...}})")
    return BatchItem(line, ident, id_key(ident), _messages(data), model, options, schema)


def _lone_surrogate(data: Any) -> str | None:
    """The first lone surrogate in any string (key or value) of ``data``, escaped, or None.
    Iterative: a line nested as deep as the JSON parser allows must not overflow here."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            found = _SURROGATE.search(value)
            if found:
                return found.group().encode("ascii", "backslashreplace").decode("ascii")
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return None


@frozen
class BadLine:
    """An input line that cannot be sent: its number, the id it is known by (its own id when
    that could be read, else its line number, as for a line without an id) and why."""

    line: int
    id: str | int
    key: str
    problem: str


def _own_id(data: Any) -> str | int | None:
    """The id the line gives itself, when it gives a usable one; else None."""
    ident = data.get("id") if isinstance(data, dict) else None
    return ident if isinstance(ident, str | int) and not isinstance(ident, bool) else None


def read_items(lines: Iterable[str], source: str) -> Iterator[BatchItem | BadLine]:
    """Each input line as it is read: an item, or a BadLine naming what is wrong with it
    (the batch goes on without it). Blank lines are skipped. Only ids are remembered (to
    find one used twice), never the items; a bad line that gives its own id takes that id,
    so a later line repeating it is a BadLine too (one id, one output line).

    ``lines`` should be read with ``errors="surrogateescape"``: a line that is not UTF-8
    is then reported by number instead of failing the whole read."""
    from jtd_ai.wire import loads

    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        bad_byte = _SURROGATE.search(raw)
        if bad_byte:
            yield _bad(number, number, source, f"not UTF-8 text (an invalid byte at column "
                                               f"{bad_byte.start() + 1})")
            continue
        try:
            data = loads(raw)  # too deep or too long a number is a JSONDecodeError too
        except json.JSONDecodeError as exc:
            yield _bad(number, number, source, f"not JSON ({exc.msg} at column {exc.colno})")
            continue
        own = _own_id(data)
        ident = own if own is not None else number
        lone = _lone_surrogate(data)
        problem = None
        if lone is not None:
            problem = (f"holds a lone surrogate ({lone}), which is not a character and cannot "
                       f"be sent as UTF-8")
        else:
            try:
                item = _item(number, data)
            except ValueError as exc:
                problem = str(exc)
        if problem is not None:
            if own is not None:  # its id is taken all the same: a later line repeating it
                seen.setdefault(id_key(own), number)  # is not sent under the same id
            yield _bad(number, ident, source, problem)
            continue
        if item.key in seen:
            yield _bad(number, ident, source, f"id {item.key} is already used on line "
                                              f"{seen[item.key]}; ids must be unique (they are "
                                              f"how a re-run knows what is done)")
            continue
        seen[item.key] = number
        yield item


def _bad(line: int, ident: str | int, source: str, problem: str) -> BadLine:
    return BadLine(line, ident, id_key(ident), f"{source} line {line}: {problem}")


@frozen
class Finished:
    """What the output already holds: the ids done, and the input lines already reported
    as unusable (an input problem is recorded by line number, not by id)."""

    ids: set[str]
    lines: set[int]
    ok: int = 0
    failed: int = 0


class OutputFile:
    """The output JSONL: what it already holds, and whole lines appended one at a time.

    Only a regular file is read back for resuming and trimmed; a device or a pipe
    (``/dev/stdout``, ``/dev/null``) is only written to. Lines are written through an
    unbuffered file, so a failed write (a full disk) leaves nothing pending to be
    written later, and raises ``OSError`` at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None
        #: Whether an unfinished or unreadable last line (a crash mid-write) was cut off.
        self.trimmed = False
        #: Lines written by this run.
        self.written = 0

    def _regular(self) -> bool:
        try:
            return stat.S_ISREG(self.path.stat().st_mode)
        except FileNotFoundError:
            return False

    def finished(self, *, retry_failed: bool = False) -> Finished:
        """The ids and input lines to skip, from the whole lines already written (with
        ``retry_failed``, error lines are not skipped); a line that is not UTF-8 JSON (a
        crash's leftovers) is not counted."""
        done = Finished(set(), set())
        if not self._regular():
            return done
        ok = failed = 0
        with self.path.open("rb") as existing:
            for data in _records(existing):
                if data.get("ok") is True:
                    ok += 1
                    done.ids.add(id_key(data["id"]))
                    continue
                failed += 1
                if retry_failed:
                    continue
                line = data.get("line")
                if isinstance(line, int) and not isinstance(line, bool):
                    done.lines.add(line)  # a bad input line: its id may be taken by no item
                else:
                    done.ids.add(id_key(data["id"]))
        return attrs.evolve(done, ok=ok, failed=failed)

    def open(self) -> None:
        """Open for appending, first cutting off an unfinished last line, and a last line
        that is not UTF-8 (one cut inside a character, then ended), if there is one."""
        if self._regular():
            with self.path.open("rb+") as raw:
                size = raw.seek(0, os.SEEK_END)
                keep = _after_last_newline(raw, size)
                if keep:
                    start = _after_last_newline(raw, keep - 1)
                    raw.seek(start)
                    if not _utf8(raw.read(keep - start)):
                        keep = start  # a whole line, yet not one we could have written
                if keep != size:
                    raw.truncate(keep)
                    self.trimmed = True
        self._file = self.path.open("ab", buffering=0)

    def write(self, data: Mapping[str, Any]) -> None:
        """One whole line, written at once; ``OSError`` when the file cannot take it."""
        assert self._file is not None, "open() the output first"
        from jtd_ai.cli.output import json_text

        line = memoryview((json_text(data) + "\n").encode("utf-8"))
        while line:
            count = self._file.write(line)
            if count is None:  # pragma: no cover - only non-blocking files do this
                raise BlockingIOError(f"{self.path} cannot take more now")
            line = line[count:]
        self.written += 1

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            file.close()  # unbuffered: nothing is left to write, so this cannot fail late


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _record(raw: bytes) -> dict[str, Any] | None:
    """One output line as data, or None if it is not a JSON object with an id."""
    from jtd_ai.wire import loads

    try:
        data = loads(raw.decode("utf-8"))
    except ValueError:  # not UTF-8 (UnicodeDecodeError), not JSON, too deep, ...
        return None
    return data if isinstance(data, dict) and "id" in data else None


def _records(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The records of whole lines; reading stops at an unfinished last line."""
    for raw in lines:
        if not raw.endswith(b"\n"):
            return  # an unfinished line: cut off when the file is opened to write
        data = _record(raw)
        if data is not None:
            yield data


def _after_last_newline(raw: IO[bytes], size: int) -> int:
    """The offset just after the last newline in the first ``size`` bytes of the file
    (0 when there is none)."""
    end = size
    while end > 0:
        start = max(0, end - 65536)
        raw.seek(start)
        cut = raw.read(end - start).rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0
