"""``jtd-ai chat -i`` on a real pseudo-terminal: line editing and history through readline,
Tab completion, the history kept across sessions, Ctrl-C stopping a reply. The fake provider
server on loopback answers; its recorded requests show what reached the "model"."""

from __future__ import annotations

import contextlib
import os
import select
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cli_helpers import Cli, jtd_fixture, keyed_server_fixture, needs  # noqa: F401

from jtd_ai.testing.server import Fault

pty = pytest.importorskip("pty")
fcntl = pytest.importorskip("fcntl")
termios = pytest.importorskip("termios")
pytest.importorskip("readline")

pytestmark = needs("openai")


def sent(jtd: Cli) -> list[list[tuple[str, str]]]:
    """(role, text) of every message of every chat request the server received."""
    def text(message: dict[str, Any]) -> str:
        content = message["content"]
        return content if isinstance(content, str) else "".join(
            part.get("text", "") for part in content)
    return [[(m["role"], text(m)) for m in body["messages"]] for body in jtd.chat_bodies()]


# -- a real terminal -------------------------------------------------------------------------

# The child makes the pseudo-terminal its controlling terminal, so Ctrl-C typed on it is a
# SIGINT, as in a shell (subprocess cannot do that without a preexec_fn, unsafe here: the fake
# server runs in a thread of this process).
_TRAMPOLINE = ("import fcntl, os, sys, termios; os.setsid(); "
               "fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
               "os.execv(sys.executable, [sys.executable, '-m', 'jtd_ai', *sys.argv[1:]])")
UP, LEFT, CTRL_C, CTRL_D = "\x1b[A", "\x1b[D", "\x03", "\x04"


class Terminal:
    """``jtd-ai ARGS`` on an 80x24 pseudo-terminal; every wait is bounded."""

    def __init__(self, jtd: Cli, *args: str) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        env = {**os.environ, **jtd.env, "TERM": "xterm", "INPUTRC": os.devnull}
        self.process = subprocess.Popen([sys.executable, "-c", _TRAMPOLINE, *args],
                                        stdin=slave, stdout=slave, stderr=slave, env=env)
        os.close(slave)
        self.master = master
        self.output = b""
        self._seen = 0
        self._closed = False

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0))
        if not ready:
            return
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: every end of the terminal's other side is closed
            chunk = b""
        self._closed = not chunk
        self.output += chunk

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def interrupt_prompt(self) -> None:
        """Ctrl-C at a prompt. CPython's readline checks signals only when its select() is
        interrupted, so a SIGINT landing between the prompt being drawn and that select()
        waits for the next key; a person is never that fast, a test is: let it settle."""
        time.sleep(0.3)
        self.type(CTRL_C)

    def expect(self, text: str, timeout: float = 15.0) -> str:
        """Wait until ``text`` is shown after what the last expect found; returns what was
        shown in between."""
        wanted = text.encode()
        deadline = time.monotonic() + timeout
        while (found := self.output.find(wanted, self._seen)) < 0:
            if self._closed or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not shown within {timeout}s; the terminal "
                                     f"showed:\n{self.output.decode(errors='replace')}")
            self._read(deadline - time.monotonic())
        between = self.output[self._seen:found].decode(errors="replace")
        self._seen = found + len(wanted)
        return between

    def wait(self, timeout: float = 15.0) -> int:
        """The exit code, reading the terminal until the program ends."""
        deadline = time.monotonic() + timeout
        while not self._closed and time.monotonic() < deadline:
            self._read(deadline - time.monotonic())
        return self.process.wait(timeout=max(deadline - time.monotonic(), 0.1))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        os.close(self.master)


@pytest.fixture
def terminal(jtd: Cli) -> Iterator[Any]:
    """``terminal("chat", "-i")``: the command on a pseudo-terminal, killed at the end."""
    opened: list[Terminal] = []

    def start(*args: str) -> Terminal:
        opened.append(Terminal(jtd, *args))
        return opened[-1]

    yield start
    for one in opened:
        with contextlib.suppress(OSError):
            one.close()


def test_arrow_keys_edit_the_line_and_recall_it(jtd: Cli, terminal: Any) -> None:
    term = terminal("chat", "-i", "-q")
    term.expect("you> ")
    term.type(f"abc{LEFT}X\r")  # the cursor moves left: X goes before c
    term.expect("echo: abXc")
    term.expect("you> ")
    term.type(f"{UP}\r")  # the line again, from the history
    term.expect("echo: abXc")
    term.expect("you> ")
    term.type("/exit\r")
    assert term.wait() == 0
    assert b"^[" not in term.output  # no escape code was echoed raw
    assert [turns[-1] for turns in sent(jtd)] == [("user", "abXc")] * 2


def test_help_is_shown_and_not_sent(jtd: Cli, terminal: Any) -> None:
    term = terminal("chat", "-i")
    term.expect("you> ")
    term.type("/he\t\r")  # Tab completes the command
    term.expect("/save [FILE]")
    term.expect(f"History: {jtd.home / 'chat_history'}")
    term.expect("you> ")
    term.type(CTRL_D)
    assert term.wait() == 0
    assert jtd.chat_bodies() == []


def test_history_persists_across_sessions(jtd: Cli, terminal: Any) -> None:
    first = terminal("chat", "-i", "-q")
    first.expect("you> ")
    first.type("remember this line\r")
    first.expect("echo: remember this line")
    first.expect("you> ")
    first.type(CTRL_D)
    assert first.wait() == 0
    history = jtd.home / "chat_history"  # beside the store's database (JTD_AI_HOME)
    assert "remember this line" in history.read_text(encoding="utf-8")
    assert stat.S_IMODE(history.stat().st_mode) == 0o600  # prompts can be private

    second = terminal("chat", "-i", "-q")
    second.expect("you> ")
    second.type(f"{UP}\r")
    second.expect("echo: remember this line")
    second.expect("you> ")
    second.type("/exit\r")
    assert second.wait() == 0
    assert sent(jtd) == [[("user", "remember this line")]] * 2


def test_ctrl_c_stops_a_reply_and_the_session_goes_on(jtd: Cli, terminal: Any) -> None:
    # The slow reply trickles one event every 0.5 s: about 4 s if nobody stops it.
    jtd.server.inject(Fault(interval=0.5, body_contains="slowly"))
    term = terminal("chat", "-i", "-q")
    term.expect("you> ")
    term.type("tell me slowly about the longest rivers\r")
    term.expect("echo:")
    started = time.monotonic()
    term.type(CTRL_C)
    shown = term.expect("(reply stopped")
    assert time.monotonic() - started < 2.0
    assert "rivers" not in shown  # the rest of the reply never came
    term.expect("you> ")
    term.type("after\r")
    term.expect("echo: after")
    term.expect("you> ")
    term.interrupt_prompt()  # the first Ctrl-C at the prompt only says how to leave
    term.expect("Ctrl-C again")
    term.expect("you> ")
    term.interrupt_prompt()
    assert term.wait() == 0
    # The stopped turn was not kept: the next request holds only the new question.
    assert sent(jtd) == [[("user", "tell me slowly about the longest rivers")],
                         [("user", "after")]]


def test_ctrl_c_right_after_a_stopped_reply_leaves(jtd: Cli, terminal: Any) -> None:
    jtd.server.inject(Fault(interval=0.5))
    term = terminal("chat", "-i", "-q")
    term.expect("you> ")
    term.type("one two three four five six seven\r")
    term.expect("echo:")
    term.type(CTRL_C)
    term.expect("you> ")
    term.interrupt_prompt()
    assert term.wait() == 0
