"""The batch files: JSONL input items, and the output that doubles as the resume record.

Input: one JSON object per line (blank lines skipped), see docs/cli.md::

    {"id": "q1", "prompt": "Name three rivers"}
    {"id": "q2", "messages": [{"role": "user", "content": "Hi"}], "model": "gpt-4o",
     "system": "Be brief", "options": {"temperature": 0.2, "max_tokens": 50}}

Output: one JSON object per finished item, written whole and flushed as it finishes, so an
interrupted run leaves only complete lines; ids already there are skipped on a re-run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from attrs import frozen

from jtd_ai.cli.exits import USAGE, CliError
from jtd_ai.messages import Message

__all__ = ["BatchItem", "OutputFile", "parse_items"]

_ROLES = {"system": Message.system, "user": Message.user, "assistant": Message.assistant}
_MAX_PROBLEMS = 10


@frozen
class BatchItem:
    """One input line: its id (``key`` is the id as canonical JSON), messages and settings."""

    line: int
    id: str | int
    key: str
    messages: tuple[Message, ...]
    model: str | None = None
    options: Mapping[str, Any] = {}


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
    return BatchItem(line, ident, id_key(ident), _messages(data), model, options)


def parse_items(lines: Iterable[str], source: str) -> list[BatchItem]:
    """Every item of the input; any bad line stops the batch before anything is sent."""
    items: list[BatchItem] = []
    seen: dict[str, int] = {}
    problems: list[str] = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            item = _item(number, json.loads(raw))
        except json.JSONDecodeError as exc:
            problems.append(f"{source} line {number}: not JSON ({exc.msg} at column "
                            f"{exc.colno})")
            continue
        except ValueError as exc:
            problems.append(f"{source} line {number}: {exc}")
            continue
        if item.key in seen:
            problems.append(f"{source} line {number}: id {item.key} is already used on line "
                            f"{seen[item.key]}; ids must be unique (they are how a re-run "
                            f"knows what is done)")
            continue
        seen[item.key] = number
        items.append(item)
    if problems:
        more = len(problems) - _MAX_PROBLEMS
        text = "\n".join(problems[:_MAX_PROBLEMS]) + (f"\n... and {more} more" if more > 0
                                                       else "")
        raise CliError(f"the input is not valid; nothing was sent:\n{text}", USAGE)
    return items


class OutputFile:
    """The output JSONL: what it already holds, and whole lines appended and flushed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        #: Whether an unfinished last line (a crash mid-write) was cut off on open.
        self.trimmed = False

    def finished(self, *, retry_failed: bool = False) -> tuple[set[str], int, int]:
        """(ids to skip, ok lines, error lines) from the lines already written."""
        skip: set[str] = set()
        ok = failed = 0
        if not self.path.exists():
            return skip, ok, failed
        with self.path.open(encoding="utf-8") as existing:
            for raw in existing:
                if not raw.endswith("\n"):
                    break  # an unfinished line: cut off when the file is opened to write
                try:
                    data = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(data, dict) or "id" not in data:
                    continue
                if data.get("ok") is True:
                    ok += 1
                    skip.add(id_key(data["id"]))
                else:
                    failed += 1
                    if not retry_failed:
                        skip.add(id_key(data["id"]))
        return skip, ok, failed

    def open(self) -> None:
        """Open for appending, first cutting off an unfinished last line if there is one."""
        if self.path.exists():
            with self.path.open("rb+") as raw:
                size = raw.seek(0, os.SEEK_END)
                keep = _after_last_newline(raw, size)
                if keep != size:
                    raw.truncate(keep)
                    self.trimmed = True
        self._file = self.path.open("a", encoding="utf-8")

    def write(self, data: Mapping[str, Any]) -> None:
        """One whole line, flushed at once."""
        assert self._file is not None, "open() the output first"
        self._file.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _after_last_newline(raw: IO[bytes], size: int) -> int:
    """The offset just after the last newline of the file (0 when it has none)."""
    end = size
    while end > 0:
        start = max(0, end - 65536)
        raw.seek(start)
        cut = raw.read(end - start).rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0
