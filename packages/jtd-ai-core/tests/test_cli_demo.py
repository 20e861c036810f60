"""``jtd-ai demo``: the real drivers against the fake server, offline and without keys."""

from __future__ import annotations

from cli_helpers import installed
from click.testing import CliRunner

from jtd_ai.cli import cli
from jtd_ai.cli.demo import SPOKEN
from jtd_ai.testing.server import MODELS


def test_demo_runs_every_installed_driver_end_to_end(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--batch-size", "6", "-q"],
                                env={"JTD_AI_HOME": str(tmp_path)}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    names = [n for n in SPOKEN if installed(n)]
    shown = names or ["echo"]
    out = result.stdout
    for name in shown:
        assert f"{name:8} 'echo: Hello from the jtd-ai demo!'" in out
    assert "echo: Batch prompt number 1" in out
    assert "6 ok, 0 failed" in out
    for name in names:
        assert all(model in out for model in MODELS[name])  # the catalog step
    for name in set(SPOKEN) - set(names):
        assert f"missing: pip install 'jtd-ai[{name}]'" in out
    assert list(tmp_path.iterdir()) == []  # its catalog and ledger were thrown away
