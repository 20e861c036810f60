"""``jtd-ai logs``: the conversations the conversation log keeps (``[plugins.log]``, see
:mod:`jtd_ai.convlog`): the latest ones, one in full, or the turns that mention some text."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from jtd_ai.cli.exits import USAGE, CliError
from jtd_ai.cli.output import echo, emit_json, money, table
from jtd_ai.cli.state import state

if TYPE_CHECKING:
    from jtd_ai.cli.repl import ChatSetup
    from jtd_ai.convlog import ConversationLog, ConversationSummary, Turn

__all__ = ["continue_setup", "logs", "open_log"]

#: Characters of an id shown in tables (``show`` and ``--cid`` take any unique start).
SHORT_ID = 12
_WHEN = "%Y-%m-%d %H:%M:%S"


def open_log(*, must_exist: bool = False) -> ConversationLog | None:
    """The conversation log of the configured store; None when the store has no file yet
    (a CliError then, if ``must_exist``). The store turned off is a CliError (exit 2)."""
    storage = state().manager.storage
    if not storage.options.enabled:
        raise CliError("the jtd-ai store is turned off in the configuration ([store] enabled "
                       "= false): no conversation is logged", USAGE)
    if not storage.exists():
        if must_exist:
            raise CliError(f"no conversation is logged yet ({storage.location} does not exist); "
                           f"turn the log on with a [plugins.log] table in jtd-ai.toml", USAGE)
        return None
    from jtd_ai.convlog import ConversationLog

    return ConversationLog(storage.store())


def _nothing_yet(as_json: bool, key: str) -> None:
    storage = state().manager.storage
    if as_json:
        emit_json({"store": storage.location, key: []})
    else:
        echo(f"no conversation is logged yet in {storage.location}; turn the log on with a "
             f"[plugins.log] table in jtd-ai.toml", err=True)


def _location() -> str:
    """The store as messages show it: the file, or the URL with its password masked."""
    return state().manager.storage.location


def _model(provider: str, model: str | None) -> str:
    return f"{provider}/{model}" if model else provider


def _list(count: int, as_json: bool) -> None:
    log = open_log()
    if log is None:
        _nothing_yet(as_json, "conversations")
        return
    found = log.conversations(limit=count)
    if as_json:
        emit_json({"store": _location(), "conversations": [c.to_dict() for c in found]})
        return
    if not found:
        _nothing_yet(False, "conversations")
        return
    table(["id", "updated (UTC)", "turns", "model", "cost", "first prompt"],
          [[c.id[:SHORT_ID], c.updated.strftime("%Y-%m-%d %H:%M"), c.turns,
            _model(c.provider, c.model), money(c.cost), c.title] for c in found],
          title=f"conversations, newest first: {_location()}")


_COUNT = click.option("-n", "--count", type=click.IntRange(min=1), default=10,
                      show_default=True, help="How many to show.")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


@click.group(invoke_without_command=True)
@_COUNT
@_JSON
@click.pass_context
def logs(ctx: click.Context, count: int, as_json: bool) -> None:
    """Conversations kept by the conversation log ([plugins.log] in jtd-ai.toml).

    \b
      jtd-ai logs                 # the latest conversations (same as 'logs list')
      jtd-ai logs show            # the latest conversation, turn by turn
      jtd-ai logs show 3f2a9c     # one conversation, by the start of its id
      jtd-ai logs search rivers   # the turns that mention "rivers"
      jtd-ai chat -c "And a fourth?"   # continue the latest conversation
    """
    if ctx.invoked_subcommand is None:
        _list(count, as_json)


@logs.command("list")
@_COUNT
@_JSON
def list_conversations(count: int, as_json: bool) -> None:
    """The latest conversations, newest first: id, turns, model, cost, first prompt."""
    _list(count, as_json)


def _turn_text(turn: Turn, system: str | None) -> list[str]:
    """A turn as Markdown: a heading with who answered and what it cost, the system prompt
    when it changed, the prompt and the reply."""
    usage = (f"{turn.input_tokens} in, {turn.output_tokens} out"
             if turn.input_tokens is not None or turn.output_tokens is not None
             else "tokens unknown")
    notes = [turn.ts.strftime(_WHEN) + " UTC", _model(turn.provider, turn.model), usage,
             "cached" if turn.cached else money(turn.cost)]
    if turn.latency is not None:
        notes.append(f"{turn.latency:.2f}s")
    lines = [f"## {' · '.join(notes)}", ""]
    if turn.system and turn.system != system:
        lines += ["System:", "", turn.system, ""]
    for message in turn.messages:
        if message.role.value == "tool":
            lines += [f"Tool result ({message.name or message.tool_call_id}):", "",
                      message.text, ""]
        elif message.role.value == "assistant":
            lines += ["Assistant (given):", "", message.text, ""]
        else:
            lines += ["Prompt:", "", message.text, ""]
    if not turn.messages:
        lines += ["Prompt: (the same messages again)", ""]
    if turn.status != "ok":
        lines += [f"Error: {turn.error or 'the call failed'}", ""]
    if turn.reply:
        lines += ["Reply:" if turn.status == "ok" else "Reply (partial):", "", turn.reply, ""]
    for call in turn.tool_calls:
        lines += [f"Tool call: {call.name}({call.arguments}) [{call.id}]", ""]
    return lines


def _resolve(log: ConversationLog, given: str | None) -> str:
    from jtd_ai.errors import ValidationError

    if given is None:
        latest = log.latest()
        if latest is None:
            raise CliError("no conversation is logged yet", USAGE)
        return latest
    try:
        return log.resolve(given)
    except ValidationError as error:
        raise CliError(str(error), USAGE) from None


def _summary_line(found: ConversationSummary) -> str:
    return (f"# Conversation {found.id}\n\n{_model(found.provider, found.model)} · "
            f"{found.turns} turn{'s' if found.turns != 1 else ''} · {money(found.cost)} · "
            f"started {found.started.strftime(_WHEN)} UTC\n")


@logs.command("show")
@click.argument("conversation_id", required=False, metavar="[ID]")
@_JSON
def show(conversation_id: str | None, as_json: bool) -> None:
    """One conversation, turn by turn (default: the latest). ID may be the start of an id."""
    log = open_log(must_exist=True)
    assert log is not None
    cid = _resolve(log, conversation_id)
    found = log.conversation(cid)
    assert found is not None
    turns = log.turns(cid)
    if as_json:
        emit_json({**found.to_dict(), "turns": [t.to_dict() for t in turns]})
        return
    lines = [_summary_line(found)]
    system: str | None = None
    for turn in turns:
        lines += _turn_text(turn, system)
        system = turn.system
    echo("\n".join(lines).rstrip())


@logs.command("search")
@click.argument("text")
@_COUNT
@_JSON
def search(text: str, count: int, as_json: bool) -> None:
    """The turns whose prompt, reply or system prompt holds TEXT (any case), newest first."""
    if not text.strip():
        raise CliError("search needs some text to look for", USAGE)
    log = open_log()
    if log is None:
        _nothing_yet(as_json, "turns")
        return
    found = log.search(text, limit=count)
    if as_json:
        emit_json({"store": _location(), "query": text,
                   "turns": [t.to_dict() for t in found]})
        return
    if not found:
        echo(f"no logged turn mentions {text!r}", err=True)
        return
    table(["conversation", "when (UTC)", "model", "prompt", "reply"],
          [[t.conversation_id[:SHORT_ID], t.ts.strftime("%Y-%m-%d %H:%M"),
            _model(t.provider, t.model), _excerpt(t.prompt), _excerpt(t.reply or "")]
           for t in found],
          title=f"turns that mention {text!r}, newest first")


def _excerpt(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


#: The logged options ``chat -c`` carries on (the others, like tools, are the program's).
_CARRIED = ("temperature", "top_p", "max_tokens", "stop", "seed", "extra")


def continue_setup(given: ChatSetup, conversation_id: str | None) -> tuple[ChatSetup, str]:
    """What ``jtd-ai chat -c`` / ``--cid ID`` continues: the logged conversation's history,
    and its provider, model, system prompt and options where ``given`` has none; with the
    conversation's id, which the new turns join."""
    from jtd_ai.cli.repl import ChatSetup

    log = open_log(must_exist=True)
    assert log is not None
    cid = _resolve(log, conversation_id)
    turns = log.turns(cid)
    if not turns:
        raise CliError(f"conversation {cid} has no logged turn", USAGE)
    last = next((t for t in reversed(turns) if t.status == "ok"), turns[-1])
    options = {k: v for k, v in last.options.items() if k in _CARRIED}
    saved = ChatSetup(last.provider, last.requested_model, last.system, options,
                      log.history(cid))
    if "log" not in state().manager.load_plugins():
        echo("note: the conversation log is off ([plugins.log] in jtd-ai.toml), so this turn "
             "is not added to the conversation", err=True)
    return given.over(saved), cid
