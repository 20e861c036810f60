"""A library prints nothing unasked (issue 15): a retried call in a script that configured no
logging leaves stderr empty; with logging configured, each retry is one ``jtd_ai.retry``
record, not also stamina's ``stamina.retry_scheduled``. The application's own stamina hooks
and its own stamina retries are left alone.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stamina
from cli_helpers import needs
from stamina.instrumentation import (
    LoggingOnRetryHook,
    RetryDetails,
    get_on_retry_hooks,
    set_on_retry_hooks,
)

from jtd_ai import AIManager
from jtd_ai.retry import is_stamina_logging_hook
from jtd_ai.testing import FakeProviderServer, Fault

pytestmark = needs("openai")

KEY = "sk-quiet-logging-0123456789"

SCRIPT = """
import asyncio, logging, sys

import stamina
from jtd_ai import AIManager
from jtd_ai.testing import FakeProviderServer, Fault

if sys.argv[1] == "configured":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(name)s|%(levelname)s|%(message)s")

with FakeProviderServer(api_key="{key}") as server:
    manager = AIManager(
        providers={{"openai": {{"driver": "openai", "base_url": server.base_url("openai"),
                               "api_key": "{key}", "default_model": "gpt-4o-mini",
                               "retry_attempts": 3, "retry_delay": 1}}}},
        default="openai", config_file=False, env={{}}, store={{"enabled": False}})
    driver = manager.driver()
    server.inject(Fault(status=500), times=2)
    assert driver.send_message("sync").content == "echo: sync"
    server.inject(Fault(status=503), times=1)
    assert asyncio.run(driver.asend_message("async")).content == "echo: async"
    server.inject(Fault(status=429, retry_after="0"), times=1)
    assert list(driver.send_batch(["batch"]))[0].content == "echo: batch"
    manager.close()

# The application's own stamina retry is still stamina's to log.
for attempt in stamina.retry_context(on=ValueError, attempts=2, wait_initial=0.001,
                                     wait_jitter=0):
    with attempt:
        if attempt.num == 1:
            raise ValueError("the application's own retry")
print("done")
"""


def _run(tmp_path: Path, mode: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT.format(key=KEY)), encoding="utf-8")
    return subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True,
                          timeout=120, check=False)


def test_retries_print_nothing_when_no_logging_is_configured(tmp_path: Path) -> None:
    result = _run(tmp_path, "unconfigured")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    # The application's own stamina retry is the one thing Python's last-resort handler
    # prints (stamina's doing, not ours); nothing about jtd-ai's four retries.
    lines = result.stderr.splitlines()
    assert lines == ["stamina.retry_scheduled"], result.stderr


def test_each_retry_is_one_jtd_ai_record_when_logging_is_configured(tmp_path: Path) -> None:
    result = _run(tmp_path, "configured")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    retries = [line for line in lines if line.startswith("jtd_ai.retry|WARNING|")]
    assert len(retries) == 4, result.stderr  # 2 sync + 1 async + 1 batch item
    assert [line for line in lines if line.startswith("stamina")] == [
        "stamina|WARNING|stamina.retry_scheduled"]  # the application's own retry only
    assert "ProviderUnavailableError" in retries[0] and "RateLimitError" in retries[3]
    assert "attempt 1 of 3" in retries[0] and "attempt 2 of 3" in retries[1]
    assert KEY not in result.stderr


# -- in-process: the hooks the application set stay, and see every retry -----------------


@pytest.fixture(name="server")
def server_fixture() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(api_key=KEY) as server:
        yield server


@pytest.fixture(name="restore_hooks")
def restore_hooks_fixture() -> Iterator[None]:
    yield
    set_on_retry_hooks(None)  # stamina's defaults again, for the tests after this one


def _driver(server: FakeProviderServer) -> Any:
    manager = AIManager(
        providers={"openai": {"driver": "openai", "base_url": server.base_url("openai"),
                              "api_key": KEY, "default_model": "gpt-4o-mini",
                              "retry_attempts": 3, "retry_delay": 1}},
        default="openai", config_file=False, env={}, store={"enabled": False})
    return manager.driver()


def test_application_hooks_are_kept_and_called_for_every_retry(
        server: FakeProviderServer, restore_hooks: None,
        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[RetryDetails] = []
    set_on_retry_hooks([seen.append, LoggingOnRetryHook])
    driver = _driver(server)
    server.inject(Fault(status=500), times=2)
    with caplog.at_level(logging.DEBUG):
        assert driver.send_message("hi").content == "echo: hi"
    assert len(seen) == 2 and seen[0].retry_num == 1  # the application's hook: every retry
    hooks = get_on_retry_hooks()
    assert hooks[0] == seen.append  # kept, in its place
    assert [r.getMessage() for r in caplog.records if r.name == "stamina"] == []
    records = [r for r in caplog.records if r.name == "jtd_ai.retry"]
    assert len(records) == 2
    fields = records[0].jtd_ai  # type: ignore[attr-defined]
    assert fields["provider"] == "openai" and fields["attempt"] == 1
    assert fields["error"] == "ProviderUnavailableError" and fields["wait"] >= 0
    driver.close()


def test_stamina_logging_hooks_are_recognised_in_the_installed_version(
        restore_hooks: None) -> None:
    # If a stamina release moves its logging hook, this fails instead of stderr filling up.
    set_on_retry_hooks([LoggingOnRetryHook])
    [hook] = get_on_retry_hooks()
    assert is_stamina_logging_hook(hook)
    assert not is_stamina_logging_hook(print)


def test_application_retries_through_jtd_ai_errors_are_still_logged_by_stamina(
        server: FakeProviderServer, restore_hooks: None,
        caplog: pytest.LogCaptureFixture) -> None:
    """An application retrying a failed call itself sees stamina's record for its retry:
    only the retries jtd-ai logged are skipped."""
    from jtd_ai.errors import ProviderUnavailableError

    driver = _driver(server)
    server.inject(Fault(status=500), times=3)  # all three attempts of the first call fail
    with caplog.at_level(logging.INFO):
        for attempt in stamina.retry_context(on=ProviderUnavailableError, attempts=2,
                                             wait_initial=0.001, wait_jitter=0):
            with attempt:
                assert driver.send_message("app").content == "echo: app"
    assert len([r for r in caplog.records if r.name == "jtd_ai.retry"]) == 2
    assert len([r for r in caplog.records if r.name == "stamina"]) == 1
    driver.close()
