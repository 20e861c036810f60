"""``jtd-ai chat``: one prompt streamed to the terminal, or an interactive conversation
(:mod:`jtd_ai.cli.repl`); ``--load`` continues a conversation saved there."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from jtd_ai.cli.exits import USAGE, CliError
from jtd_ai.cli.options import options_from_pairs
from jtd_ai.cli.output import echo, emit_json
from jtd_ai.cli.render import response_dict, status_line, tool_call_lines
from jtd_ai.cli.state import state
from jtd_ai.cli.stdin import piped_text, stdin_is_terminal

if TYPE_CHECKING:
    from jtd_ai.cli.repl import ChatSetup
    from jtd_ai.conversation import Conversation
    from jtd_ai.responses import Response

__all__ = ["chat", "print_reply"]


def _status(response: Response | None, quiet: bool) -> None:
    if response is not None and not quiet:
        echo(status_line(response), err=True)


def _stream(conversation: Conversation, quiet: bool) -> None:
    """Print the reply as it arrives; it joins the conversation when complete."""
    stream = conversation.stream()
    printed = False
    try:
        with stream:
            for chunk in stream:
                if chunk.delta:
                    echo(chunk.delta, nl=False)  # flushed at once
                    printed = True
    finally:
        if printed:
            click.echo()
    _tool_calls(stream.response)
    _status(stream.response, quiet)


def _tool_calls(response: Response | None) -> None:
    """The tool calls the reply asks for, after its text (the model is waiting on them)."""
    if response is not None:
        for line in tool_call_lines(response):
            echo(line)


def print_reply(conversation: Conversation, *, quiet: bool, stream: bool = True) -> None:
    """Send the conversation and print the reply (streamed, or whole), then the status line;
    the reply joins the conversation when it is complete."""
    if stream:
        _stream(conversation, quiet)
        return
    reply = conversation.send()
    if reply.content or not reply.tool_calls:
        echo(reply.content)
    _tool_calls(reply)
    _status(reply, quiet)


def _setup(provider: str | None, model: str | None, system: str | None,
           option_pairs: tuple[tuple[str, str], ...], load: Path | None) -> ChatSetup:
    from jtd_ai.cli.repl import ChatSetup, load_conversation

    given = ChatSetup(provider, model, system, options_from_pairs(option_pairs))
    if load is None:
        return given
    try:
        saved = load_conversation(load)
    except (OSError, ValueError) as error:  # JSON errors are ValueErrors
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise CliError(f"cannot load {load}: {reason}", USAGE) from None
    return given.over(saved)


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
              help="Keep a conversation going (the default when no prompt is given and "
                   "stdin is a terminal); /help inside lists its commands.")
@click.option("--load", type=click.Path(dir_okay=False, path_type=Path),
              help="Continue a conversation saved with /save FILE (its provider, model, "
                   "system prompt and options apply unless given here).")
@click.option("-c", "--continue", "continue_last", is_flag=True,
              help="Continue the latest conversation of the conversation log ([plugins.log]"
                   "); its provider, model, system prompt and options apply unless given "
                   "here.")
@click.option("--cid", metavar="ID",
              help="Continue the logged conversation with this id (or the start of it); see "
                   "'jtd-ai logs'.")
@click.option("--schema", "schema", metavar="FILE|MODULE:CLASS",
              help="Ask for a reply matching a JSON schema (a file) or a Python type "
                   "(module:Class, e.g. an attrs class or pydantic model), and print the "
                   "parsed reply as JSON.")
@click.option("--no-stream", is_flag=True, help="Wait for the whole reply, then print it.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the reply as one JSON object (content, usage, cost, ...).")
@click.option("-q", "--quiet", is_flag=True, help="No token/cost line on stderr.")
def chat(prompt: str | None, provider: str | None, model: str | None, system: str | None,
         option_pairs: tuple[tuple[str, str], ...], interactive: bool, load: Path | None,
         continue_last: bool, cid: str | None, schema: str | None, no_stream: bool,
         as_json: bool, quiet: bool) -> None:
    """Send PROMPT and stream the reply; text piped on stdin is added to the prompt.

    \b
      jtd-ai chat "Name three rivers"
      git diff | jtd-ai chat -s "Review this patch" -m gpt-4o
      jtd-ai chat -p ollama -o temperature 0 --json "2+2?"
      jtd-ai chat -i            # interactive; /help lists its commands
      jtd-ai chat -i --load talk.json   # continue a conversation saved with /save
      jtd-ai chat -c "And a fourth?"    # continue the latest logged conversation
      jtd-ai chat --schema city.json "Describe Paris"   # the reply as JSON of that schema
    """
    if load is not None and (continue_last or cid is not None):
        raise CliError("--load and -c/--cid both choose the conversation to continue; give "
                       "one", USAGE)
    manager = state().manager
    setup = _setup(provider, model, system, option_pairs, load)
    logged = None
    if continue_last or cid is not None:
        from jtd_ai.cli.logs import continue_setup

        setup, logged = continue_setup(setup, cid)
    conversation = setup.conversation(manager)
    if logged is not None:
        conversation.id = logged  # the new turns join the logged conversation
    if interactive or (prompt is None and stdin_is_terminal()):
        if as_json or schema is not None:
            raise CliError(f"{'--json' if as_json else '--schema'} needs a prompt; it does not "
                           f"apply to interactive mode", USAGE)
        from jtd_ai.cli.repl import Repl

        manager.driver(setup.provider)  # an unknown provider or a missing key: exit 2 now
        repl = Repl(manager, setup, quiet=quiet, stream=not no_stream, saved_to=load)
        if logged is not None:
            repl.conversation.id = logged
        repl.run()
        return
    piped = piped_text()
    text = "\n\n".join(part for part in (prompt, piped) if part)
    if not text.strip():
        raise CliError("nothing to send: give a prompt, pipe one on stdin, or use -i", USAGE)
    conversation.message(text)
    if schema is not None:  # structured output: the parsed reply, as JSON
        from jtd_ai.cli.schema_option import load_output, parsed_json

        reply = conversation.output(load_output(schema)).send()
        data = parsed_json(reply.parsed)
        emit_json({**response_dict(reply), "parsed": data} if as_json else data)
        _status(None if as_json else reply, quiet)
        return
    if as_json:
        emit_json(response_dict(conversation.send()))
    else:
        print_reply(conversation, quiet=quiet, stream=not no_stream)
