"""Where settings come from, in the documented order: explicit > file > env > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from jtd_ai import AIManager, ConfigurationError
from jtd_ai.config import config_file_path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def tplugin_manager(tmp_path: Path, toml: str | None, env: dict[str, str], **kwargs) -> AIManager:
    config = write(tmp_path / "jtd-ai.toml", toml) if toml is not None else False
    return AIManager(config_file=config, env=env, **kwargs)


def test_explicit_beats_file_beats_env(tmp_path: Path) -> None:
    toml = """
default = "main"
[providers.main]
driver = "testplugin"
api_key = "file-key-1234"
timeout = 12
default_model = "from-file"
"""
    env = {"TESTPLUGIN_API_KEY": "env-key-1234"}
    from_file = tplugin_manager(tmp_path, toml, env).provider_config("main")
    assert from_file.api_key is not None and from_file.api_key.reveal() == "file-key-1234"
    assert from_file.timeout == 12
    assert from_file.default_model == "from-file"

    explicit = tplugin_manager(
        tmp_path, toml, env, providers={"main": {"api_key": "arg-key-1234", "timeout": 5}},
    ).provider_config("main")
    assert explicit.api_key is not None and explicit.api_key.reveal() == "arg-key-1234"
    assert explicit.timeout == 5
    assert explicit.default_model == "from-file"  # not overridden, so the file's value stays


def test_env_fills_what_the_file_leaves_out(tmp_path: Path) -> None:
    toml = "[providers.main]\ndriver = \"testplugin\"\n"
    config = tplugin_manager(tmp_path, toml, {"TESTPLUGIN_API_KEY": "env-key-1234"}
                             ).provider_config("main")
    assert config.api_key is not None and config.api_key.reveal() == "env-key-1234"
    assert config.base_url == "http://testplugin.invalid"  # the driver's default
    assert config.default_model == "echo-1"


def test_api_key_env_names_another_variable(tmp_path: Path) -> None:
    toml = "[providers.main]\ndriver = \"testplugin\"\napi_key_env = \"MY_KEY\"\n"
    config = tplugin_manager(tmp_path, toml, {"MY_KEY": "mine-1234",
                                              "TESTPLUGIN_API_KEY": "other-1234"}
                             ).provider_config("main")
    assert config.api_key is not None and config.api_key.reveal() == "mine-1234"


def test_missing_key_says_where_to_put_it(tmp_path: Path) -> None:
    manager = tplugin_manager(tmp_path, "[providers.main]\ndriver = \"testplugin\"\n", {})
    with pytest.raises(ConfigurationError) as info:
        manager.driver("main")
    assert "TESTPLUGIN_API_KEY" in str(info.value)
    assert "[providers.main]" in str(info.value)


def test_two_providers_share_one_driver(tmp_path: Path) -> None:
    toml = """
[providers.a]
driver = "echo"
default_model = "echo-1"
[providers.b]
driver = "echo"
default_model = "echo-large"
"""
    manager = tplugin_manager(tmp_path, toml, {})
    a, b = manager.driver("a"), manager.driver("b")
    assert a is not b
    assert a.get_name() == b.get_name() == "echo"
    assert a.send_message("x").model == "echo-1"
    assert b.send_message("x").model == "echo-large"
    assert a.send_message("x").provider == "a"


def test_base_url_from_env_gets_a_scheme(tmp_path: Path) -> None:
    manager = AIManager(config_file=False, env={"LOCAL_HOST": "127.0.0.1:9999"})
    from jtd_ai.echo import EchoProtocol

    manager.extend("local", EchoProtocol, base_url_env="LOCAL_HOST",
                   default_base_url="http://localhost:1")
    assert manager.provider_config("local").base_url == "http://127.0.0.1:9999"


def test_driver_specific_keys_become_options(tmp_path: Path) -> None:
    toml = "[providers.e]\ndriver = \"echo\"\norganization = \"org-1\"\nkeep_alive = \"5m\"\n"
    config = tplugin_manager(tmp_path, toml, {}).provider_config("e")
    assert config.option("organization") == "org-1"
    assert config.option("keep_alive") == "5m"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("timeout = \"soon\"", "providers.e.timeout"),
        ("retry_attempts = 0", "retry_attempts"),
        ("base_url = \"ftp://x\"", "base_url must start with http"),
        ("timeout = -1", "timeout must be a number of seconds above 0"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, line: str, message: str) -> None:
    manager = tplugin_manager(tmp_path, f"[providers.e]\ndriver = \"echo\"\n{line}\n", {})
    with pytest.raises(ConfigurationError, match=message):
        manager.provider_config("e")


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    bad = write(tmp_path / "jtd-ai.toml", "[providers.e\n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        AIManager(config_file=bad, env={}).providers()


def test_file_discovery_order(tmp_path: Path) -> None:
    user_dir = tmp_path / "xdg" / "jtd-ai"
    user_dir.mkdir(parents=True)
    user_file = write(user_dir / "config.toml", "")
    work = tmp_path / "work"
    work.mkdir()
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert config_file_path(env, cwd=work) == user_file
    local = write(work / "jtd-ai.toml", "")
    assert config_file_path(env, cwd=work) == local
    explicit = write(tmp_path / "elsewhere.toml", "")
    assert config_file_path({**env, "JTD_AI_CONFIG": str(explicit)}, cwd=work) == explicit
    with pytest.raises(ConfigurationError, match="JTD_AI_CONFIG"):
        config_file_path({"JTD_AI_CONFIG": str(tmp_path / "missing.toml")}, cwd=work)


def test_default_provider_resolution(tmp_path: Path) -> None:
    two = "[providers.a]\ndriver = \"echo\"\n[providers.b]\ndriver = \"echo\"\n"
    with pytest.raises(ConfigurationError, match="no default provider"):
        tplugin_manager(tmp_path, two, {}).default_provider()
    assert tplugin_manager(tmp_path, two, {"JTD_AI_DEFAULT_PROVIDER": "b"}).default_provider() == "b"
    assert tplugin_manager(tmp_path, "default = \"a\"\n" + two, {"JTD_AI_DEFAULT_PROVIDER": "b"}
                           ).default_provider() == "a"
    one = "[providers.only]\ndriver = \"echo\"\n"
    assert tplugin_manager(tmp_path, one, {}).default_provider() == "only"


def test_unknown_driver_lists_installed_and_suggests_install() -> None:
    manager = AIManager(providers={"x": {"driver": "openai-nope"}}, config_file=False, env={})
    with pytest.raises(ConfigurationError) as info:
        manager.driver("x")
    assert "echo" in str(info.value)
    assert "openai-nope" in str(info.value)


def test_several_key_variables_are_tried_in_order() -> None:
    from jtd_ai.echo import EchoProtocol

    manager = AIManager(config_file=False, env={"SECOND_KEY": "second-1234"})
    manager.extend("multi", EchoProtocol, api_key_env=("FIRST_KEY", "SECOND_KEY"),
                   default_base_url="http://m.invalid", requires_api_key=True)
    config = manager.provider_config("multi")
    assert config.api_key is not None and config.api_key.reveal() == "second-1234"
    assert config.api_key_env == "SECOND_KEY"
    both = AIManager(config_file=False, env={"FIRST_KEY": "first-1234", "SECOND_KEY": "x-1234"})
    both.extend("multi", EchoProtocol, api_key_env=("FIRST_KEY", "SECOND_KEY"),
                default_base_url="http://m.invalid")
    assert both.provider_config("multi").api_key.reveal() == "first-1234"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("gpu-box", "http://gpu-box:11434"), ("gpu-box:11500", "http://gpu-box:11500"),
     ("https://ollama.example/api", "https://ollama.example/api"),
     ("10.0.0.9", "http://10.0.0.9:11434")],
)
def test_bare_host_gets_the_drivers_default_port(value: str, expected: str) -> None:
    from jtd_ai.echo import EchoProtocol

    manager = AIManager(config_file=False, env={"HOST_VAR": value})
    manager.extend("local", EchoProtocol, base_url_env="HOST_VAR", default_port=11434,
                   default_base_url="http://localhost:11434")
    assert manager.provider_config("local").base_url == expected


def test_a_keyless_compatible_server_can_waive_the_key(tmp_path: Path) -> None:
    toml = "[providers.vllm]\ndriver = \"testplugin\"\napi_key_required = false\n"
    manager = tplugin_manager(tmp_path, toml, {})
    assert manager.driver("vllm").send_message("hi").content == "echo: hi"
