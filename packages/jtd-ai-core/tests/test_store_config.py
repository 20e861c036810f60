"""The [store], [pricing] and [budget] tables: file, explicit arguments, where the store is."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from jtd_ai import AIManager, ConfigurationError
from jtd_ai.storage import StoreOptions


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jtd-ai.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_tables_are_read_from_the_file_and_explicit_keys_win(tmp_path) -> None:
    config = write(tmp_path, f"""
        [store]
        path = "{(tmp_path / 'from-file.db').as_posix()}"
        models_ttl = 60
        ledger = false
        [pricing]
        genai_prices = true
        [budget]
        limit = "5"
        [providers.echo]
    """)
    ai = AIManager(config_file=config, env={}, store={"ledger": True})
    options = ai.storage.options
    assert options.path == tmp_path / "from-file.db"
    assert (options.models_ttl, options.ledger, options.genai_prices) == (60.0, True, True)
    assert ai.storage.budget is not None and str(ai.storage.budget.limit) == "5"
    assert ai.storage.path == tmp_path / "from-file.db"


def test_a_table_that_is_not_a_table_is_named(tmp_path) -> None:
    config = write(tmp_path, 'store = "somewhere"\n')
    with pytest.raises(ConfigurationError, match=r"\[store\] must be a table"):
        _ = AIManager(config_file=config, env={}).settings


@pytest.mark.parametrize(("store", "message"), [
    ({"models_ttl": -1}, "store.models_ttl must be a number of seconds"),
    ({"models_ttl": "1h"}, "store.models_ttl"),
    ({"busy_timeout": 0}, "store.busy_timeout must be a number of seconds above 0"),
    ({"ledger": "yes"}, "store.ledger must be true or false"),
    ({"path": 3}, "store.path must be a file path"),
    ({"colour": "blue"}, "store: unknown key 'colour'"),
])
def test_bad_store_settings_are_named(store, message) -> None:
    with pytest.raises(ConfigurationError, match=message):
        StoreOptions.from_config(store)


def test_unknown_pricing_keys_are_named() -> None:
    with pytest.raises(ConfigurationError, match="pricing: unknown key 'genai'"):
        StoreOptions.from_config({}, {"genai": True})


def test_a_bad_provider_ttl_is_named(stored) -> None:
    with pytest.raises(ConfigurationError, match=r"providers\.echo\.models_ttl"):
        stored(models_ttl="soon").driver()


def test_the_default_store_is_in_the_user_data_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.chdir(tmp_path)  # no ./jtd-ai.toml here
    ai = AIManager(env={"XDG_DATA_HOME": str(tmp_path / "data")})
    assert ai.storage.options.enabled
    assert ai.storage.path == tmp_path / "data" / "jtd-ai" / "jtd-ai.db"


def test_jtd_ai_home_moves_the_store(tmp_path) -> None:
    ai = AIManager(env={"JTD_AI_HOME": str(tmp_path / "home")})
    assert ai.storage.path == tmp_path / "home" / "jtd-ai.db"


def test_config_file_false_keeps_off_the_users_data(tmp_path) -> None:
    isolated = AIManager(providers={"echo": {}}, config_file=False, env={})
    assert not isolated.storage.options.enabled
    assert isolated.driver("echo").send_message("hi").content == "echo: hi"
    # ...unless a place is named: a path, JTD_AI_HOME, or enabled = true.
    named = AIManager(config_file=False, env={}, store={"path": str(tmp_path / "x.db")})
    assert named.storage.options.enabled
    home = AIManager(config_file=False, env={"JTD_AI_HOME": str(tmp_path)})
    assert home.storage.options.enabled and home.storage.path == tmp_path / "jtd-ai.db"
    assert AIManager(config_file=False, env={}, store={"enabled": True}).storage.options.enabled


def test_reset_closes_the_store_and_unregisters_its_plugins(stored) -> None:
    ai = stored()
    ai.driver().send_message("hi")
    plugins = [p for p in ai.hooks.get_plugins() if type(p).__name__ == "LedgerPlugin"]
    assert len(plugins) == 1
    ai.reset()
    assert not [p for p in ai.hooks.get_plugins() if type(p).__name__ == "LedgerPlugin"]
    ai.driver().send_message("again")  # a new storage, plugins registered once more
    assert ai.usage.total().calls == 2
    assert len([p for p in ai.hooks.get_plugins()
                if type(p).__name__ == "LedgerPlugin"]) == 1
