"""Call plugins from entry points (group ``jtd_ai.plugins``) and ``[plugins.NAME]`` tables:
options, ``enabled = false``, order, unknown names, broken plugins isolated, and the
``fallbacks`` settings checked at load. The plugins are the installed test distribution
(tests/plugins/jtd-ai-testwrapper) and, for a plugin that cannot be imported, a distribution
written on disk for the test; the calls go to the offline echo driver."""

from __future__ import annotations

import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from wrap_helpers import installed_off

from jtd_ai import AIManager, ConfigurationError, PluginError, ValidationError
from jtd_ai.plugins import plugin_listings


def manager(plugins: dict[str, dict[str, Any]] | None = None, *,
            providers: dict[str, dict[str, Any]] | None = None, **kwargs: Any) -> AIManager:
    return AIManager(providers=providers or {"echo": {}}, default="echo", config_file=False,
                     env={}, store={"enabled": False},
                     plugins={**installed_off(), **(plugins or {})}, **kwargs)


def reply(ai: AIManager, prompt: str = "hi") -> str:
    return ai.driver().send_message(prompt, model="echo-1").content


def test_the_test_distribution_is_listed_from_metadata() -> None:
    listed = {p.name: p for p in plugin_listings()}
    assert listed["testwrapper"].distribution == "jtd-ai-testwrapper"
    assert listed["fallbacks"].distribution is None  # built in
    assert {"cache", "log", "fallbacks"} <= set(listed)


def test_an_installed_plugin_gets_its_options() -> None:
    ai = manager({"testwrapper": {"suffix": " [a]"}})
    assert reply(ai) == "echo: hi [a]"
    assert set(ai.load_plugins()) == {"testwrapper"}
    assert ai.hooks.has_plugin("testwrapper")


def test_a_factory_returning_none_registers_nothing() -> None:
    ai = manager({"testwrapper": {"enabled": True}})  # no suffix: the factory declines
    assert reply(ai) == "echo: hi"
    assert ai.load_plugins() == {}


def test_enabled_false_turns_a_plugin_off() -> None:
    ai = manager({"testwrapper": {"suffix": " [a]", "enabled": False}})
    assert reply(ai) == "echo: hi"


@pytest.mark.parametrize(("a", "b", "expected"), [
    ({}, {}, " [a] [b]"),                       # same priority: in name order, first outermost
    ({"order": "last"}, {}, " [b] [a]"),
    ({}, {"order": "first"}, " [b] [a]"),
    ({"order": "first"}, {"order": "last"}, " [a] [b]"),
])
def test_tryfirst_and_trylast_order_the_wrappers(a: dict[str, str], b: dict[str, str],
                                                 expected: str) -> None:
    # The outermost wrapper changes the request first, so its suffix comes first.
    ai = manager({"testwrapper": {"suffix": " [a]", **a},
                  "testwrapper-b": {"suffix": " [b]", **b}})
    assert reply(ai) == "echo: hi" + expected


def test_an_unknown_plugin_is_a_configuration_error_naming_the_nearest() -> None:
    ai = manager({"testwraper": {}})
    with pytest.raises(ConfigurationError, match=r"no plugin named 'testwraper' \(did you "
                                                 r"mean 'testwrapper'\?\)"):
        ai.driver()


@pytest.mark.parametrize(("tables", "message"), [
    ({"testwrapper": {"enabled": "yes"}}, "plugins.testwrapper.enabled must be true or false"),
    ({"testwrapper": {"required": 1}}, "plugins.testwrapper.required must be true or false"),
    ({"fallbacks": {"targets": []}}, "plugins.fallbacks: unknown key 'targets'"),
])
def test_bad_plugin_tables_are_configuration_errors(tables: dict[str, Any],
                                                    message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        manager(tables).driver()


def test_plugin_tables_come_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "jtd-ai.toml"
    off = "".join(f"[plugins.{name}]\nenabled = false\n" for name in installed_off())
    config.write_text(off.replace("[plugins.testwrapper]\nenabled = false\n", "") + textwrap.dedent("""
        default = "echo"
        [providers.echo]
        [plugins.testwrapper]
        suffix = " [from file]"
        order = "first"
        """))
    ai = AIManager(config_file=config, env={}, store={"enabled": False})
    assert reply(ai) == "echo: hi [from file]"


def test_a_failing_factory_is_isolated_and_named() -> None:
    ai = manager({"testwrapper-failing": {"fail": True}, "testwrapper": {"suffix": " [a]"}})
    assert reply(ai) == "echo: hi [a]"  # the driver and the other plugin work
    (error,) = ai.plugin_errors
    assert isinstance(error, PluginError)
    assert error.distribution == "jtd-ai-testwrapper"
    assert "fails on purpose" in error.message


def test_a_required_plugin_that_fails_stops_the_manager() -> None:
    ai = manager({"testwrapper-failing": {"fail": True, "required": True}})
    with pytest.raises(PluginError, match="jtd-ai-testwrapper"):
        ai.driver()


def test_a_plugin_that_cannot_be_imported_is_isolated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed distribution whose plugin module is missing: on by default, it fails
    to load; the error names the distribution and every driver keeps working."""
    info = tmp_path / "jtd_ai_brokenwrap-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: jtd-ai-brokenwrap\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text("[jtd_ai.plugins]\n"
                                           "brokenwrap = jtd_ai_no_such_module:factory\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ai = manager({"brokenwrap": {}})  # on, as any installed plugin is (the others: off)
    assert reply(ai) == "echo: hi"
    (error,) = ai.plugin_errors
    assert error.distribution == "jtd-ai-brokenwrap"
    assert "ModuleNotFoundError" in error.message
    assert error.entry_point == "brokenwrap = jtd_ai_no_such_module:factory"


def test_reset_unregisters_and_reloads_the_plugins() -> None:
    ai = manager({"testwrapper": {"suffix": " [a]"}})
    assert reply(ai) == "echo: hi [a]"
    ai.reset()
    assert not ai.hooks.has_plugin("testwrapper")
    assert reply(ai) == "echo: hi [a]"


def test_another_thread_waits_for_the_plugins_being_loaded(monkeypatch) -> None:
    """While the first load runs, another thread's load_plugins() waits for it (it never
    sees a partial result); the loading thread re-entering it is not loaded again."""
    import jtd_ai.fallbacks

    entered = threading.Event()
    reentered: list[dict[str, Any]] = []
    real = jtd_ai.fallbacks.plugin

    def slow(manager: AIManager, options: Any) -> Any:
        entered.set()
        reentered.append(dict(manager.load_plugins()))
        time.sleep(0.3)  # the other thread asks meanwhile
        return real(manager, options)

    monkeypatch.setattr(jtd_ai.fallbacks, "plugin", slow)
    ai = manager({"fallbacks": {}})
    loader = threading.Thread(target=ai.load_plugins)
    loader.start()
    assert entered.wait(10)
    assert list(ai.load_plugins()) == ["fallbacks"]
    loader.join(10)
    assert reentered == [{}]
    assert list(ai.load_plugins()) == ["fallbacks"] and len(reentered) == 1


# -- fallbacks settings ------------------------------------------------------------------------


def test_a_fallback_naming_an_unknown_provider_fails_at_load() -> None:
    ai = manager(providers={"echo": {"fallbacks": ["echoo:echo-large"]}})
    with pytest.raises(ConfigurationError, match=r"providers\.echo\.fallbacks: no provider "
                                                 r"named 'echoo' \(did you mean 'echo'\?\)"):
        ai.driver()


@pytest.mark.parametrize("value", ["echo", [3], [""], ["echo:"]])
def test_a_badly_shaped_fallbacks_setting_fails_at_load(value: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"providers\.echo\.fallbacks"):
        manager(providers={"echo": {"fallbacks": value}}).driver()


def test_configured_fallbacks_register_the_plugin() -> None:
    ai = manager(providers={"echo": {"fallbacks": ["other"]}, "other": {"driver": "echo"}})
    ai.driver()
    assert ai.hooks.has_plugin("fallbacks")
    off = manager(plugins={"fallbacks": {"enabled": False}},
                  providers={"echo": {"fallbacks": ["other"]}, "other": {"driver": "echo"}})
    off.driver()
    assert not off.hooks.has_plugin("fallbacks")


@pytest.mark.parametrize(("value", "error"), [
    ("other", ValidationError), ([None], ValidationError), (["nobody"], ConfigurationError)])
def test_a_bad_per_call_fallback_fails_before_sending(value: Any,
                                                      error: type[Exception]) -> None:
    ai = manager()
    with pytest.raises(error):
        ai.driver().send_message("hi", model="echo-1", fallbacks=value)
    assert not ai.hooks.has_plugin("fallbacks")
