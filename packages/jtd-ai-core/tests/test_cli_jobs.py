"""``jtd-ai batch --provider-batch`` and ``jtd-ai jobs`` against the fake server's batch
endpoints (OpenAI Batch, Gemini batch mode)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import Cli, jtd_fixture, keyed_server_fixture, lines, needs  # noqa: F401

from jtd_ai import AIManager
from jtd_ai.jobs import run_batch_job
from jtd_ai.testing.batch_server import FAIL_MARK

pytestmark = [needs("openai"), needs("gemini")]


@pytest.fixture(autouse=True)
def _quick_jobs(jtd: Cli) -> Iterator[None]:
    jtd.server.batches.polls = 2
    jtd.server.batches.outcome = "completed"
    yield
    jtd.server.batches.polls = 2


def write(path: Path, prompts: list[str], *, extra: str = "") -> Path:
    rows = [json.dumps({"id": f"q{i}", "prompt": p}) for i, p in enumerate(prompts)]
    path.write_text("\n".join(rows) + "\n" + extra, encoding="utf-8")
    return path


@pytest.mark.parametrize(("provider", "model"), [("openai", "gpt-4o-mini"),
                                                 ("gemini", "gemini-2.5-flash")])
def test_provider_batch_writes_every_id_in_order_and_resumes_without_a_new_job(
        jtd: Cli, tmp_path: Path, provider: str, model: str) -> None:
    source = write(tmp_path / "in.jsonl", ["alpha", f"beta {FAIL_MARK}", "gamma"])
    out = tmp_path / "out.jsonl"
    args = ("batch", str(source), "-o", str(out), "--provider-batch", "-p", provider,
            "-m", model, "--poll-interval", "0.01", "--json")
    created = len(jtd.server.batches.created)
    result = jtd(*args)
    assert result.exit_code == 1, result.output  # one item failed
    assert json.loads(result.stdout)["mode"] == "provider"
    rows = lines(out)
    assert [r["id"] for r in rows] == ["q0", "q1", "q2"]
    assert [r["ok"] for r in rows] == [True, False, True]
    assert rows[0]["content"] == "echo: alpha" and rows[2]["content"] == "echo: gamma"
    assert rows[1]["error"]["status"] == 400
    assert len(jtd.server.batches.created) == created + 1
    again = jtd(*args)
    assert again.exit_code == 1
    assert lines(out) == rows  # nothing written twice
    assert len(jtd.server.batches.created) == created + 1  # the stored run, resumed


CITY = {"type": "object", "title": "City",
        "properties": {"name": {"type": "string"}, "big": {"type": "boolean"}},
        "required": ["name", "big"], "additionalProperties": False}
TOWN = {"type": "object", "title": "Town", "properties": {"name": {"type": "string"}},
        "required": ["name"], "additionalProperties": False}


@pytest.mark.parametrize(("provider", "model"), [("openai", "gpt-4o-mini"),
                                                 ("gemini", "gemini-2.5-flash")])
def test_provider_batch_items_with_a_schema_are_parsed_as_in_a_live_batch(
        jtd: Cli, tmp_path: Path, provider: str, model: str) -> None:
    town = tmp_path / "town.json"
    town.write_text(json.dumps(TOWN), encoding="utf-8")
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(row) for row in [
        {"id": "a", "prompt": "Lyon", "schema": CITY},
        {"id": "b", "prompt": "Paris"},
        {"id": "c", "prompt": '{"name": 5, "big": false}', "schema": CITY},  # sent back as is
    ]) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = jtd("batch", str(source), "-o", str(out), "--provider-batch", "-p", provider,
                 "-m", model, "--poll-interval", "0.01", "-q", "--schema", str(town))
    assert result.exit_code == 1, result.output  # c's reply does not match its schema
    rows = {row["id"]: row for row in lines(out)}
    assert rows["a"]["parsed"] == {"name": "echo: Lyon", "big": False}  # its own schema
    assert rows["b"]["parsed"] == {"name": "echo: Paris"}  # the batch-wide one
    assert rows["c"]["ok"] is False and rows["c"]["error"]["type"] == "OutputValidationError"
    assert rows["c"]["error"]["message"] == ("the reply does not match the JSON schema 'City': "
                                             "5 is not of type 'string' @ $.name")


def test_a_bad_line_stops_the_provider_batch_before_any_upload(jtd: Cli,
                                                               tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl", ["fine"], extra="{not json\n")
    jtd.server.requests.clear()
    result = jtd("batch", str(source), "-o", str(tmp_path / "out.jsonl"), "--provider-batch",
                 "--poll-interval", "0.01")
    assert result.exit_code == 2
    assert "nothing was uploaded" in result.stderr
    assert list(jtd.server.requests) == []


def test_a_model_without_batch_support_is_refused(jtd: Cli, tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl", ["fine"])
    jtd.server.requests.clear()
    result = jtd("batch", str(source), "-o", str(tmp_path / "out.jsonl"), "--provider-batch",
                 "-m", "gpt-4o-realtime-preview")
    assert result.exit_code == 2
    assert "batch API" in result.stderr
    assert list(jtd.server.requests) == []


def test_jobs_list_status_cancel_and_collect(jtd: Cli) -> None:
    jtd.server.batches.polls = 10_000  # the first job stays running until cancelled
    with AIManager(config_file=jtd.config, env={}) as ai:
        driver = ai.driver("openai")
        waiting = run_batch_job(driver, ["wait 1", "wait 2"], model="gpt-4o-mini",
                                wait=False)
        jtd.server.batches.polls = 1
        done = run_batch_job(driver, ["done 1"], model="gpt-4o-mini", wait=False)
    listed = jtd("jobs", "list", "--json")
    assert listed.exit_code == 0
    runs = {row["run_id"] for row in json.loads(listed.stdout)}
    assert {waiting, done} <= runs

    status = jtd("jobs", "status", done, "--json")
    assert [row["state"] for row in json.loads(status.stdout)] == ["completed"]
    collected = jtd("jobs", "collect", done, "--poll-interval", "0.01")
    assert collected.exit_code == 0
    (line,) = collected.stdout.splitlines()
    assert json.loads(line)["content"] == "echo: done 1"

    cancelled = jtd("jobs", "cancel", waiting, "--json")
    assert [row["state"] for row in json.loads(cancelled.stdout)] == ["cancelled"]
    results = jtd("jobs", "collect", waiting, "--poll-interval", "0.01")
    assert results.exit_code == 1
    assert [json.loads(line)["error"]["type"] for line in results.stdout.splitlines()] == [
        "BatchCancelledError", "BatchCancelledError"]

    table = jtd("jobs", "list")
    assert waiting in table.stdout and "cancelled" in table.stdout
    unknown = jtd("jobs", "status", "no-such-run")
    assert unknown.exit_code == 2


@pytest.mark.parametrize("option", [("--concurrency", "4"), ("--retry-failed",)])
def test_live_only_options_are_a_usage_error_with_provider_batch(
        jtd: Cli, tmp_path: Path, option: tuple[str, ...]) -> None:
    source = write(tmp_path / "in.jsonl", ["fine"])
    jtd.server.requests.clear()
    result = jtd("batch", str(source), "-o", str(tmp_path / "out.jsonl"), "--provider-batch",
                 *option)
    assert result.exit_code == 2
    assert option[0] in result.stderr and "--provider-batch" in result.stderr
    assert "nothing was uploaded" in result.stderr
    assert list(jtd.server.requests) == []
    assert not (tmp_path / "out.jsonl").exists()


def test_a_run_over_the_budget_is_refused_before_any_upload(jtd: Cli, tmp_path: Path) -> None:
    with jtd.config.open("a", encoding="utf-8") as config:
        config.write("\n[budget]\nlimit = 0.000001\n")
    source = write(tmp_path / "in.jsonl", ["too dear", "also too dear"])
    jtd.server.requests.clear()
    result = jtd("batch", str(source), "-o", str(tmp_path / "out.jsonl"), "--provider-batch",
                 "-m", "gpt-4o-mini", "--option", "max_tokens", "20")
    assert result.exit_code == 2, result.output
    assert "budget" in result.stderr and "nothing was uploaded" in result.stderr
    assert list(jtd.server.requests) == []
