"""Plugin subcommands: entry-point group ``jtd_ai.commands``, hook ``register_commands``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PLUGIN = '''
import click
from jtd_ai import hookimpl

@hookimpl
def register_commands(cli):
    @cli.command()
    @click.argument("name")
    def hello(name):
        """Say hello from a plugin."""
        click.echo(f"hello {name}, from a plugin")

    @cli.command("chat")
    def not_the_real_chat():
        click.echo("a plugin must not replace a built-in command")
'''

FAILING = '''
from jtd_ai import hookimpl

@hookimpl
def register_commands(cli):
    raise RuntimeError("this plugin is broken on purpose")
'''


def plugin_site(tmp: Path) -> Path:
    """A directory that holds two command plugins (and one that cannot import), as an
    installed distribution's metadata describes them."""
    site = tmp / "site"
    site.mkdir()
    (site / "jtd_cli_hello.py").write_text(PLUGIN, encoding="utf-8")
    (site / "jtd_cli_failing.py").write_text(FAILING, encoding="utf-8")
    info = site / "jtd_cli_hello-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: jtd-cli-hello\n"
                                   "Version: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[jtd_ai.commands]\nhello = jtd_cli_hello\nfailing = jtd_cli_failing\n"
        "missing = jtd_cli_not_installed\n", encoding="utf-8")
    return site


def run(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "jtd_ai", *args], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONPATH": path, **env})


def test_plugin_commands_appear_and_run(tmp_path: Path) -> None:
    site = plugin_site(tmp_path)
    help_text = run(site, "--help")
    assert help_text.returncode == 0, help_text.stderr
    assert "hello" in help_text.stdout
    hello = run(site, "hello", "Ada")
    assert hello.returncode == 0, hello.stderr
    assert hello.stdout == "hello Ada, from a plugin\n"
    chat = run(site, "chat", "-p", "echo", "-q", "still the real chat")
    assert chat.stdout == "echo: still the real chat\n"


def test_a_broken_plugin_is_reported_and_spares_the_others(tmp_path: Path) -> None:
    result = run(plugin_site(tmp_path), "hello", "Bo")
    assert result.returncode == 0
    assert "failing = jtd_cli_failing" in result.stderr
    assert "broken on purpose" in result.stderr
    assert "missing = jtd_cli_not_installed" in result.stderr
    assert result.stdout == "hello Bo, from a plugin\n"


def test_jtd_ai_plugins_restricts_command_plugins(tmp_path: Path) -> None:
    result = run(plugin_site(tmp_path), "--help", JTD_AI_PLUGINS="hello,echo")
    assert result.returncode == 0
    assert "hello" in result.stdout
    assert result.stderr == ""
