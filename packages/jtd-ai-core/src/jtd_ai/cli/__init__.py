"""The ``jtd-ai`` command line (click). ``main()`` is the console script.

Building it imports click, the small command modules and the plugin command modules of the
``jtd_ai.commands`` entry-point group; no driver module is imported until a command needs
that driver. Exit codes are in :mod:`jtd_ai.cli.exits`; see docs/cli.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from jtd_ai.cli.exits import INTERRUPTED, CliError, code_for
from jtd_ai.cli.state import CliState

__all__ = ["cli", "main"]

#: Built-in commands: name -> "module:attribute", imported when listed or run.
_BUILTIN = {
    "chat": "jtd_ai.cli.chat:chat",
    "batch": "jtd_ai.cli.batch:batch",
    "jobs": "jtd_ai.cli.jobs:jobs",
    "models": "jtd_ai.cli.models:models",
    "drivers": "jtd_ai.cli.drivers:drivers",
    "providers": "jtd_ai.cli.providers:providers",
    "usage": "jtd_ai.cli.usage:usage",
    "logs": "jtd_ai.cli.logs:logs",
    "plugins": "jtd_ai.cli.call_plugins:plugins",
    "demo": "jtd_ai.cli.demo:demo",
}


class JtdGroup(click.Group):
    """The root group: built-ins and plugin commands, library errors turned into exit codes."""

    _plugins_loaded = False

    def _load(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        import importlib

        from jtd_ai.cli.plugins import load_command_plugins

        for name, target in _BUILTIN.items():
            module, _, attribute = target.partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        builtin = dict(self.commands)
        for problem in load_command_plugins(self):
            click.echo(f"jtd-ai: {problem}", err=True)
        for name, command in builtin.items():  # a plugin never replaces a built-in command
            self.commands[name] = command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load()
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        from jtd_ai.errors import AIError

        try:
            return super().invoke(ctx)
        except AIError as error:
            raise CliError(_cli_words(error), code_for(error)) from error
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(INTERRUPTED) from None


@click.group(cls=JtdGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Config file to use (default: $JTD_AI_CONFIG, ./jtd-ai.toml, then the "
                   "user config directory).")
@click.version_option(package_name="jtd-ai-core", prog_name="jtd-ai")
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """Talk to AI chat providers: chat, batches, models, usage, and an offline demo.

    Exit codes: 0 ok, 1 some items failed, 2 usage or configuration error, 3 provider
    error, 4 output could not be written, 130 interrupted.
    """
    found = CliState(config)
    ctx.obj = found
    ctx.call_on_close(found.close)


def _cli_words(error: Exception) -> str:
    """The error's message as the command line says it: ``-p NAME`` and ``-m MODEL`` where
    the library says ``.provider(...)`` and ``.model(...)``."""
    from jtd_ai.errors import ValidationError

    cli_message = getattr(error, "cli_message", None)
    if isinstance(cli_message, str) and cli_message:
        return cli_message
    text = str(error)
    if (isinstance(error, ValidationError) and error.field == "model"
            and text.startswith("no model given")):
        return (f"{text.partition(':')[0]}: use -m MODEL, or set default_model in the "
                f"provider's configuration")
    return text


def main() -> None:
    """The ``jtd-ai`` console script and ``python -m jtd_ai``."""
    import logging

    # stamina logs each scheduled retry; with no logging configured Python would print
    # those records raw on stderr. The command line reports retries through its errors.
    logging.getLogger("stamina").addHandler(logging.NullHandler())
    cli.main(prog_name="jtd-ai")
