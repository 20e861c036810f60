"""Run every Python block of README.md, docs/*.md and docs/drivers/*.md (pytest-markdown-docs).

The documents are listed in ``documents.txt`` (globs from the repository root); this conftest
hands each one to pytest-markdown-docs' collector, so the normal ``pytest`` run executes
them without ``--markdown-docs`` (which would also collect every docstring of the suite).

Each block runs as a user would run it after configuring real providers, but offline: one
fake provider server (:class:`jtd_ai.testing.FakeProviderServer`) for the session, a temp
TOML file in ``JTD_AI_CONFIG`` naming openai, gemini, ollama and xai with the server's base
URLs and fake keys, ``JTD_AI_HOME`` in a temp directory, the working directory a temp
directory, and connections off the machine refused (``refuse_non_loopback`` of
tests/usertools, as for docs/testing.md's examples there).

A Python block that cannot run offline is fenced ``python notest`` with an HTML comment
above it saying why (``<!-- notest: ... -->``).

pytest-markdown-docs runs Python fences only, so the shell blocks (``bash``, ``sh``) are run
here: a block made only of ``jtd-ai ...`` commands (and ``export NAME=value``) runs each
command in a new process, with the same environment, in the same working directory (which
holds a small ``prompts.jsonl``), and each must exit 0. Any other shell block must carry the
marker (``bash notest`` or ``<!-- notest: why -->`` right above it), or its test fails.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _pytest.fixtures import TopRequest
from markdown_it import MarkdownIt
from pytest_markdown_docs.plugin import MarkdownTextFile

from jtd_ai import AI
from jtd_ai.testing import FakeProviderServer

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
LIST = HERE / "documents.txt"
PROVIDERS = ("openai", "gemini", "ollama", "xai")
#: Variables that would point the examples at a real provider or at the user's files.
_CLEARED = ("OPENAI_", "GEMINI_", "GOOGLE_", "OLLAMA_", "XAI_", "GROQ_", "JTD_AI_")
SHELLS = ("bash", "sh", "shell", "zsh")
#: Shell blocks not run although unmarked, by a command they hold: README.md's two commands
#: at the top stay exactly as a new reader copies them, and docs/performance.md is written by
#: tooling/bench/docs_page.py (a marker added by hand would be lost), so they carry no marker.
NOT_RUN = {
    "tooling/bench/run.py --write-docs": "builds a venv, installs the benchmark requirements "
                                         "and benchmarks for minutes",
    "python3 -m venv .venv": "builds a venv and installs the packages (CI's main job runs it)",
    "bash tooling/setup-dev.sh && .venv/bin/python -m pytest": "the whole test suite, this run "
                                                               "included",
}
#: Seconds one documented ``jtd-ai`` command may take.
COMMAND_TIMEOUT = 60
#: The working directory's ``prompts.jsonl`` (docs/cli.md's ``jtd-ai batch prompts.jsonl``).
PROMPTS = ('{"id": "q1", "prompt": "Name three rivers"}\n'
           '{"id": "q2", "system": "Answer in French", "prompt": "Hello"}\n')


def documents() -> list[Path]:
    """The markdown files whose Python blocks are run, from :data:`LIST`."""
    found: list[Path] = []
    for line in LIST.read_text(encoding="utf-8").splitlines():
        pattern = line.split("#", 1)[0].strip()
        if pattern:
            found.extend(sorted(ROOT.glob(pattern)))
    return found


class MarkdownDocuments(pytest.File):
    """``documents.txt``: collects each listed document's Python blocks."""

    def collect(self) -> Iterator[pytest.Collector]:
        for path in documents():
            nodeid = f"{self.nodeid}::{path.relative_to(ROOT).as_posix()}"
            yield MarkdownTextFile.from_parent(self, path=path, nodeid=nodeid)
            yield ShellBlocks.from_parent(self, path=path, nodeid=f"{nodeid}::shell")


def _marked(tokens: list[Any], index: int) -> bool:
    """Whether the fence at ``index`` is marked not to run (info or the comment above)."""
    if "notest" in tokens[index].info.split()[1:]:
        return True
    before = tokens[index - 1] if index else None
    return (before is not None and before.type == "html_block"
            and before.content.strip().startswith("<!-- notest:"))


class ShellBlocks(pytest.File):
    """The shell blocks of one document."""

    def collect(self) -> Iterator[pytest.Item]:
        tokens = MarkdownIt("commonmark").parse(self.path.read_text(encoding="utf-8"))
        count = 0
        for index, token in enumerate(tokens):
            words = token.info.split()
            if token.type != "fence" or not words or words[0] not in SHELLS:
                continue
            count += 1
            assert token.map is not None
            line = token.map[0] + 1
            yield ShellBlock.from_parent(self, name=f"[ShellFence#{count}][line:{line}]",
                                         code=token.content, line=line,
                                         marked=_marked(tokens, index))


class ShellBlock(pytest.Item):
    """One shell block: its ``jtd-ai`` commands run, or its marker is checked."""

    def __init__(self, *, code: str, line: int, marked: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.code = code
        self.line = line
        self.marked = marked
        self.fixturenames = ["docs_environment"]
        self.funcargs: dict[str, Any] = {}

    def setup(self) -> None:
        def func() -> None:
            pass

        self._fixtureinfo = self.session._fixturemanager.getfixtureinfo(
            node=self, func=func, cls=None)
        self._request = TopRequest(self, _ispytest=True)  # type: ignore[arg-type]
        self._request._fillfixtures()

    def commands(self) -> list[list[str]] | None:
        """The block's commands, or None if one is not ``jtd-ai`` nor ``export``."""
        found: list[list[str]] = []
        for text in self.code.splitlines():
            words = shlex.split(text, comments=True)
            if not words:
                continue
            if words[0] not in ("jtd-ai", "export"):
                return None
            found.append(words)
        return found

    def runtest(self) -> None:
        commands = self.commands()
        if self.marked:
            pytest.skip("marked notest in the document")
        for command, why in NOT_RUN.items():
            if command in self.code:
                pytest.skip(why)
        if commands is None:
            raise AssertionError(
                f"{self.path.name}:{self.line}: a shell block with commands other than "
                f"jtd-ai and export must be marked, e.g. <!-- notest: why --> above it")
        env = dict(os.environ)
        (Path.cwd() / "prompts.jsonl").write_text(PROMPTS, encoding="utf-8")
        program = str(Path(sys.executable).with_name("jtd-ai"))
        for words in commands:
            if words[0] == "export":
                for assignment in words[1:]:
                    name, _, value = assignment.partition("=")
                    env[name] = value
                continue
            done = subprocess.run([program, *words[1:]], env=env, capture_output=True,
                                  text=True, timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL,
                                  check=False)
            assert done.returncode == 0, (
                f"{self.path.name}:{self.line}: {shlex.join(words)} exited "
                f"{done.returncode}\n{done.stdout}{done.stderr}")

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.line, self.name


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path == LIST:
        return MarkdownDocuments.from_parent(parent, path=file_path)
    return None


def _refuse_non_loopback() -> Any:
    """tests/usertools' guard (loaded from its conftest rather than copied)."""
    path = ROOT / "tests" / "usertools" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_jtd_ai_usertools_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.refuse_non_loopback


refuse_non_loopback = _refuse_non_loopback()


@pytest.fixture(scope="session")
def docs_server() -> Iterator[FakeProviderServer]:
    """The fake provider server every documented provider talks to (any key is accepted)."""
    server = FakeProviderServer().start()
    try:
        yield server
    finally:
        server.stop()


def config_toml(server: FakeProviderServer) -> str:
    """A user's config file naming the four providers, pointed at ``server``."""
    lines = ['default = "openai"', ""]
    for name in PROVIDERS:
        lines += [f"[providers.{name}]", f'driver = "{name}"',
                  f'base_url = "{server.base_url(name)}"', f'api_key = "fake-{name}-key"',
                  "retry_delay = 1", ""]
    return "\n".join(lines)


@pytest.fixture(autouse=True)
def docs_environment(docs_server: FakeProviderServer, tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviderServer]:
    """Every block: the providers on the fake server, a fresh home and working directory."""
    for name in list(os.environ):
        if name.startswith(_CLEARED) or name.endswith("_API_KEY"):
            monkeypatch.delenv(name)
    config = tmp_path / "jtd-ai.toml"
    config.write_text(config_toml(docs_server), encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("JTD_AI_CONFIG", str(config))
    monkeypatch.setenv("JTD_AI_HOME", str(home))
    monkeypatch.chdir(work)
    refuse_non_loopback(monkeypatch)
    docs_server.requests.clear()
    AI.reset()
    try:
        yield docs_server
    finally:
        AI.reset()
