"""A process running a provider batch job is killed (SIGKILL) at each step, then the same job
is run again: exactly one job is created at the provider, and every result comes back once
(and gets one ledger row).

The fake server runs in this process; the child (helpers/batch_job_child.py) talks to it.
A stalled reply (Fault ``stall_after=0``: the server acts on the request, sends the head and
goes silent) holds the child at the step, where it is killed.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_helpers import needs

from jtd_ai import AIManager, ProviderError
from jtd_ai.jobs import run_batch_job
from jtd_ai.testing.server import FakeProviderServer, Fault

pytestmark = [needs("openai"), needs("gemini")]

CHILD = Path(__file__).parent / "helpers" / "batch_job_child.py"
MODELS = {"openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}
PROMPTS = ["resume zero", "resume one", "resume two"]
EXPECTED = [f"echo: {p}" for p in PROMPTS]
#: The request the child is killed in, by step and provider (paths of the fake server).
STALL = {
    ("create", "openai"): ("POST", "/v1/batches"),
    ("create", "gemini"): ("POST", ":batchGenerateContent"),
    ("poll", "openai"): ("GET", "/v1/batches/batch_"),
    ("poll", "gemini"): ("GET", "/v1beta/batches/"),
    ("download", "openai"): ("GET", "/content"),
    ("download", "gemini"): ("GET", ":download"),
}


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as running:
        running.batches.polls = 2
        yield running


def child(server: FakeProviderServer, store: Path, provider: str) -> subprocess.Popen[str]:
    mode = "file" if provider == "gemini" else "auto"  # a download for Gemini too
    return subprocess.Popen(
        [sys.executable, str(CHILD), server.url, str(store), provider, MODELS[provider], mode,
         *PROMPTS], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_request(server: FakeProviderServer, method: str, fragment: str,
                     process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(r.method == method and fragment in r.path for r in list(server.requests)):
            time.sleep(0.2)  # the server has acted on it and sent the head
            return
        if process.poll() is not None:
            pytest.fail(f"the child ended before the step: {process.communicate()}")
        time.sleep(0.02)
    pytest.fail(f"the child never sent {method} {fragment}")


@pytest.mark.parametrize("provider", ["openai", "gemini"])
@pytest.mark.parametrize("step", ["create", "poll", "download"])
def test_killed_at_a_step_then_resumed_creates_one_job_and_every_result_once(
        server: FakeProviderServer, tmp_path: Path, provider: str, step: str) -> None:
    store = tmp_path / "jtd-ai.db"
    method, fragment = STALL[(step, provider)]
    server.inject(Fault(stall_after=0, path_contains=fragment))
    first = child(server, store, provider)
    try:
        wait_for_request(server, method, fragment, first)
    finally:
        first.kill()
        first.communicate()
    assert len(server.batches.created) == 1  # the create reached the server every time
    with sqlite3.connect(store) as conn:
        steps = [row[0] for row in conn.execute("SELECT step FROM batch_jobs")]
        assert conn.execute("SELECT count(*) FROM usage").fetchone()[0] == 0
    assert steps == ["creating" if step == "create" else "submitted"]

    second = child(server, store, provider)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert json.loads(out) == EXPECTED
    assert len(server.batches.created) == 1  # resumed, never created twice
    with sqlite3.connect(store) as conn:
        assert [row[0] for row in conn.execute("SELECT step FROM batch_jobs")] == ["collected"]
        batch_ids = [row[0] for row in conn.execute("SELECT batch_id FROM usage")]
    assert batch_ids == [server.batches.created[0]] * len(PROMPTS)  # one row per item


def test_killed_after_the_upload_uploads_again_but_creates_one_job(
        server: FakeProviderServer, tmp_path: Path) -> None:
    store = tmp_path / "jtd-ai.db"
    server.inject(Fault(stall_after=0, path_contains="/v1/files"))
    first = child(server, store, "openai")
    try:
        wait_for_request(server, "POST", "/v1/files", first)
    finally:
        first.kill()
        first.communicate()
    assert server.batches.created == []
    second = child(server, store, "openai")
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert json.loads(out) == EXPECTED
    assert len(server.batches.created) == 1


# -- finding the job again on a busy account --------------------------------------------------


def fill_account(server: FakeProviderServer, provider: str, count: int, *,
                 age: float = 0.0) -> None:
    """``count`` other batch jobs on the account (another host's, another run's), made
    through the provider's endpoints; ``age`` seconds old, as the provider stamps them."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        if provider == "openai":
            line = {"custom_id": "k", "method": "POST", "url": "/v1/chat/completions",
                    "body": {"model": MODELS["openai"],
                             "messages": [{"role": "user", "content": "x"}]}}
            file_id = client.post("/v1/files", data={"purpose": "batch"}, files={
                "file": ("x.jsonl", json.dumps(line) + "\n")}).json()["id"]
        for i in range(count):
            if provider == "openai":
                made = client.post("/v1/batches", json={
                    "input_file_id": file_id, "endpoint": "/v1/chat/completions",
                    "completion_window": "24h"}).json()["id"]
            else:
                made = client.post(
                    f"/v1beta/models/{MODELS['gemini']}:batchGenerateContent",
                    json={"batch": {"display_name": f"other-{i}", "input_config": {
                        "requests": {"requests": [{"request": {"contents": [
                            {"parts": [{"text": "x"}]}]}, "metadata": {"key": "k"}}]}}}},
                ).json()["name"]
            server.batches.jobs[made].created -= int(age)


def listings(server: FakeProviderServer, provider: str) -> int:
    path = "/v1/batches" if provider == "openai" else "/v1beta/batches"
    return sum(1 for r in list(server.requests) if r.method == "GET" and r.path == path)


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_killed_while_creating_finds_its_job_behind_a_hundred_newer_ones(
        server: FakeProviderServer, tmp_path: Path, provider: str) -> None:
    """More jobs were made on the account after ours than one page of the listing holds:
    the resumed run pages on until it finds ours, and creates none."""
    store = tmp_path / "jtd-ai.db"
    method, fragment = STALL[("create", provider)]
    server.inject(Fault(stall_after=0, path_contains=fragment))
    first = child(server, store, provider)
    try:
        wait_for_request(server, method, fragment, first)
    finally:
        first.kill()
        first.communicate()
    (ours,) = server.batches.created
    fill_account(server, provider, 150)
    second = child(server, store, provider)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert json.loads(out) == EXPECTED
    assert len(server.batches.created) == 151  # ours and the others: none made twice
    with sqlite3.connect(store) as conn:
        assert [row[0] for row in conn.execute("SELECT job_id FROM batch_jobs")] == [ours]
    assert listings(server, provider) == 2  # the newest 100, then the page holding ours


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_a_job_never_made_is_searched_for_only_back_to_its_creation(
        server: FakeProviderServer, tmp_path: Path, provider: str) -> None:
    """A create the provider refused leaves the job in the ``creating`` step; the next run
    looks for it through the jobs made since (150 here), stops at the first page of older
    ones (300, two days old) and then creates it, once."""
    ai = AIManager(providers={provider: {
        "base_url": server.base_url(provider), "api_key": "key-test", "retry_attempts": 1}},
        config_file=False, env={}, store={"path": str(tmp_path / "jtd-ai.db")})
    driver = ai.driver(provider)
    fast = {"model": MODELS[provider], "poll_interval": 0.01, "max_poll_interval": 0.05}
    server.inject(Fault(status=400, path_contains=STALL[("create", provider)][1]))
    with pytest.raises(ProviderError):
        run_batch_job(driver, PROMPTS, **fast)
    with sqlite3.connect(tmp_path / "jtd-ai.db") as conn:
        assert [row[0] for row in conn.execute("SELECT step FROM batch_jobs")] == ["creating"]
    fill_account(server, provider, 300, age=2 * 86400)
    fill_account(server, provider, 150)
    server.requests.clear()
    results = run_batch_job(driver, PROMPTS, **fast)
    ai.close()
    assert [getattr(r, "content", r) for r in results] == EXPECTED
    assert len(server.batches.created) == 451
    assert listings(server, provider) == 3  # 100 new, 50 new + 50 old, 100 old: stop
