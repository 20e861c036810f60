"""Helpers for the CLI tests: a keyed fake provider server, a config pointing at it, and a
runner for the real ``jtd-ai`` command (in-process with click's runner, or a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from importlib_metadata import entry_points

from jtd_ai.cli import cli
from jtd_ai.testing.server import FakeProviderServer

KEY = "sk-cli-test-0123456789"


def installed(driver: str) -> bool:
    return bool(entry_points(group="jtd_ai.drivers", name=driver))


def needs(driver: str) -> pytest.MarkDecorator:
    """Skip unless the driver package is installed (pip install -e packages/jtd-ai-<name>)."""
    return pytest.mark.skipif(not installed(driver),
                              reason=f"the {driver} driver package (jtd-ai-{driver}) is not "
                                     f"installed")


def driver_modules() -> set[str]:
    """Top modules of every installed driver entry point (the core's echo included)."""
    return {ep.value.split(":")[0] for ep in entry_points(group="jtd_ai.drivers")}


def config_text(server: FakeProviderServer, home: Path) -> str:
    """Providers pointed at the fake server; ``slow`` delays every reply, ``wrongkey`` sends
    a key the server rejects; retries are off so injected faults fail at once."""
    url = server.base_url
    return f"""
default = "openai"

[providers.openai]
base_url = "{url('openai')}"
api_key = "{KEY}"
retry_attempts = 1

[providers.wrongkey]
driver = "openai"
base_url = "{url('openai')}"
api_key = "sk-wrong-key-0000000000"

[providers.slow]
driver = "openai"
base_url = "{url('openai')}"
api_key = "{KEY}"
headers = {{ "x-fake-fault" = "delay=0.2" }}

[providers.gemini]
base_url = "{url('gemini')}"
api_key = "{KEY}"

[providers.ollama]
base_url = "{url('ollama')}"
default_model = "llama3.2:latest"

[store]
path = "{(home / 'jtd-ai.db').as_posix()}"
"""


class Cli:
    """The ``jtd-ai`` command, configured for the fake server of this test."""

    def __init__(self, server: FakeProviderServer, tmp: Path) -> None:
        self.server = server
        self.tmp = tmp
        self.home = tmp / "home"
        self.home.mkdir()
        self.config = tmp / "jtd-ai.toml"
        if installed("openai"):
            self.config.write_text(config_text(server, self.home), encoding="utf-8")
        else:  # the echo driver alone (no HTTP driver installed)
            self.config.write_text(f'default = "echo"\n[store]\npath = '
                                   f'"{(self.home / "jtd-ai.db").as_posix()}"\n')
        self.env = {"JTD_AI_CONFIG": str(self.config), "JTD_AI_HOME": str(self.home)}

    def __call__(self, *args: str, input: str | None = None) -> Result:
        """Run in-process through click's runner (stdin is ``input``, not a terminal)."""
        return CliRunner().invoke(cli, list(args), input=input, env=self.env,
                                  catch_exceptions=False)

    def process(self, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
        """Start ``python -m jtd_ai ARGS`` as a real process (signals, sys.modules)."""
        return subprocess.Popen([sys.executable, "-m", "jtd_ai", *args], text=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env={**os.environ, **self.env},
                                **kwargs)

    def chat_bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat requests the server received, oldest first."""
        return [r.json() for r in self.server.requests
                if r.method == "POST" and ("chat" in r.path or "generateContent" in r.path)]


@pytest.fixture(scope="module", name="keyed_server")
def keyed_server_fixture() -> Iterator[FakeProviderServer]:
    """A fake provider server that accepts only ``KEY``, for one test module."""
    with FakeProviderServer(api_key=KEY) as server:
        yield server


@pytest.fixture(name="jtd")
def jtd_fixture(keyed_server: FakeProviderServer, tmp_path: Path) -> Iterator[Cli]:
    """``jtd("chat", "hi")``: the real command against this module's fake server."""
    keyed_server.requests.clear()
    yield Cli(keyed_server, tmp_path)
    keyed_server.clear_faults()


def lines(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a batch output file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
