"""The redact plugin, loaded through its entry point as an application would load it, against
the fake provider server (which echoes the prompt back, so a reply shows what was sent)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jtd_ai import AIManager, ConfigurationError, Message
from jtd_ai.plugins import plugin_listings
from jtd_ai.testing import FakeProviderServer
from jtd_ai_redact import Redact

KEY = "sk-redact-test-key-0001"
EMAIL = r"[\w.+-]+@[\w-]+\.[\w.]+"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(api_key=KEY) as running:
        yield running


def manager(server: FakeProviderServer, folder: Path, **redact: Any) -> AIManager:
    # Every other installed plugin off: these tests see this one only.
    others = {p.name: {"enabled": False} for p in plugin_listings()
              if p.distribution and p.name != "redact"}
    return AIManager(
        providers={"openai": {"base_url": server.base_url("openai"), "api_key": KEY,
                              "default_model": "gpt-4o-mini"}},
        default="openai", config_file=False, env={},
        store={"path": str(folder / "jtd-ai.db")},
        plugins={**others, "redact": redact})


@pytest.mark.parametrize("mode", ["send", "asend", "stream", "astream"])
def test_matches_never_leave(server: FakeProviderServer, tmp_path: Path, mode: str) -> None:
    ai = manager(server, tmp_path, patterns=[EMAIL])
    driver = ai.driver()
    prompt = "write to ada@example.org today"
    if mode == "send":
        reply = driver.send_message(prompt).content
    elif mode == "stream":
        reply = "".join(chunk.delta for chunk in driver.stream(prompt))
    else:
        async def run() -> str:
            try:
                if mode == "asend":
                    return (await driver.asend_message(prompt)).content
                return "".join([chunk.delta async for chunk in driver.astream(prompt)])
            finally:
                await driver.aclose()
        reply = asyncio.run(run())
    assert reply == "echo: write to [redacted] today"
    assert "ada@example.org" not in str([r.body for r in server.requests])
    plugin = ai.hooks.get_plugin("redact")
    assert isinstance(plugin, Redact) and plugin.redacted == 1
    ai.close()


def test_every_message_is_redacted_and_other_parts_kept(server: FakeProviderServer,
                                                        tmp_path: Path) -> None:
    ai = manager(server, tmp_path, patterns=[r"\b\d{4}\b"], replacement="####")
    reply = ai.driver().send_message([Message.system("PIN 1234 is secret"),
                                      Message.user("is 9876 my PIN?")])
    assert reply.content == "echo: is #### my PIN?"
    sent = server.requests[-1].json()["messages"]
    assert [m["content"] for m in sent] == ["PIN #### is secret", "is #### my PIN?"]
    ai.close()


def test_without_patterns_it_stays_out(server: FakeProviderServer, tmp_path: Path) -> None:
    ai = manager(server, tmp_path)
    assert ai.driver().send_message("mail ada@example.org").content == (
        "echo: mail ada@example.org")
    assert not ai.hooks.has_plugin("redact")
    ai.close()


@pytest.mark.parametrize(("options", "message"), [
    ({"patterns": "x"}, "must be a list"),
    ({"patterns": ["("]}, r"patterns\[0\] is not a regular expression"),
    ({"patterns": [EMAIL], "replace": "x"}, "unknown key 'replace'"),
])
def test_bad_options_fail_before_anything_is_sent(server: FakeProviderServer, tmp_path: Path,
                                                  options: dict[str, Any],
                                                  message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        manager(server, tmp_path, **options).driver()
