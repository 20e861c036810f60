"""Drivers are discovered through entry points: lazily, by name, and in isolation.

Uses the plugin distributions under tests/plugins/ (``jtd-ai-testplugin`` and the
deliberately broken ``jtd-ai-brokenplugin``), which the test environment installs.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from importlib_metadata import PackageNotFoundError, distribution

from jtd_ai import AIManager, PluginError

try:
    distribution("jtd-ai-testplugin")
    distribution("jtd-ai-brokenplugin")
except PackageNotFoundError:  # pragma: no cover - depends on the environment
    pytest.skip("the test plugin distributions are not installed: pip install "
                "tests/plugins/jtd-ai-testplugin tests/plugins/jtd-ai-brokenplugin "
                "(tooling/setup-dev.sh does)", allow_module_level=True)


def run_python(code: str, **env: str) -> dict:
    """Run ``code`` in a fresh interpreter (so sys.modules starts clean); it prints JSON."""
    import os

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, **env}, check=True, timeout=60)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_listing_reads_metadata_only() -> None:
    out = run_python(
        "import sys, json, jtd_ai; names = jtd_ai.list_drivers();"
        "from jtd_ai import AIManager; listing = AIManager().drivers();"
        "print(json.dumps({'names': names, 'loaded': sorted(m for m in sys.modules"
        " if m.startswith(('jtd_ai_', 'jtd_ai.echo'))),"
        " 'versions': {d.name: d.version for d in listing}}))"
    )
    assert {"echo", "testplugin", "broken"} <= set(out["names"])
    assert out["loaded"] == []  # no driver module was imported to list them
    assert out["versions"]["testplugin"] == "1.2.3"


def test_first_use_imports_only_that_driver() -> None:
    out = run_python(
        "import sys, json; from jtd_ai import AIManager;"
        "m = AIManager(config_file=False, env={'TESTPLUGIN_API_KEY': 'k-1234'});"
        "r = m.driver('testplugin').send_message('hello');"
        "print(json.dumps({'content': r.content, 'provider': r.provider,"
        " 'testplugin': 'jtd_ai_testplugin' in sys.modules,"
        " 'broken': 'jtd_ai_brokenplugin' in sys.modules}))"
    )
    assert out == {"content": "echo: hello", "provider": "testplugin", "testplugin": True,
                   "broken": False}


def test_a_broken_plugin_names_itself_and_spares_the_others() -> None:
    manager = AIManager(providers={"b": {"driver": "broken"}}, config_file=False, env={})
    with pytest.raises(PluginError) as info:
        manager.driver("b")
    error = info.value
    assert error.distribution == "jtd-ai-brokenplugin"
    assert error.entry_point == "broken = jtd_ai_brokenplugin"
    assert "jtd-ai-brokenplugin" in str(error)
    assert "ModuleNotFoundError" in str(error)
    # Every other driver is still usable from the same manager.
    assert manager.driver("echo").send_message("still here").content == "echo: still here"
    assert "broken" in [d.name for d in manager.drivers()]


def test_plugin_hooks_see_the_calls_of_their_driver() -> None:
    from jtd_ai_testplugin import SEEN

    SEEN.clear()
    manager = AIManager(config_file=False, env={"TESTPLUGIN_API_KEY": "k-1234"})
    manager.driver("testplugin").send_message("hi")
    assert SEEN == [("before_request", "testplugin"), ("after_response", "testplugin")]


def test_jtd_ai_plugins_restricts_what_loads() -> None:
    only_echo = AIManager(config_file=False, env={"JTD_AI_PLUGINS": "echo"})
    assert [d.name for d in only_echo.drivers()] == ["echo"]
    with pytest.raises(Exception, match="JTD_AI_PLUGINS restricts loading to: echo"):
        only_echo.driver("testplugin")
    none = AIManager(config_file=False, env={"JTD_AI_PLUGINS": ""})
    assert none.drivers() == []


def test_extend_adds_a_driver_from_code() -> None:
    from jtd_ai.echo import EchoProtocol

    class Shouty(EchoProtocol):
        name = "shouty"

        def parse_chat(self, response, request):  # type: ignore[no-untyped-def]
            reply = super().parse_chat(response, request)
            import attrs

            return attrs.evolve(reply, content=reply.content.upper())

    manager = AIManager(config_file=False, env={"JTD_AI_PLUGINS": ""})
    manager.extend("shouty", Shouty, default_base_url="http://shouty.invalid",
                   default_model="echo-1")
    assert "shouty" in [d.name for d in manager.drivers()]
    assert manager.driver("shouty").send_message("hey").content == "ECHO: HEY"


def test_extend_accepts_a_factory_returning_a_ready_driver() -> None:
    from jtd_ai import Driver
    from jtd_ai.echo import EchoProtocol

    made = []

    def factory(config):  # type: ignore[no-untyped-def]
        driver = Driver(EchoProtocol(config))
        made.append(driver)
        return driver

    manager = AIManager(config_file=False, env={})
    manager.extend("custom-ai", factory, default_base_url="http://c.invalid",
                   default_model="echo-1")
    assert manager.driver("custom-ai") is made[0]
    assert manager.driver("custom-ai").send_message("x").content == "echo: x"
