"""Helpers for the ledger's tests: managers pointed at the fake provider server, the rows of
a database read with plain sqlite3, and Python child processes with bounded waits."""

from __future__ import annotations

import json
import os
import select
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jtd_ai
from jtd_ai import AIManager
from jtd_ai.testing import FakeProviderServer

KEY = "sk-ledger-tests-00000000000000000001"
MODELS = {"openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash", "ollama": "llama3.2:latest"}
CHAT_PATHS = ("/chat/completions", ":generateContent", ":streamGenerateContent", "/api/chat")
#: Where the jtd_ai under test lives: children import the same one.
SRC = Path(jtd_ai.__file__).resolve().parents[1]


def provider(server: FakeProviderServer, driver: str = "openai",
             **settings: Any) -> dict[str, Any]:
    """Provider settings for ``driver`` against ``server``: one attempt, generous timeouts."""
    return {"driver": driver, "base_url": server.base_url(driver), "api_key": KEY,
            "default_model": MODELS[driver], "retry_attempts": 1, "timeout": 30,
            **settings}


def manager(server: FakeProviderServer, db: Path, driver: str = "openai", *,
            store: dict[str, Any] | None = None, **settings: Any) -> AIManager:
    """An isolated manager whose one provider (named after ``driver``) talks to ``server``
    and whose ledger is ``db``."""
    return AIManager(providers={driver: provider(server, driver, **settings)}, default=driver,
                     config_file=False, env={}, store={"path": str(db), **(store or {})})


def db_rows(db: Path) -> list[dict[str, Any]]:
    """Every usage row of ``db``, oldest first, read with a connection of our own."""
    conn = sqlite3.connect(db)
    try:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM usage ORDER BY id")]
    finally:
        conn.close()


def chat_requests(server: FakeProviderServer) -> int:
    """How many chat requests (plain or streamed) the server has received."""
    return sum(1 for r in list(server.requests) if any(p in r.path for p in CHAT_PATHS))


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` (something only observable from outside, like the server's
    request log) until it holds; fail after ``timeout`` seconds saying ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


def script(body: str, **values: Any) -> str:
    """A child script: ``values`` bound as globals (JSON), then ``body`` (dedented)."""
    head = "".join(f"{name} = json.loads({json.dumps(json.dumps(value))})\n"
                   for name, value in values.items())
    return "import json\n" + head + textwrap.dedent(body)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    env.pop("JTD_AI_CONFIG", None)
    return env


def run_python(code: str, *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter; its output is kept."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=child_env(), check=False)


def start_python(code: str) -> subprocess.Popen[str]:
    """Start ``code`` in a fresh interpreter, stdout piped (read it with :func:`read_until`)."""
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env())


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    """Lines of ``proc``'s stdout up to and including the first that holds ``marker``."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {marker!r} from the child within {timeout}s: {lines}")
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"the child ended before {marker!r}: {lines}; "
                                     f"stderr: {proc.stderr.read() if proc.stderr else ''}")
            lines.append(line.rstrip("\n"))
            if marker in line:
                return lines


def wait_blocked(pid: int, timeout: float) -> None:
    """Wait until the main thread of process ``pid`` sleeps in the kernel on something
    other than a lock (a socket read, a poll): it is then inside a call, not in the
    application's code. Linux only (``/proc``): elsewhere the test is skipped."""
    import pytest

    task = Path(f"/proc/{pid}/task/{pid}")
    if not (task / "wchan").exists():
        pytest.skip("needs /proc/<pid>/wchan (Linux) to see where the child waits")

    def blocked() -> bool:
        state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        wchan = (task / "wchan").read_text().strip()
        return state == "S" and wchan not in ("", "0") and "futex" not in wchan

    wait_until(blocked, timeout, f"process {pid} to wait on I/O")


#: For child scripts that fork: ``reap(pid, seconds)`` waits for a forked child (its exit
#: status must be 0) and returns 1 when it hung past ``seconds`` (it is killed then), else 0.
REAP = """
def reap(pid, seconds):
    import os, signal, time
    deadline = time.monotonic() + seconds
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert status == 0, status
            return 0
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return 1
        time.sleep(0.001)
"""

#: The start of child scripts that make calls: ``ai`` is a manager for ``DRIVER`` against
#: the server at ``URL`` with its ledger at ``DB``; ``LINGER`` (when set) holds queued rows
#: back that long, so only a flush writes them; ``reap`` is :data:`REAP`'s.
PRELUDE = REAP + """
import os, sys, signal, threading, time
import jtd_ai.ledger_writer as ledger_writer
import jtd_ai
from jtd_ai import AIManager
if LINGER:
    ledger_writer.LINGER = LINGER

def make_manager():
    return AIManager(providers={DRIVER: {"driver": DRIVER, "base_url": URL, "api_key": KEY,
                                         "default_model": MODEL, "retry_attempts": 1,
                                         "timeout": 30}},
                     default=DRIVER, config_file=False, env={}, store={"path": DB})

def rows_in_file():
    import sqlite3
    conn = sqlite3.connect(DB)
    try:
        return conn.execute("SELECT COUNT(*) FROM usage").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        conn.close()

ai = make_manager()
"""


def call_script(server: FakeProviderServer, db: Path, body: str, *, driver: str = "openai",
                linger: float | None = None, **values: Any) -> str:
    """A child script: :data:`PRELUDE`, then ``body``."""
    return script(PRELUDE + textwrap.dedent(body), DRIVER=driver, URL=server.base_url(driver),
                  KEY=KEY, MODEL=MODELS[driver], DB=str(db), LINGER=linger, **values)
