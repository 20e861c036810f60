"""The default provider: one usable provider is the default for the library and the CLI;
otherwise the error names the usable ones, in the library's words or the CLI's."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from cli_helpers import KEY, keyed_server_fixture, needs  # noqa: F401
from env_helpers import Shell, shell_fixture  # noqa: F401

from jtd_ai import AIManager, ConfigurationError
from jtd_ai.manager import NoDefaultProviderError
from jtd_ai.testing.server import FakeProviderServer

#: Only these plugins load, so the installed examples (groq, deepseek, ...) do not count.
ONLY = {"JTD_AI_PLUGINS": "testplugin,echo"}


def manager(env: dict[str, str], **kwargs: object) -> AIManager:
    return AIManager(config_file=False, env={**ONLY, **env}, **kwargs)  # type: ignore[arg-type]


# -- the library --------------------------------------------------------------------------


def test_an_installed_driver_whose_key_is_set_is_the_default() -> None:
    ai = manager({"TESTPLUGIN_API_KEY": "tp-key-1234"})
    assert ai.usable_providers() == ["testplugin"]
    assert ai.default_provider() == "testplugin"
    reply = ai.conversation().message("hi").send()  # no .provider(...)
    assert (reply.provider, reply.content) == ("testplugin", "echo: hi")


def test_a_preset_whose_key_is_set_is_the_default() -> None:
    ai = manager({"GROQ_API_KEY": "gsk-1234"})
    assert ai.usable_providers() == ["groq"]
    assert ai.default_provider() == "groq"


def test_keyless_drivers_and_local_presets_are_never_implied() -> None:
    ai = AIManager(config_file=False, env={"JTD_AI_PLUGINS": "echo,ollama",
                                           "VLLM_API_KEY": "v-1234", "OLLAMA_HOST": "box"})
    assert ai.usable_providers() == []  # nothing knows whether a local server runs
    with pytest.raises(NoDefaultProviderError):
        ai.default_provider()


def test_several_keys_name_them_all() -> None:
    ai = manager({"TESTPLUGIN_API_KEY": "tp-key-1234", "MISTRAL_API_KEY": "m-1234"})
    with pytest.raises(NoDefaultProviderError) as info:
        ai.default_provider()
    error = info.value
    assert error.ready == ("mistral", "testplugin")
    assert "several are ready" in error.message and "mistral, testplugin" in error.message
    assert ".provider('mistral')" in error.message  # the library speaks library
    assert "-p NAME" in error.cli_message and ".provider(" not in error.cli_message
    assert isinstance(error, ConfigurationError)  # callers catching that keep working


def test_nothing_usable_says_which_variables_would_do() -> None:
    with pytest.raises(NoDefaultProviderError) as info:
        manager({}).default_provider()
    error = info.value
    assert error.ready == ()
    assert "TESTPLUGIN_API_KEY" in error.message  # the installed driver's variable
    assert "GROQ_API_KEY" in error.message  # and a preset's
    assert "[providers.NAME]" in error.message
    assert "-p NAME" in error.cli_message and ".provider(" not in error.cli_message


def test_configured_providers_come_before_keys_in_the_environment(tmp_path: Path) -> None:
    one = {"only": {"driver": "echo"}}
    ai = manager({"TESTPLUGIN_API_KEY": "tp-key-1234"}, providers=one)
    assert ai.default_provider() == "only"  # as before: one configured provider
    two = {"a": {"driver": "echo"}, "b": {"driver": "echo"}}
    with pytest.raises(NoDefaultProviderError, match="several are configured: a, b"):
        manager({"TESTPLUGIN_API_KEY": "tp-key-1234"}, providers=two).default_provider()


def test_a_named_default_wins_over_everything() -> None:
    env = {"TESTPLUGIN_API_KEY": "tp-key-1234", "GROQ_API_KEY": "gsk-1234"}
    assert manager({**env, "JTD_AI_DEFAULT_PROVIDER": "groq"}).default_provider() == "groq"
    assert manager(env, default="echo").default_provider() == "echo"


def test_a_broken_plugin_is_no_candidate_and_no_failure() -> None:
    ai = AIManager(config_file=False, env={"TESTPLUGIN_API_KEY": "tp-key-1234",
                                           "JTD_AI_PLUGINS": "testplugin,echo,broken"})
    assert ai.default_provider() == "testplugin"


@needs("openai")
def test_the_library_defaults_to_openai_with_only_its_key(
        keyed_server: FakeProviderServer) -> None:
    ai = AIManager(config_file=False, env={"OPENAI_API_KEY": KEY,
                                           "OPENAI_BASE_URL": keyed_server.base_url("openai")})
    reply = ai.conversation().message("Name three rivers").send()
    assert (reply.provider, reply.content) == ("openai", "echo: Name three rivers")
    ai.close()


# -- the command line ----------------------------------------------------------------------


def first_help_example(shell: Shell) -> list[str]:
    """The first example of ``jtd-ai chat --help``, as arguments after ``jtd-ai``."""
    text = shell("chat", "--help").stdout
    line = next(x.strip() for x in text.splitlines() if x.strip().startswith("jtd-ai chat"))
    words = shlex.split(line.split("  #")[0])
    assert words[0] == "jtd-ai"
    return words[1:]


@needs("openai")
def test_the_first_help_example_works_with_only_openai_api_key(
        shell: Shell, keyed_server: FakeProviderServer) -> None:
    args = first_help_example(shell)
    assert args[0] == "chat"
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": keyed_server.base_url("openai")}
    result = shell(*args, env=env)
    assert result.exit_code == 0, result.stderr
    prompt = args[-1]
    assert result.stdout == f"echo: {prompt}\n"
    assert "openai/" in result.stderr  # the status line names the provider it chose


@needs("openai")
def test_batch_uses_the_only_usable_provider(shell: Shell, keyed_server: FakeProviderServer,
                                             tmp_path: Path) -> None:
    items = tmp_path / "in.jsonl"
    items.write_text('{"id": "a", "prompt": "one"}\n{"id": "b", "prompt": "two"}\n',
                     encoding="utf-8")
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": keyed_server.base_url("openai")}
    result = shell("batch", str(items), "-o", str(tmp_path / "out.jsonl"), "-q", env=env)
    assert result.exit_code == 0, result.stderr
    out = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(row["id"] for row in out) == ["a", "b"]


def test_two_keys_say_use_dash_p_and_list_the_ready_ones(shell: Shell) -> None:
    env = {**ONLY, "TESTPLUGIN_API_KEY": "tp-key-1234", "CEREBRAS_API_KEY": "c-1234"}
    result = shell("chat", "hi", env=env)
    assert result.exit_code == 2
    assert "use -p NAME" in result.stderr
    assert "cerebras, testplugin" in result.stderr
    assert ".provider(" not in result.stderr  # CLI errors speak CLI
    named = shell("chat", "-p", "testplugin", "hi", env=env)
    assert named.exit_code == 0, named.stderr
    assert named.stdout == "echo: hi\n"


def test_no_key_at_all_says_what_to_set(shell: Shell) -> None:
    result = shell("chat", "hi", env=ONLY)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no default provider")
    assert "TESTPLUGIN_API_KEY" in result.stderr and "-p NAME" in result.stderr
    assert ".provider(" not in result.stderr
    batch = shell("batch", "-", "-o", "out.jsonl", env=ONLY, input='{"prompt": "x"}\n')
    assert batch.exit_code == 2 and "-p NAME" in batch.stderr


def test_commands_over_several_providers_take_every_usable_one() -> None:
    from jtd_ai.cli.selection import chosen_providers

    keyed = manager({"TESTPLUGIN_API_KEY": "tp-key-1234", "GROQ_API_KEY": "gsk-1234"})
    assert chosen_providers(keyed, ()) == ["groq", "testplugin"]  # models list / sync
    assert chosen_providers(keyed, ("echo", "echo")) == ["echo"]
    named = manager({"TESTPLUGIN_API_KEY": "tp-key-1234"}, default="echo")
    assert chosen_providers(named, ()) == ["echo"]
    with pytest.raises(NoDefaultProviderError):
        chosen_providers(manager({}), ())


def test_providers_marks_the_implied_default(shell: Shell) -> None:
    result = shell("providers", "--json", env={**ONLY, "TESTPLUGIN_API_KEY": "tp-key-1234"})
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["default"] == "testplugin"
    rows = {r["name"]: r for r in data["providers"]}
    assert rows["testplugin"]["default"] is True and rows["testplugin"]["status"] == "ready"
