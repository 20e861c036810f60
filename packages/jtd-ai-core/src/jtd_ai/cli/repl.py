"""The interactive chat (``jtd-ai chat -i``): line editing, history, multi-line input, slash
commands that never reach the model, Ctrl-C that stops a reply, and saved conversations.

Line editing and the history come from the standard library's ``readline`` (GNU readline or
libedit), used when stdin and stdout are both a terminal. Not prompt_toolkit: it would be a new
dependency of the ``cli`` extra (and import time on every chat) for what a chat prompt needs and
readline already gives: arrow keys, Ctrl-R search, a history kept across sessions. Where Python
has no readline (Windows), the console edits the line itself and keeps its own history.

Conventions (docs/cli.md says the same to users):

- A line ending in ``\\`` continues on the next one; a line starting with ``\"\"\"`` opens a
  block that ends at a line ending with ``\"\"\"`` (pasted text, code).
- ``/help``, ``/model``, ``/system``, ``/reset``, ``/save``, ``/exit`` are commands; ``//text``
  sends ``/text``. ``exit``, ``quit`` and Ctrl-D leave too.
- Ctrl-C during a reply stops it: what arrived stays on screen, but neither the question nor
  the partial reply joins the conversation (a half answer would mislead the next turn); the
  question is in the history, one arrow-up away. Ctrl-C at the prompt drops the line; a second
  Ctrl-C in a row (the first may have stopped a reply) leaves.
- ``/save FILE`` writes the conversation as JSON; ``jtd-ai chat -i --load FILE`` continues it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import define, field

from jtd_ai.cli.output import echo

if TYPE_CHECKING:
    from jtd_ai.conversation import Conversation
    from jtd_ai.manager import AIManager
    from jtd_ai.messages import Message

__all__ = ["ChatSetup", "LineReader", "Repl", "history_path", "load_conversation",
           "read_entry", "save_conversation"]

#: The ``format`` field of a saved conversation.
FORMAT = "jtd-ai-chat"
VERSION = 1
#: Lines kept in the history file.
HISTORY_LENGTH = 1000
HISTORY_NAME = "chat_history"

PROMPT = "you> "
MORE = "...> "
_QUIT = frozenset({"exit", "quit", ":q"})
_COMMANDS = ("/help", "/model", "/system", "/reset", "/save", "/exit", "/quit")


def _note(text: str) -> None:
    echo(text, err=True)


# -- what a conversation is made of, and its file --------------------------------------------


@define
class ChatSetup:
    """Who the conversation talks to and how: what ``-p -m -s -o`` (or a saved file) chose.
    ``None`` means the configured default."""

    provider: str | None = None
    model: str | None = None
    system: str | None = None
    options: dict[str, Any] = field(factory=dict)
    messages: list[Message] = field(factory=list)

    def conversation(self, manager: AIManager) -> Conversation:
        """A conversation with these settings and messages (validated as they are set)."""
        conversation = manager.conversation(self.provider)
        if self.model:
            conversation.model(self.model)
        if self.system:
            conversation.system(self.system)
        conversation.options(**self.options)
        conversation.history.extend(self.messages)
        return conversation

    def over(self, saved: ChatSetup) -> ChatSetup:
        """These settings where given, else the saved ones; the saved messages."""
        return ChatSetup(self.provider or saved.provider, self.model or saved.model,
                         self.system or saved.system, {**saved.options, **self.options},
                         list(saved.messages))


def _message_dict(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = {"role": str(message.role), "content": message.text}
    if message.tool_calls:
        data["tool_calls"] = [{"id": c.id, "name": c.name, "arguments": c.arguments}
                              for c in message.tool_calls]
    if message.tool_call_id is not None:
        data["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        data["name"] = message.name
    return data


def _message(index: int, data: Any) -> Message:
    from jtd_ai.messages import Message, ToolCall

    where = f"messages[{index}]"
    if not isinstance(data, Mapping) or not isinstance(data.get("content", ""), str):
        raise ValueError(f'{where} must be {{"role": ..., "content": "text"}}')
    role = data.get("role")
    if role not in ("user", "assistant", "tool"):
        raise ValueError(f"{where}: role must be user, assistant or tool, not {role!r}")
    calls = data.get("tool_calls", [])
    if not isinstance(calls, list) or not all(
            isinstance(c, Mapping) and isinstance(c.get("id"), str)
            and isinstance(c.get("name"), str) and isinstance(c.get("arguments", "{}"), str)
            for c in calls):
        raise ValueError(f'{where}: tool_calls must be [{{"id", "name", "arguments"}}, ...]')
    text = data.get("content", "")
    if role == "tool":
        call_id = data.get("tool_call_id")
        if not isinstance(call_id, str):
            raise ValueError(f"{where}: a tool message needs its tool_call_id")
        name = data.get("name")
        return Message.tool(text, call_id=call_id, name=name if isinstance(name, str) else None)
    if role == "user":
        return Message.user(text)
    return Message.assistant(text, tool_calls=[
        ToolCall(c["id"], c["name"], c.get("arguments", "{}")) for c in calls])


def conversation_dict(setup: ChatSetup) -> dict[str, Any]:
    """A conversation as the JSON that ``/save`` writes and ``--load`` reads."""
    return {"format": FORMAT, "version": VERSION, "provider": setup.provider,
            "model": setup.model, "system": setup.system, "options": setup.options,
            "messages": [_message_dict(m) for m in setup.messages]}


def save_conversation(path: Path, setup: ChatSetup) -> None:
    """Write the conversation to ``path`` whole (a temporary file renamed over it), so a
    failed write never leaves half a file behind."""
    from jtd_ai.cli.output import json_text

    text = json_text(conversation_dict(setup), indent=2) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()


def load_conversation(path: Path) -> ChatSetup:
    """A conversation saved by ``/save``; ValueError or OSError saying what is wrong."""
    from jtd_ai.errors import AIError

    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise ValueError(f'not a saved jtd-ai chat (no "format": "{FORMAT}"); save one with '
                         f"/save FILE in jtd-ai chat -i")
    if data.get("version") != VERSION:
        raise ValueError(f"saved by another version of jtd-ai (format version "
                         f"{data.get('version')!r}; this one reads {VERSION})")
    texts = {name: data.get(name) for name in ("provider", "model", "system")}
    for name, value in texts.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a string or null, not {value!r}")
    options = data.get("options") or {}
    messages = data.get("messages")
    if not isinstance(options, Mapping):
        raise ValueError("options must be an object")
    if not isinstance(messages, list):
        raise ValueError("messages must be a list")
    try:
        turns = [_message(i, m) for i, m in enumerate(messages)]
    except AIError as error:  # a message the core refuses (an invalid tool result, say)
        raise ValueError(str(error)) from None
    return ChatSetup(texts["provider"], texts["model"], texts["system"], dict(options), turns)


# -- reading lines ---------------------------------------------------------------------------


def history_path(manager: AIManager) -> Path:
    """``chat_history`` beside the store's database (``$JTD_AI_HOME``, the ``[store] path``,
    else the user data directory)."""
    from jtd_ai.errors import AIError

    try:
        return manager.storage.path.parent / HISTORY_NAME
    except AIError:  # a broken [store] table: the chat reports it when it matters
        from jtd_ai.store import default_store_path

        return default_store_path(manager.env).parent / HISTORY_NAME


class LineReader:
    """Lines from the user: through readline (editing, history, completion) when stdin and
    stdout are a terminal, else plain lines from stdin with the prompt on stderr (so stdout
    holds only the replies). ``read`` raises EOFError at the end and KeyboardInterrupt on
    Ctrl-C."""

    def __init__(self, history: Path | None = None, *, commands: Iterable[str] = ()) -> None:
        self.history = history
        self._readline: Any = None
        #: Why the history could not be read, if it could not.
        self.problem: str | None = None
        #: Whether lines are read with input() on a terminal (editing, history).
        self.editing = False
        if _terminal():
            try:
                import readline
            except ImportError:  # Windows: the console edits lines for input() itself
                self.editing = sys.platform == "win32"
            else:
                self._readline = readline
                self.editing = True
                self._setup(readline, tuple(commands))

    def _setup(self, readline: Any, commands: tuple[str, ...]) -> None:
        def complete(text: str, state: int) -> str | None:
            if not readline.get_line_buffer().startswith("/"):
                return None
            matches = [c + " " for c in commands if c.startswith(text)]
            return matches[state] if state < len(matches) else None

        readline.set_completer(complete)
        readline.set_completer_delims(" \t\n")
        if "libedit" in (readline.__doc__ or ""):
            readline.parse_and_bind("bind ^I rl_complete")
        else:
            readline.parse_and_bind("tab: complete")
        readline.set_history_length(HISTORY_LENGTH)
        if self.history is not None and self.history.exists():
            try:
                readline.read_history_file(str(self.history))
            except OSError as error:
                self.problem = f"cannot read the history ({self.history}): {error}"

    def read(self, prompt: str) -> str:
        if self.editing:
            return input(prompt)
        echo(prompt, err=True, nl=False)
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line.removesuffix("\n").removesuffix("\r")

    def close(self) -> None:
        """Write the history (readable by its owner only: prompts can be private)."""
        readline = self._readline
        if readline is None or self.history is None:
            return
        try:
            self.history.parent.mkdir(parents=True, exist_ok=True)
            self.history.touch(mode=0o600, exist_ok=True)
            readline.write_history_file(str(self.history))
        except OSError as error:
            _note(f"cannot save the history ({self.history}): {error}")


def _terminal() -> bool:
    from jtd_ai.cli.output import is_terminal
    from jtd_ai.cli.stdin import stdin_is_terminal

    return stdin_is_terminal() and is_terminal()


def read_entry(read: Callable[[str], str]) -> str:
    """One message, possibly over several lines: a line ending in ``\\`` continues, and a
    line starting with ``\"\"\"`` opens a block closed by a line ending with ``\"\"\"``. Raises
    EOFError (end of input, an unfinished entry dropped) and KeyboardInterrupt."""
    line = read(PROMPT)
    if line.lstrip().startswith('"""'):
        rest = line.lstrip()[3:]
        if rest.rstrip().endswith('"""'):
            return rest.rstrip()[:-3]
        lines = [rest] if rest.strip() else []
        while True:
            line = read(MORE)
            if line.rstrip().endswith('"""'):
                last = line.rstrip()[:-3]
                if last.strip():
                    lines.append(last)
                return "\n".join(lines)
            lines.append(line)
    lines = []
    while line.endswith("\\"):
        lines.append(line[:-1])
        line = read(MORE)
    lines.append(line)
    return "\n".join(lines)


# -- the session -----------------------------------------------------------------------------

HELP = """\
Type a message and press Enter to send it.
  a line ending in \\ continues on the next line
  \"\"\" on a line starts a block that ends at a line ending with \"\"\"
  //text          sends a message that starts with /
Commands (never sent to the model):
  /help           this help
  /model [NAME]   show the model, or switch to NAME
  /system [TEXT]  show the system prompt, or set it (/system - removes it)
  /reset          forget the conversation (the model and system prompt stay)
  /save [FILE]    save the conversation as JSON; continue it with
                  jtd-ai chat -i --load FILE
  /exit           leave (also exit, Ctrl-D, or Ctrl-C twice)
Keys: arrows edit and recall lines, Ctrl-R searches the history, Tab completes a
command, Ctrl-C stops a reply (the question is not kept: arrow-up to resend it)."""


class Repl:
    """One interactive session over a conversation."""

    def __init__(self, manager: AIManager, setup: ChatSetup, *, quiet: bool = False,
                 stream: bool = True, reader: LineReader | None = None,
                 saved_to: Path | None = None) -> None:
        self.manager = manager
        self.setup = setup
        self.conversation = setup.conversation(manager)
        self.quiet = quiet
        self.stream = stream
        self.reader = reader or LineReader(history_path(manager), commands=_COMMANDS)
        #: Where ``/save`` without a name writes: the file loaded or last saved.
        self.saved_to = saved_to
        #: Whether the last thing that happened was a Ctrl-C (a second one leaves).
        self._armed = False

    # -- the loop -----------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._welcome()
            while self._turn():
                pass
        except KeyboardInterrupt:  # a second Ctrl-C while the first was being handled
            _note("")
        finally:
            self.reader.close()

    def _welcome(self) -> None:
        where = self._provider()
        turns = len(self.conversation.history)
        loaded = f", {turns} message(s) loaded" if turns else ""
        _note(f"Chat with {where} ({self._model()}){loaded}. /help for commands, /exit or "
              f"Ctrl-D to leave.")
        if self.reader.problem:
            _note(self.reader.problem)

    def _turn(self) -> bool:
        """Read and handle one entry; False when the session is over."""
        try:
            entry = read_entry(self.reader.read)
        except EOFError:
            _note("")
            return False
        except KeyboardInterrupt:
            _note("")
            if self._armed:
                return False
            self._armed = True
            _note("(Ctrl-C again, Ctrl-D or /exit to leave)")
            return True
        self._armed = False
        text = entry.strip()
        if not text:
            return True
        if text in _QUIT:
            return False
        if text.startswith("/") and not text.startswith("//"):
            return self._command(text)
        self._send(entry[1:] if text.startswith("//") else entry)
        return True

    def _send(self, text: str) -> None:
        from jtd_ai.cli.chat import print_reply
        from jtd_ai.errors import AIError

        history = self.conversation.history
        before = len(history)
        try:
            self.conversation.message(text)
            print_reply(self.conversation, quiet=self.quiet, stream=self.stream)
        except AIError as error:
            del history[before:]  # the turn that got no reply; the rest goes on
            echo(f"error: {error}", err=True)
        except KeyboardInterrupt:
            del history[before:]
            self._armed = True
            _note("(reply stopped; it is not kept in the conversation: arrow-up to send the "
                  "question again, Ctrl-C again to leave)")

    # -- commands -----------------------------------------------------------------------------

    def _command(self, text: str) -> bool:
        name, _, argument = text.partition(" ")
        argument = argument.strip()
        handler = {"/help": self._help, "/model": self._set_model, "/system": self._set_system,
                   "/reset": self._reset, "/save": self._save}.get(name)
        if name in ("/exit", "/quit"):
            return False
        if handler is None:
            _note(f"unknown command {name}; /help lists them (start a message with // to "
                  f"send a leading /)")
        else:
            handler(argument)
        return True

    def _help(self, argument: str) -> None:
        _note(HELP)
        if self.reader.history is not None and self.reader.editing:
            _note(f"History: {self.reader.history}")

    def _provider(self) -> str:
        from jtd_ai.errors import AIError

        if self.setup.provider:
            return self.setup.provider
        try:
            return self.manager.default_provider()
        except AIError:
            return "the default provider"

    def _model(self) -> str:
        from jtd_ai.errors import AIError

        if self.setup.model:
            return self.setup.model
        try:
            default = self.manager.driver(self.setup.provider).config.default_model
        except AIError:
            default = None
        return f"{default}, the provider's default" if default else "the provider's default"

    def _set_model(self, argument: str) -> None:
        from jtd_ai.errors import AIError

        if not argument:
            _note(f"model: {self._model()}")
            return
        try:
            self.conversation.model(argument)
        except AIError as error:
            _note(f"error: {error}")
            return
        self.setup.model = argument
        _note(f"(model: {argument})")

    def _set_system(self, argument: str) -> None:
        from jtd_ai.errors import AIError

        if not argument:
            shown = self.setup.system
            _note(f"system prompt: {shown}" if shown else "no system prompt (/system TEXT sets "
                                                          "one)")
            return
        if argument == "-":
            self.setup.system = None
            self._rebuild()
            _note("(system prompt removed)")
            return
        try:
            self.conversation.system(argument)
        except AIError as error:
            _note(f"error: {error}")
            return
        self.setup.system = argument
        _note("(system prompt set)")

    def _rebuild(self) -> None:
        """A fresh conversation from the settings, keeping the history and the id (so the
        conversation log keeps one conversation)."""
        old = self.conversation
        self.conversation = ChatSetup(self.setup.provider, self.setup.model, self.setup.system,
                                      self.setup.options).conversation(self.manager)
        self.conversation.history = old.history
        self.conversation.id = old.id

    def _reset(self, argument: str) -> None:
        """Forget the history; what follows is a new conversation (a new id in the log)."""
        import uuid

        self.conversation.history.clear()
        self.conversation.id = uuid.uuid4().hex
        _note("(conversation cleared; the model and system prompt stay)")

    def _save(self, argument: str) -> None:
        target = Path(argument).expanduser() if argument else self.saved_to
        if target is None:
            _note("usage: /save FILE")
            return
        setup = ChatSetup(self.setup.provider or self._provider_name(), self.setup.model,
                          self.setup.system, self.setup.options,
                          list(self.conversation.history))
        try:
            save_conversation(target, setup)
        except OSError as error:
            _note(f"error: cannot save to {target}: {error.strerror or error}")
            return
        self.saved_to = target
        _note(f"(saved {len(setup.messages)} message(s) to {target}; continue with "
              f"jtd-ai chat -i --load {target})")

    def _provider_name(self) -> str | None:
        from jtd_ai.errors import AIError

        try:
            return self.manager.default_provider()
        except AIError:
            return None
