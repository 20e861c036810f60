"""Tables on an 80-column terminal: long model ids and URLs are folded across lines inside
their column, never cut with an ellipsis (a cut id cannot be copied back)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from jtd_ai.cli import cli, output

LONG_MODEL = "accounts/fireworks/models/llama-v3p1-405b-instruct-long-context-2024-07-23"
LONG_URL = "https://gateway.internal.example.com/openai/deployments/production-east-2/v1"
BOX = re.compile("[│┃]")


@pytest.fixture(autouse=True)
def rich_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Draw tables as on a terminal (click's runner gives the command no terminal)."""
    monkeypatch.setattr(output, "is_terminal", lambda *, err=False: True)


def column(text: str, index: int) -> str:
    """The cells of column ``index`` of a rich table, every body line joined."""
    body = text.split("┡", 1)[1]  # below the header's heavy rule
    cells = [BOX.split(line)[1:-1] for line in body.splitlines() if BOX.search(line)]
    return "".join(row[index].strip() for row in cells)


def check_width(text: str) -> None:
    assert "…" not in text  # rich's ellipsis: something was cut
    assert max(len(line) for line in text.splitlines()) <= 80, text


def run(args: list[str], env: dict[str, str]) -> Result:
    return CliRunner().invoke(cli, args, env={**env, "COLUMNS": "80"}, catch_exceptions=False)


def test_a_table_folds_every_long_cell(capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    output.table(["provider", "model", "base url", "note"],
                 [["fireworks", LONG_MODEL, LONG_URL, "short words wrap at spaces as before"],
                  ["b", "m-2", "http://x", None]],
                 title=f"config file: /very/long/{'nested/' * 12}jtd-ai.toml")
    text = capsys.readouterr().out
    check_width(text)
    assert column(text, 1) == LONG_MODEL + "m-2"
    assert column(text, 2) == LONG_URL + "http://x"
    assert "".join(text.split("┏", 1)[0].split()) == f"configfile:/very/long/{'nested/' * 12}" \
                                                      "jtd-ai.toml"


def test_providers_shows_a_long_model_and_url_whole(tmp_path: Path) -> None:
    config = tmp_path / "jtd-ai.toml"
    config.write_text(f'default = "gateway"\n[providers.gateway]\ndriver = "echo"\n'
                      f'base_url = "{LONG_URL}"\ndefault_model = "{LONG_MODEL}"\n'
                      f'[store]\nenabled = false\n', encoding="utf-8")
    result = run(["providers", "gateway"], {"JTD_AI_CONFIG": str(config),
                                            "JTD_AI_HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    check_width(result.stdout)
    assert column(result.stdout, 3) == LONG_URL
    assert column(result.stdout, 4) == LONG_MODEL


def test_usage_shows_a_long_model_whole(tmp_path: Path) -> None:
    env = {"JTD_AI_CONFIG": str(tmp_path / "none.toml"), "JTD_AI_HOME": str(tmp_path)}
    (tmp_path / "none.toml").write_text('default = "echo"\n', encoding="utf-8")
    # The echo driver knows no such model (exit 3), and the ledger records the failed call.
    sent = run(["chat", "-q", "-p", "echo", "-m", LONG_MODEL, "hello"], env)
    assert sent.exit_code == 3, sent.output
    result = run(["usage", "--by", "provider,model"], env)
    assert result.exit_code == 0, result.output
    check_width(result.stdout)
    assert column(result.stdout, 1).startswith(LONG_MODEL)  # then the total line's "-"
