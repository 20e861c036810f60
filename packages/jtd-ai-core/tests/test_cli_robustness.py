"""The command line at the edges (issue 15): replies holding a lone surrogate or breaking the
JSON parser, input no encoder can take, an output file on a full disk or cut inside a UTF-8
character, and names from data that look like rich markup. Each ends in output or a clear
error and a documented exit code, never a traceback.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import lines, needs
from click.testing import CliRunner, Result
from crafted_server import MARKUP_MODEL, CraftedServer

from jtd_ai.cli import cli
from jtd_ai.cli.exits import OUTPUT_FAILED

pytestmark = needs("openai")

KEY = "sk-crafted-cli-0123456789"


class CraftedCli:
    """``jtd-ai`` configured for the crafted server (provider ``crafted``, no retries)."""

    def __init__(self, server: CraftedServer, tmp: Path) -> None:
        self.server = server
        self.home = tmp / "home"
        self.home.mkdir()
        self.config = tmp / "jtd-ai.toml"
        self.config.write_text(f"""
default = "crafted"

[providers.crafted]
driver = "openai"
base_url = "{server.base_url}"
api_key = "{KEY}"
default_model = "gpt-4o-mini"
retry_attempts = 1

[providers.markup]
driver = "openai"
base_url = "{server.base_url}"
api_key = "{KEY}"
default_model = "{MARKUP_MODEL}"

[store]
path = "{(self.home / 'jtd-ai.db').as_posix()}"
""", encoding="utf-8")
        self.env = {"JTD_AI_CONFIG": str(self.config), "JTD_AI_HOME": str(self.home)}

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=input, env=self.env,
                                  catch_exceptions=False)

    def process(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``python -m jtd_ai ARGS`` as a real process: real stdout and stderr encodings."""
        return subprocess.run([sys.executable, "-m", "jtd_ai", *args], capture_output=True,
                              text=True, encoding="utf-8", errors="strict", timeout=120,
                              stdin=subprocess.DEVNULL, check=False,
                              env={**os.environ, **self.env, "PYTHONIOENCODING": "utf-8"})


@pytest.fixture(scope="module", name="crafted_server")
def crafted_server_fixture() -> Iterator[CraftedServer]:
    with CraftedServer() as server:
        yield server


@pytest.fixture(name="jtd")
def jtd_fixture(crafted_server: CraftedServer, tmp_path: Path) -> CraftedCli:
    return CraftedCli(crafted_server, tmp_path)


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


# -- a reply holding a lone surrogate ---------------------------------------------------------


def test_chat_json_prints_a_reply_with_a_lone_surrogate_exactly(jtd: CraftedCli) -> None:
    result = jtd("chat", "--json", "#surrogate")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["content"] == "bad \ud800 reply"  # escaped, exact


def test_chat_no_stream_and_stream_print_a_lone_surrogate_escaped(jtd: CraftedCli) -> None:
    for args in (["--no-stream"], []):
        result = jtd("chat", *args, "#surrogate")
        assert result.exit_code == 0, result.stderr
        assert "bad" in result.stdout and "\\ud800" in result.stdout and "reply" in (
            result.stdout)


def test_chat_in_a_real_process_prints_the_surrogate_reply(jtd: CraftedCli) -> None:
    for args in (["--json"], ["--no-stream"], []):
        done = jtd.process("chat", *args, "#surrogate")
        assert done.returncode == 0, done.stderr
        _no_traceback(done.stderr)
        assert "\\ud800" in done.stdout


# -- jtd-ai batch: bad replies and bad input lines are error lines ---------------------------


def _write(path: Path, rows: list[Any]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_batch_writes_an_error_line_for_an_unreadable_reply_and_goes_on(
        jtd: CraftedCli, tmp_path: Path) -> None:
    rows = [{"id": "a", "prompt": "first"}, {"id": "deep", "prompt": "#deep"},
            {"id": "big", "prompt": "#bigint"}, {"id": "sur", "prompt": "#surrogate"},
            {"id": "z", "prompt": "last"}]
    _write(tmp_path / "in.jsonl", rows)
    result = jtd("batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"),
                 "-c", "2", "--json")
    assert result.exit_code == 1, result.stderr  # some items failed
    out = {row["id"]: row for row in lines(tmp_path / "out.jsonl")}
    assert sorted(out) == ["a", "big", "deep", "sur", "z"]
    assert out["deep"]["error"]["type"] == "MalformedResponseError"
    assert out["big"]["error"]["type"] == "MalformedResponseError"
    assert out["sur"]["ok"] is True and out["sur"]["content"] == "bad \ud800 reply"
    assert out["a"]["content"] == "echo: first" and out["z"]["content"] == "echo: last"
    summary = json.loads(result.stdout)
    assert (summary["ok"], summary["failed"]) == (3, 2)
    again = jtd("batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), "-q")
    assert again.exit_code == 0 and "skipping 5 of 5" in again.stderr  # the file reads back


@pytest.mark.parametrize("line", [
    '{"id": "s", "prompt": "lone \\ud800 surrogate"}',
    '{"id": "s", "prompt": "ok", "system": "x \\udfff"}',
    '{"id": "s", "prompt": ' + "[" * 100_000 + "]" * 100_000 + "}",
    '{"id": 1' + "0" * 5_000 + ', "prompt": "big id"}',
])
def test_batch_input_no_encoder_or_parser_can_take_is_its_lines_error(
        jtd: CraftedCli, tmp_path: Path, line: str) -> None:
    """The input is read as the batch goes (issue 19): the bad line is that line's error
    line, never sent, and the good line is sent."""
    (tmp_path / "in.jsonl").write_text('{"id": "ok", "prompt": "fine"}\n' + line + "\n",
                                       encoding="utf-8")
    before = len(jtd.server.prompts)
    result = jtd("batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 1, result.stderr
    rows = lines(tmp_path / "out.jsonl")
    assert [r["content"] for r in rows if r["ok"]] == ["echo: fine"]
    (bad,) = [r for r in rows if not r["ok"]]
    assert bad["line"] == 2 and bad["error"]["type"] == "ValidationError"
    assert "line 2" in bad["error"]["message"]
    assert jtd.server.prompts[before:] == ["fine"]  # the bad line was never sent


def test_batch_input_that_is_not_utf8_is_named_by_line(jtd: CraftedCli,
                                                       tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_bytes(b'{"id": 1, "prompt": "fine"}\n'
                                        b'{"id": 2, "prompt": "caf\xe9"}\n')
    result = jtd("batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 1
    (bad,) = [r for r in lines(tmp_path / "out.jsonl") if not r["ok"]]
    assert "line 2: not UTF-8" in bad["error"]["message"]
    assert bad["id"] == 2  # an unreadable line is known by its line number


# -- jtd-ai batch: the output file ------------------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_batch_on_a_full_disk_ends_with_a_clear_error_and_exit_4(jtd: CraftedCli,
                                                                 tmp_path: Path) -> None:
    _write(tmp_path / "in.jsonl", [{"id": i, "prompt": f"p{i}"} for i in range(6)])
    done = jtd.process("batch", str(tmp_path / "in.jsonl"), "-o", "/dev/full", "-c", "1")
    assert done.returncode == OUTPUT_FAILED == 4, done.stderr
    _no_traceback(done.stderr)
    assert "cannot write to /dev/full: No space left on device" in done.stderr
    assert "run the same command again" in done.stderr


def test_a_write_failure_mid_batch_keeps_every_line_written_and_a_rerun_finishes(
        jtd: CraftedCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jtd_ai.cli.jsonl import OutputFile

    ids = list(range(10))
    _write(tmp_path / "in.jsonl", [{"id": i, "prompt": f"p{i}"} for i in ids])
    out_path = tmp_path / "out.jsonl"
    real_write = OutputFile.write
    calls = 0

    def failing_write(self: OutputFile, data: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 4:
            with self.path.open("ab") as raw:  # the disk took half the line, then was full
                raw.write(b'{"id": 3, "ok": tr')
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(self, data)

    monkeypatch.setattr(OutputFile, "write", failing_write)
    first = jtd("batch", str(tmp_path / "in.jsonl"), "-o", str(out_path), "-c", "1", "--json")
    assert first.exit_code == OUTPUT_FAILED
    assert "No space left on device" in first.stderr and "3 lines" in first.stderr
    summary = json.loads(first.stdout)
    assert summary["output_error"] == "No space left on device"
    assert summary["ok"] == 3 and summary["unwritten"] >= 1
    monkeypatch.setattr(OutputFile, "write", real_write)
    again = jtd("batch", str(tmp_path / "in.jsonl"), "-o", str(out_path), "-c", "4")
    assert again.exit_code == 0, again.stderr
    assert "unfinished last line" in again.stderr
    assert sorted(row["id"] for row in lines(out_path)) == ids  # every id exactly once


def test_resume_after_a_cut_inside_a_utf8_character(jtd: CraftedCli, tmp_path: Path) -> None:
    ids = ["é1", "é2", "é3", "é4"]
    _write(tmp_path / "in.jsonl", [{"id": i, "prompt": f"prompt {i}"} for i in ids])
    out_path = tmp_path / "out.jsonl"
    whole = (json.dumps({"id": "é1", "ok": True, "content": "café"}, ensure_ascii=False)
             + "\n").encode()
    cut = json.dumps({"id": "é2", "ok": True, "content": "café"},
                     ensure_ascii=False).encode()
    cut = cut[:cut.index("é".encode()) + 1]  # the first byte of a two-byte character
    out_path.write_bytes(whole + cut)
    for _ in range(2):  # the second run must not fail either
        result = jtd("batch", str(tmp_path / "in.jsonl"), "-o", str(out_path), "-q")
        assert result.exit_code == 0, result.stderr
    rows = lines(out_path)
    assert sorted(row["id"] for row in rows) == ids
    assert rows[0]["content"] == "café"  # the line from before is kept


def test_resume_skips_an_undecodable_line_and_trims_an_undecodable_last_line(
        jtd: CraftedCli, tmp_path: Path) -> None:
    _write(tmp_path / "in.jsonl", [{"id": i, "prompt": f"p{i}"} for i in range(4)])
    out_path = tmp_path / "out.jsonl"
    good = b'{"id": 0, "ok": true, "content": "kept"}\n'
    out_path.write_bytes(b'{"id": 1, "ok": true, "content": "\xff\xfe"}\n' + good
                         + b'{"id": 2, "ok": true, "content": "caf\xc3"}\n')
    result = jtd("batch", str(tmp_path / "in.jsonl"), "-o", str(out_path), "-q")
    assert result.exit_code == 0, result.stderr
    raw = out_path.read_bytes()
    assert raw.startswith(b'{"id": 1, "ok": true, "content": "\xff\xfe"}\n' + good)
    rows = [json.loads(line) for line in raw.splitlines()[1:]]
    assert sorted(row["id"] for row in rows) == [0, 1, 2, 3]  # 1 and 2 sent again
    assert rows[0]["content"] == "kept"


# -- names from data are never markup ---------------------------------------------------------


def test_usage_and_providers_print_markup_looking_names_on_a_terminal(
        jtd: CraftedCli, monkeypatch: pytest.MonkeyPatch) -> None:
    reply = jtd("chat", "--json", "#markup")
    assert reply.exit_code == 0, reply.stderr
    assert json.loads(reply.stdout)["model"] == MARKUP_MODEL
    monkeypatch.setattr("jtd_ai.cli.output.is_terminal", lambda *, err=False: True)
    monkeypatch.setenv("COLUMNS", "240")  # rich: wide enough that no cell is cut
    usage = jtd("usage", "--by", "provider,model")
    assert usage.exit_code == 0, usage.stderr
    assert MARKUP_MODEL in usage.stdout
    providers = jtd("providers", "markup")
    assert providers.exit_code == 0, providers.stderr
    assert MARKUP_MODEL in providers.stdout


def test_plain_tables_print_a_surrogate_from_data() -> None:
    import click

    from jtd_ai.cli.output import table

    runner = CliRunner()

    @click.command()
    def show() -> None:
        table(["model"], [["bad \ud800 name"]], title="t [/x]")

    result = runner.invoke(show, catch_exceptions=False)
    assert result.exit_code == 0
    assert "bad \\ud800 name" in result.stdout and "t [/x]" in result.stdout
