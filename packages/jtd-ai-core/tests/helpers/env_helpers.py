"""A clean process environment for tests of what the environment alone decides: no config
file, no key variable but the ones a test sets, and the real ``jtd-ai`` command."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from jtd_ai import AIManager
from jtd_ai.cli import cli
from jtd_ai.presets import PRESETS


def known_variables() -> set[str]:
    """Every variable a driver or preset reads (keys, base URLs, options)."""
    names = {"JTD_AI_CONFIG", "JTD_AI_DEFAULT_PROVIDER", "JTD_AI_PLUGINS", "JTD_AI_HOME",
             "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "GOOGLE_GEMINI_BASE_URL",
             "OLLAMA_HOST", "OLLAMA_API_KEY"}
    manager = AIManager(config_file=False, env={})
    for name in manager.registry.names():
        try:
            spec = manager.registry.spec(name)
        except Exception:  # a broken plugin reads nothing
            continue
        keys = spec.api_key_env
        names.update((keys,) if isinstance(keys, str) else keys or ())
        names.update(v for v in (spec.base_url_env,) if v)
        names.update(spec.option_env.values())
    for preset in PRESETS.values():
        names.update(preset.api_key_env)
        names.update(v for v in (preset.base_url_env,) if v)
    return names


class Shell:
    """``jtd-ai`` run in a directory with no config file, only the variables given."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.home = tmp / "home"
        self.home.mkdir()

    def __call__(self, *args: str, env: dict[str, str] | None = None,
                 input: str | None = None) -> Result:
        full = {"JTD_AI_HOME": str(self.home), **(env or {})}
        return CliRunner().invoke(cli, list(args), input=input, env=full,
                                  catch_exceptions=False)


@pytest.fixture(name="shell")
def shell_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Shell:
    """The command with a bare environment: cwd without jtd-ai.toml, an empty user config
    directory, and none of the variables any driver or preset reads."""
    for name in known_variables():
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return Shell(tmp_path)
