"""``jtd-ai chat``: one prompt streamed to the terminal, or an interactive conversation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from jtd_ai.cli.exits import USAGE, CliError
from jtd_ai.cli.options import options_from_pairs
from jtd_ai.cli.output import emit_json
from jtd_ai.cli.render import response_dict, status_line
from jtd_ai.cli.state import state
from jtd_ai.cli.stdin import piped_text, stdin_is_terminal

if TYPE_CHECKING:
    from jtd_ai.conversation import Conversation
    from jtd_ai.responses import Response

__all__ = ["chat"]

_QUIT = frozenset({"exit", "quit", "/exit", "/quit", ":q"})


def _status(response: Response | None, quiet: bool) -> None:
    if response is not None and not quiet:
        click.echo(status_line(response), err=True)


def _stream(conversation: Conversation, quiet: bool) -> None:
    """Print the reply as it arrives; it joins the conversation when complete."""
    stream = conversation.stream()
    printed = False
    try:
        with stream:
            for chunk in stream:
                if chunk.delta:
                    click.echo(chunk.delta, nl=False)  # flushed at once
                    printed = True
    finally:
        if printed:
            click.echo()
    _status(stream.response, quiet)


def _interactive(conversation: Conversation, quiet: bool) -> None:
    """A conversation that keeps its history until ``exit``, ``quit`` or end of input."""
    from jtd_ai.errors import AIError

    click.echo("Interactive chat: 'exit' or Ctrl-D to quit, '/reset' to start over.", err=True)
    while True:
        try:
            line = click.prompt("you", prompt_suffix="> ", default="", show_default=False,
                                err=True)
        except click.exceptions.Abort:  # end of input
            click.echo("", err=True)
            return
        text = line.strip()
        if not text:
            continue
        if text in _QUIT:
            return
        if text == "/reset":
            conversation.history.clear()
            click.echo("(conversation cleared)", err=True)
            continue
        conversation.message(text)
        try:
            _stream(conversation, quiet)
        except AIError as error:
            conversation.history.pop()  # the turn that got no reply; the rest goes on
            click.echo(f"error: {error}", err=True)


@click.command()
@click.argument("prompt", required=False)
@click.option("-p", "--provider", help="Provider name (default: the configured default).")
@click.option("-m", "--model", help="Model id (default: the provider's default model).")
@click.option("-s", "--system", help="System prompt.")
@click.option("-o", "--option", "option_pairs", nargs=2, multiple=True,
              metavar="KEY VALUE",
              help="A request option, e.g. -o temperature 0.2 -o max_tokens 200; values "
                   "are read as JSON when they parse. Provider-specific fields: -o extra "
                   "'{\"field\": 1}'.")
@click.option("-i", "--interactive", is_flag=True,
              help="Keep a conversation going, one prompt per line (the default when no "
                   "prompt is given and stdin is a terminal).")
@click.option("--no-stream", is_flag=True, help="Wait for the whole reply, then print it.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the reply as one JSON object (content, usage, cost, ...).")
@click.option("-q", "--quiet", is_flag=True, help="No token/cost line on stderr.")
def chat(prompt: str | None, provider: str | None, model: str | None, system: str | None,
         option_pairs: tuple[tuple[str, str], ...], interactive: bool, no_stream: bool,
         as_json: bool, quiet: bool) -> None:
    """Send PROMPT and stream the reply; text piped on stdin is added to the prompt.

    \b
      jtd-ai chat "Name three rivers"
      git diff | jtd-ai chat -s "Review this patch" -m gpt-4o
      jtd-ai chat -p ollama -o temperature 0 --json "2+2?"
      jtd-ai chat -i            # interactive
    """
    conversation = state().manager.conversation(provider)
    if model:
        conversation.model(model)
    if system:
        conversation.system(system)
    conversation.options(**options_from_pairs(option_pairs))
    if interactive or (prompt is None and stdin_is_terminal()):
        if as_json:
            raise CliError("--json needs a prompt; it does not apply to interactive mode", USAGE)
        _interactive(conversation, quiet)
        return
    piped = piped_text()
    text = "\n\n".join(part for part in (prompt, piped) if part)
    if not text.strip():
        raise CliError("nothing to send: give a prompt, pipe one on stdin, or use -i", USAGE)
    conversation.message(text)
    if as_json:
        emit_json(response_dict(conversation.send()))
    elif no_stream:
        reply = conversation.send()
        click.echo(reply.content)
        _status(reply, quiet)
    else:
        _stream(conversation, quiet)
