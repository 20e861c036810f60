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

import pytest
from cli_helpers import needs

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
