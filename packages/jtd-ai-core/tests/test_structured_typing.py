"""``reply.parsed`` is typed as the output type for mypy --strict users: a snippet is checked
by mypy, and each line it must reject is rejected with the type mypy inferred (never Any)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="mypy (tooling/requirements-dev.txt) checks the snippet")

SNIPPET = '''
import attrs
from jtd_ai import AI, Response
from jtd_ai.driver import ChatStream
from jtd_ai.structured import ParsedChatStream

@attrs.frozen
class City:
    name: str

driver = AI.driver("openai")
reply: Response[City] = driver.send_message("hi", output=City)
name: str = reply.parsed.name
cities = driver.stream("hi", output=list[City])
typed_stream: ParsedChatStream[list[City]] = cities
plain_stream: ChatStream = driver.stream("hi")
conversation = AI.conversation().output(City).message("x").temperature(0.2)
also: str = conversation.send().parsed.name
streamed: ParsedChatStream[City] = conversation.stream()
untyped = driver.send_message("hi").parsed
wrong_1: int = reply.parsed.name
wrong_2: int = conversation.send().parsed
'''


def test_parsed_has_the_output_type(tmp_path: Path) -> None:
    source = tmp_path / "snippet.py"
    source.write_text(SNIPPET, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--cache-dir",
         str(tmp_path / "cache"), str(source)],
        capture_output=True, text=True, timeout=300, check=False)
    errors = [line.split(": error: ", 1)[1] for line in result.stdout.splitlines()
              if ": error: " in line]
    assert errors == [
        'Incompatible types in assignment (expression has type "str", variable has type '
        '"int")  [assignment]',
        'Incompatible types in assignment (expression has type "City", variable has type '
        '"int")  [assignment]',
    ], result.stdout
