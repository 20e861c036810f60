"""``jtd-ai batch``: ids carried through, failing items as error lines, resume, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import Cli, jtd_fixture, keyed_server_fixture, lines, needs  # noqa: F401

from jtd_ai.testing.server import Fault

pytestmark = needs("openai")


def write_input(path: Path, count: int, *, missing: set[int] = frozenset()) -> list[str]:
    """``count`` items with ids q0..; the indexes in ``missing`` ask for an unknown model."""
    rows = []
    for i in range(count):
        row = {"id": f"q{i}", "prompt": f"prompt number {i}"}
        if i in missing:
            row["model"] = "missing-model"
        rows.append(json.dumps(row))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return [f"q{i}" for i in range(count)]


def test_every_id_once_with_failing_items_as_error_lines(jtd: Cli, tmp_path: Path) -> None:
    ids = write_input(tmp_path / "in.jsonl", 12, missing={3, 7})
    result = jtd("batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"),
                 "--concurrency", "4", "--json")
    assert result.exit_code == 1  # some items failed
    out = lines(tmp_path / "out.jsonl")
    assert sorted(row["id"] for row in out) == sorted(ids)
    by_id = {row["id"]: row for row in out}
    for i, ident in enumerate(ids):
        if i in (3, 7):
            assert by_id[ident]["ok"] is False
            assert by_id[ident]["error"]["type"] == "ModelNotFoundError"
            assert by_id[ident]["error"]["status"] == 404
        else:
            assert by_id[ident]["ok"] is True
            assert by_id[ident]["content"] == f"echo: prompt number {i}"
    summary = json.loads(result.stdout)
    assert (summary["ok"], summary["failed"], summary["skipped"]) == (10, 2, 0)
    ok_rows = [r for r in out if r["ok"]]
    assert summary["input_tokens"] == sum(r["usage"]["input_tokens"] for r in ok_rows)
    assert len(jtd.chat_bodies()) == 12


def test_item_settings_and_defaults_reach_the_requests(jtd: Cli, tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(
        '"just a prompt"\n'
        '\n'
        '{"id": 7, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", '
        '"content": "hello"}, {"role": "user", "content": "again"}], "system": "Be brief", '
        '"model": "gpt-4o", "options": {"max_tokens": 5, "temperature": 0.5}}\n',
        encoding="utf-8")
    result = jtd("batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"),
                 "--option", "temperature", "0.1", "-m", "gpt-5-mini", "-q")
    assert result.exit_code == 0, result.stderr
    out = {row["id"]: row for row in lines(tmp_path / "out.jsonl")}
    assert set(out) == {1, 7}  # a line without an id gets its line number
    bodies = {b["model"]: b for b in jtd.chat_bodies()}
    assert bodies["gpt-5-mini"]["temperature"] == 0.1
    assert bodies["gpt-4o"]["temperature"] == 0.5  # the item's own options win
    assert [m["role"] for m in bodies["gpt-4o"]["messages"]] == [
        "system", "user", "assistant", "user"]
    assert out[7]["model"].startswith("gpt-4o")  # as OpenAI answers: maybe a dated snapshot


def test_resume_skips_done_ids_and_cuts_an_unfinished_line(jtd: Cli, tmp_path: Path) -> None:
    ids = write_input(tmp_path / "in.jsonl", 10)
    done = [{"id": ident, "ok": True, "content": "from before"} for ident in ids[:4]]
    (tmp_path / "out.jsonl").write_text(
        "".join(json.dumps(d) + "\n" for d in done) + '{"id": "q4", "ok": tr',
        encoding="utf-8")
    result = jtd("batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 0, result.stderr
    out = lines(tmp_path / "out.jsonl")  # every line parses: the half line is gone
    assert sorted(row["id"] for row in out) == sorted(ids)
    assert [row["content"] for row in out[:4]] == ["from before"] * 4
    sent = {b["messages"][-1]["content"] if isinstance(b["messages"][-1]["content"], str)
            else b["messages"][-1]["content"][0]["text"] for b in jtd.chat_bodies()}
    assert sent == {f"prompt number {i}" for i in range(4, 10)}
    assert "skipping 4 of 10" in result.stderr
    assert "unfinished last line" in result.stderr


def test_retry_failed_sends_failed_ids_again(jtd: Cli, tmp_path: Path) -> None:
    ids = write_input(tmp_path / "in.jsonl", 6)
    jtd.server.inject(Fault(status=400), times=2)
    first = jtd("batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"),
                "-c", "1", "-q")
    assert first.exit_code == 1
    failed = [row["id"] for row in lines(tmp_path / "out.jsonl") if not row["ok"]]
    assert len(failed) == 2
    again = jtd("batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), "-q")
    assert again.exit_code == 0  # nothing left to send: failed ids count as done
    assert len(jtd.chat_bodies()) == 6
    retried = jtd("batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"),
                  "--retry-failed", "-q")
    assert retried.exit_code == 0
    out = lines(tmp_path / "out.jsonl")
    assert sorted(row["id"] for row in out if row["ok"]) == sorted(ids)
    assert len(jtd.chat_bodies()) == 8


def test_bad_lines_mid_file_are_error_lines_and_the_batch_goes_on(jtd: Cli,
                                                                  tmp_path: Path) -> None:
    """The input is read as the batch goes (issue 19): a bad line is that line's error line,
    never sent, and a re-run does not report it again; a fixed line is sent."""
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1, "prompt": "a"}\n{"id": 1, "prompt": "b"}\nnot json\n'
                      '{"id": 2}\n{"id": 3, "prompt": "c", "options": {"temperature": 9}}\n'
                      '{"id": 4, "prompt": "d"}\n', encoding="utf-8")
    out_path = tmp_path / "out.jsonl"
    result = jtd("batch", str(source), "-o", str(out_path), "-c", "2", "--json")
    assert result.exit_code == 1, result.stderr  # some items failed; the batch went on
    rows = lines(out_path)
    good = {row["id"]: row["content"] for row in rows if row["ok"]}
    assert good == {1: "echo: a", 4: "echo: d"}
    bad = {row["line"]: row for row in rows if not row["ok"]}
    assert sorted(bad) == [2, 3, 4, 5]
    assert [bad[n]["id"] for n in (2, 3, 4, 5)] == [1, 3, 2, 3]  # unreadable: its line number
    assert all(row["error"]["type"] == "ValidationError" for row in bad.values())
    assert "already used on line 1" in bad[2]["error"]["message"]
    assert "not JSON" in bad[3]["error"]["message"]
    assert "'prompt'" in bad[4]["error"]["message"]
    assert "temperature" in bad[5]["error"]["message"]
    assert sorted(b["messages"][-1]["content"] for b in jtd.chat_bodies()) == ["a", "d"]
    summary = json.loads(result.stdout)
    assert (summary["ok"], summary["failed"], summary["input_finished"]) == (2, 4, True)

    again = jtd("batch", str(source), "-o", str(out_path), "-q")
    assert again.exit_code == 0, again.stderr  # nothing left: bad lines count as reported
    assert "skipping 6 of 6" in again.stderr
    assert len(lines(out_path)) == 6 and len(jtd.chat_bodies()) == 2

    source.write_text(source.read_text().replace("not json", '{"id": 9, "prompt": "fixed"}'))
    fixed = jtd("batch", str(source), "-o", str(out_path), "-q")
    assert fixed.exit_code == 0, fixed.stderr  # line 3 reported before, yet its text changed:
    assert len(jtd.chat_bodies()) == 2  # by line number it still counts as reported
    retried = jtd("batch", str(source), "-o", str(out_path), "-q", "--retry-failed")
    assert retried.exit_code == 1  # the lines still bad are reported again
    assert {"fixed"} == {b["messages"][-1]["content"] for b in jtd.chat_bodies()} - {"a", "d"}


def test_a_bad_line_takes_its_own_id(jtd: Cli, tmp_path: Path) -> None:
    """A line that cannot be sent but gives a readable id takes that id: a later line
    repeating it is not sent either, so each id has one line in the output, across
    re-runs and --retry-failed."""
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "prompt": "one"}\nnot json\n{"id": "b", "prompt": ""}\n'
                      '{"id": "b", "prompt": "two"}\n{"id": "a", "prompt": "dup"}\n'
                      '{"id": "c", "prompt": "fail-me"}\n', encoding="utf-8")
    out_path = tmp_path / "out.jsonl"
    jtd.server.inject(Fault(status=400, body_contains="fail-me"), times=10)
    first = jtd("batch", str(source), "-o", str(out_path), "-q")
    assert first.exit_code == 1, first.stderr
    rows = lines(out_path)
    assert sorted((str(r["id"]), r.get("line", 0), r["ok"]) for r in rows) == [
        ("2", 2, False), ("a", 0, True), ("a", 5, False), ("b", 3, False),
        ("b", 4, False), ("c", 0, False)]
    assert "already used on line 3" in next(r for r in rows if r.get("line") == 4)[
        "error"]["message"]
    assert sorted(b["messages"][-1]["content"] for b in jtd.chat_bodies()) == [
        "fail-me", "one"]

    again = jtd("batch", str(source), "-o", str(out_path), "-q")
    assert again.exit_code == 0, again.stderr
    assert lines(out_path) == rows  # nothing sent, nothing written
    retried = jtd("batch", str(source), "-o", str(out_path), "-q", "--retry-failed")
    assert retried.exit_code == 1
    added = lines(out_path)[len(rows):]
    assert not [r for r in added if r["ok"]]  # "two" is still never sent under id b
    assert "two" not in {b["messages"][-1]["content"] for b in jtd.chat_bodies()}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe")
def test_the_input_is_read_as_the_batch_goes(jtd: Cli, tmp_path: Path) -> None:
    """Results are written while the input is still being written: nothing waits for the
    whole file (which is how a file of any size stays in bounded memory)."""
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    out_path = tmp_path / "out.jsonl"
    proc = jtd.process("batch", str(fifo), "-o", str(out_path), "-q", "-c", "2")
    with fifo.open("w", encoding="utf-8") as pipe:
        for i in range(3):
            pipe.write(json.dumps({"id": i, "prompt": f"early {i}"}) + "\n")
        pipe.flush()
        deadline = time.monotonic() + 60
        while not out_path.exists() or len(out_path.read_text().splitlines()) < 3:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no result before the input ended"
            time.sleep(0.02)
        pipe.write("{broken\n" + json.dumps({"id": 9, "prompt": "late"}) + "\n")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr  # the broken line failed; the others went through
    rows = {row["id"]: row for row in lines(out_path)}
    assert sorted(rows) == [0, 1, 2, 4, 9]
    assert rows[4]["ok"] is False and rows[4]["line"] == 4
    assert rows[9]["content"] == "echo: late"


def test_a_bad_option_for_every_item_sends_nothing(jtd: Cli, tmp_path: Path) -> None:
    write_input(tmp_path / "in.jsonl", 3)
    result = jtd("batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"),
                 "--option", "temperature", "9")
    assert result.exit_code == 2
    assert "temperature" in result.stderr and "nothing was sent" in result.stderr
    assert not (tmp_path / "out.jsonl").exists()
    assert jtd.chat_bodies() == []


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT to a child process")
def test_ctrl_c_keeps_whole_lines_and_a_rerun_finishes(jtd: Cli, tmp_path: Path) -> None:
    ids = write_input(tmp_path / "in.jsonl", 40)
    out_path = tmp_path / "out.jsonl"
    # "slow" delays every reply (0.2s), so the batch is still running when interrupted.
    proc = jtd.process("batch", str(tmp_path / "in.jsonl"), "-o", str(out_path), "-p", "slow",
                       "-c", "2")
    deadline = time.monotonic() + 60
    while (not out_path.exists() or len(out_path.read_text().splitlines()) < 3):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the batch never wrote three lines"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    kept = lines(out_path)  # raises if any line were half written
    assert 3 <= len(kept) < 40
    assert all(row["ok"] for row in kept)
    assert "run the same command again" in stderr
    rerun = jtd("batch", str(tmp_path / "in.jsonl"), "-o", str(out_path), "-c", "8", "-q")
    assert rerun.exit_code == 0, rerun.stderr
    final = lines(out_path)
    assert sorted(row["id"] for row in final) == sorted(ids)  # each id exactly once
    assert f"skipping {len(kept)} of 40" in rerun.stderr
