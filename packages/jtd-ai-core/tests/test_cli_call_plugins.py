"""``jtd-ai plugins``: the call plugins, built in and installed (the test distribution
tests/plugins/jtd-ai-testwrapper), whether the config file enables them, and the error of
one that fails to load; through the real command, in-process."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cli_helpers import Cli, jtd_fixture, keyed_server_fixture  # noqa: F401

from jtd_ai.plugins import plugin_listings

pytestmark = pytest.mark.skipif(
    "testwrapper" not in {p.name for p in plugin_listings()},
    reason="the test plugin distribution (pip install -e tests/plugins/jtd-ai-testwrapper) "
           "is not installed")

#: The installed plugins other than these (otel, the redact example) stay out of the way.
CONFIG = """
[plugins.cache]
ttl = "1h"

[plugins.testwrapper]
suffix = " [w]"

[plugins.testwrapper-b]
enabled = false

[plugins.testwrapper-failing]
fail = true
"""


def configured(jtd: Cli, text: str = CONFIG) -> Cli:
    with jtd.config.open("a", encoding="utf-8") as config:
        config.write(text)
    return jtd


def rows(jtd: Cli) -> tuple[int, dict[str, dict[str, Any]], Any]:
    result = jtd("plugins", "--json")
    data = json.loads(result.stdout)
    return result.exit_code, {row["name"]: row for row in data["plugins"]}, data["error"]


def test_plugins_are_listed_with_their_state(jtd: Cli) -> None:
    code, listed, error = rows(configured(jtd))
    assert code == 1 and error is None  # one plugin failed to load
    assert {k: listed["cache"][k] for k in ("builtin", "distribution", "enabled", "status")} == {
        "builtin": True, "distribution": "jtd-ai-core", "enabled": True, "status": "loaded"}
    assert listed["cache"]["version"]
    assert (listed["log"]["enabled"], listed["log"]["status"]) == (False, "off")
    assert (listed["fallbacks"]["enabled"], listed["fallbacks"]["status"]) == (False, "off")
    wrapper = listed["testwrapper"]
    assert (wrapper["builtin"], wrapper["distribution"], wrapper["version"]) == (
        False, "jtd-ai-testwrapper", "0.0.2")
    assert wrapper["entry_point"] == "jtd_ai_testwrapper:factory"
    assert (wrapper["enabled"], wrapper["status"], wrapper["error"]) == (True, "loaded", None)
    assert (listed["testwrapper-b"]["enabled"], listed["testwrapper-b"]["status"]) == (
        False, "off")
    failing = listed["testwrapper-failing"]
    assert (failing["enabled"], failing["status"]) == (True, "failed")
    assert "fails on purpose" in failing["error"]
    assert "jtd-ai-testwrapper" in failing["error"]  # the error names its distribution

    table = jtd("plugins")
    assert table.exit_code == 1
    by_name = {line.split()[0]: line.split() for line in table.stdout.splitlines()[1:]}
    assert by_name["cache"][1:4] == ["jtd-ai-core", "(built", "in)"]
    assert by_name["testwrapper"][1:5] == ["jtd-ai-testwrapper", "0.0.2", "yes", "loaded"]
    assert by_name["testwrapper-failing"][3:5] == ["yes", "failed"]
    assert "error: plugin 'testwrapper-failing'" in table.stderr


def test_an_enabled_plugin_whose_factory_declines_is_idle(jtd: Cli) -> None:
    code, listed, _ = rows(configured(jtd, "\n[plugins.testwrapper]\n"))
    assert code == 0
    assert (listed["testwrapper"]["enabled"], listed["testwrapper"]["status"]) == (True, "idle")


def test_a_bad_plugin_configuration_is_shown_with_the_list(jtd: Cli) -> None:
    code, listed, error = rows(configured(jtd, "\n[plugins.no-such-plugin]\n"))
    assert code == 2
    assert "no plugin named 'no-such-plugin'" in error
    assert listed["cache"]["status"] == "unknown" and listed["cache"]["enabled"] is None
    table = jtd("plugins")
    assert table.exit_code == 2 and "no plugin named 'no-such-plugin'" in table.stderr
    assert "testwrapper" in table.stdout
