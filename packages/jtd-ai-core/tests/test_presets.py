"""Provider presets: an OpenAI-compatible service in one line. The table itself, how a preset
fills a provider's settings (the user's keys win), which name wins (an installed driver over
a preset of its name), the quirks the openai driver applies, and a preset end to end against
the fake provider server (OpenAI dialect) with its base_url pointed at it."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import KEY, installed, keyed_server_fixture, needs  # noqa: F401
from env_helpers import Shell, shell_fixture  # noqa: F401

from jtd_ai import AIManager, ConfigurationError, TokenUsage
from jtd_ai.presets import PRESETS, find, names, preset_values, status
from jtd_ai.testing.server import FakeProviderServer

#: The openai driver only: the example packages (groq, deepseek) do not shadow presets here.
ONLY_OPENAI = {"JTD_AI_PLUGINS": "openai,echo"}
REQUIRED = ("deepseek", "groq", "mistral", "openrouter", "together", "fireworks", "cerebras",
            "perplexity", "azure", "vllm", "lmstudio", "llamacpp")


def ai(env: dict[str, str], **providers: dict[str, Any]) -> AIManager:
    return AIManager(config_file=False, env={**ONLY_OPENAI, **env},
                     providers=providers or None, store={"enabled": False})


# -- the table -------------------------------------------------------------------------------


def test_every_required_service_has_a_preset() -> None:
    assert set(REQUIRED) <= set(names())


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_is_complete_and_consistent(name: str) -> None:
    preset = PRESETS[name]
    assert preset.name == name and preset.title and preset.docs.startswith("https://")
    assert preset.driver == "openai"  # every one of them speaks Chat Completions
    assert preset.base_url or preset.base_url_env, "nowhere to send requests"
    assert preset.api_key_env and all(v.isupper() for v in preset.api_key_env)
    if preset.local:
        assert preset.default_port and preset.base_url
        assert preset.base_url.startswith(f"http://localhost:{preset.default_port}/")
    for model, price in preset.prices.items():
        assert isinstance(model, str) and model
        assert {"input", "output", "source", "as_of"} <= set(price), "prices are dated, sourced"
        assert isinstance(price["as_of"], dt.date) and price["as_of"] <= dt.date(2026, 12, 31)
        assert Decimal(price["input"]) >= 0 and Decimal(price["output"]) >= 0


def test_local_servers_use_their_default_ports() -> None:
    ports = {n: PRESETS[n].default_port for n in ("vllm", "lmstudio", "llamacpp")}
    assert ports == {"vllm": 8000, "lmstudio": 1234, "llamacpp": 8080}
    assert all(not PRESETS[n].requires_api_key for n in ports)


# -- filling a provider's settings -----------------------------------------------------------


def test_a_preset_fills_only_what_the_table_leaves_unset() -> None:
    merged = preset_values(PRESETS["groq"], {"default_model": "mine", "timeout": 5})
    assert merged["driver"] == "openai" and merged["preset"] == "groq"
    assert (merged["default_model"], merged["timeout"]) == ("mine", 5)
    mistral = preset_values(PRESETS["mistral"], {"omit_fields": []})
    assert mistral["omit_fields"] == []  # the user's value, even an empty one
    assert mistral["rename_fields"] == {"seed": "random_seed"}
    mistral["rename_fields"]["seed"] = "changed"
    assert PRESETS["mistral"].options["rename_fields"] == {"seed": "random_seed"}  # a copy


def test_prices_merge_model_by_model_under_the_users() -> None:
    mine = {"openai/gpt-oss-120b": {"input": 1, "output": 2}, "other": {"input": 3, "output": 4}}
    merged = preset_values(PRESETS["groq"], {"prices": mine})
    assert merged["prices"] == mine
    kept = preset_values(PRESETS["groq"], {"prices": {"other": {"input": 3, "output": 4}}})
    assert set(kept["prices"]) == {"openai/gpt-oss-120b", "other"}


def test_preset_by_key_resolves_base_url_key_variable_and_model() -> None:
    manager = ai({"GROQ_API_KEY": "gsk-groq-1234"}, groq={"preset": "groq"})
    config = manager.provider_config("groq")
    assert (config.driver, config.preset) == ("openai", "groq")
    assert config.base_url == "https://api.groq.com/openai/v1"
    assert config.api_key_env == "GROQ_API_KEY"
    assert config.api_key is not None and config.api_key.reveal() == "gsk-groq-1234"
    assert config.default_model == "openai/gpt-oss-120b"


def test_any_provider_name_can_use_a_preset_and_the_users_keys_win() -> None:
    manager = ai({"MY_GROQ": "gsk-mine-1234"}, fast={
        "preset": "groq", "api_key_env": "MY_GROQ", "default_model": "openai/gpt-oss-20b",
        "base_url": "https://groq-proxy.test/openai/v1", "timeout": 7})
    config = manager.provider_config("fast")
    assert (config.base_url, config.default_model, config.timeout) == (
        "https://groq-proxy.test/openai/v1", "openai/gpt-oss-20b", 7)
    assert config.api_key is not None and config.api_key.reveal() == "gsk-mine-1234"


def test_a_provider_named_like_a_preset_needs_no_table() -> None:
    manager = ai({"CEREBRAS_API_KEY": "csk-1234"})
    config = manager.provider_config("cerebras")  # -p cerebras
    assert (config.preset, config.base_url) == ("cerebras", "https://api.cerebras.ai/v1")
    with_table = ai({"CEREBRAS_API_KEY": "csk-1234"}, cerebras={"timeout": 9})
    assert with_table.provider_config("cerebras").preset == "cerebras"


def test_a_driver_key_means_no_implied_preset() -> None:
    manager = ai({"OPENAI_API_KEY": "sk-1234"}, groq={"driver": "openai"})
    config = manager.provider_config("groq")
    assert config.preset is None and config.base_url == "https://api.openai.com/v1"


def test_a_missing_key_names_the_presets_variable() -> None:
    with pytest.raises(ConfigurationError, match="set GROQ_API_KEY"):
        ai({}).provider_config("groq")


def test_unknown_preset_suggests_the_nearest() -> None:
    with pytest.raises(ConfigurationError, match="did you mean 'groq'") as info:
        ai({}, fast={"preset": "grok"}).provider_config("fast")
    assert "presets: azure" in str(info.value)
    with pytest.raises(ConfigurationError, match="preset must be a preset name"):
        ai({}, fast={"preset": 3}).provider_config("fast")


def test_driver_named_like_a_preset_says_to_write_preset() -> None:
    with pytest.raises(ConfigurationError, match='write preset = "mistral"'):
        ai({"MISTRAL_API_KEY": "m-1234"}, eu={"driver": "mistral"}).provider_config("eu")


def test_an_unavailable_preset_says_why() -> None:
    with pytest.raises(ConfigurationError, match="Sonar Chat Completions on 2026-09-27"):
        ai({"PERPLEXITY_API_KEY": "pplx-1234"}).provider_config("perplexity")
    assert ai({"PERPLEXITY_API_KEY": "pplx-1234"}).usable_providers() == []


def test_azure_needs_its_resource_url_and_sends_the_key_as_api_key() -> None:
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_ENDPOINT"):
        ai({"AZURE_OPENAI_API_KEY": "az-1234"}).provider_config("azure")
    env = {"AZURE_OPENAI_API_KEY": "az-1234",
           "AZURE_OPENAI_ENDPOINT": "https://acme.openai.azure.com/"}
    config = ai(env).provider_config("azure")
    assert config.base_url == "https://acme.openai.azure.com/openai/v1"
    assert config.option("auth_header") == "api-key"
    assert status(PRESETS["azure"], env) == (True, "ready ($AZURE_OPENAI_API_KEY)")
    deployments = ai(env, azure={
        "base_url": "https://acme.openai.azure.com/openai/deployments/gpt",
        "api_version": "2024-10-21"}).provider_config("azure")
    assert deployments.option("api_version") == "2024-10-21"


def test_local_servers_need_no_key_but_send_one_when_set() -> None:
    keyless = ai({}).provider_config("vllm")
    assert (keyless.base_url, keyless.api_key) == ("http://localhost:8000/v1", None)
    keyed = ai({"VLLM_API_KEY": "v-local-1234"}).provider_config("vllm")
    assert keyed.api_key is not None and keyed.api_key.reveal() == "v-local-1234"
    assert ai({}).provider_config("lmstudio").base_url == "http://localhost:1234/v1"
    assert ai({}).provider_config("llamacpp").base_url == "http://localhost:8080/v1"


def test_status_from_the_environment() -> None:
    assert status(PRESETS["groq"], {}) == (False, "set $GROQ_API_KEY")
    assert status(PRESETS["groq"], {"GROQ_API_KEY": "x"}) == (True, "ready ($GROQ_API_KEY)")
    assert status(PRESETS["vllm"], {}) == (False, "server needed (localhost:8000)")
    assert status(PRESETS["perplexity"], {"PERPLEXITY_API_KEY": "x"})[1].startswith(
        "unavailable:")


# -- which name wins -------------------------------------------------------------------------


@needs("groq")
def test_an_installed_driver_wins_over_the_preset_of_its_name() -> None:
    env = {"GROQ_API_KEY": "gsk-1234"}
    plain = AIManager(config_file=False, env=env, store={"enabled": False})
    config = plain.provider_config("groq")  # -p groq
    assert (config.driver, config.preset) == ("groq", None)
    assert type(plain.driver("groq").protocol).__name__ == "GroqProtocol"
    chosen = AIManager(config_file=False, env=env, store={"enabled": False},
                       providers={"groq": {"preset": "groq"}})
    config = chosen.provider_config("groq")  # preset = "groq" says so explicitly
    assert (config.driver, config.preset) == ("openai", "groq")
    assert type(chosen.driver("groq").protocol).__name__ == "PresetProtocol"


def test_without_the_driver_the_name_is_the_presets() -> None:
    manager = ai({"GROQ_API_KEY": "gsk-1234"})  # JTD_AI_PLUGINS hides an installed groq
    assert "groq" not in manager.registry.names()
    assert manager.provider_config("groq").preset == "groq"


# -- the openai driver's side ----------------------------------------------------------------


@needs("openai")
def test_a_presets_provider_prices_from_the_preset_never_from_openais_table() -> None:
    driver = ai({"GROQ_API_KEY": "gsk-1234"}).driver("groq")
    assert type(driver.protocol).__name__ == "PresetProtocol"
    price = driver.pricing("openai/gpt-oss-120b")
    assert price is not None and (price.input, price.output) == (Decimal("0.15"),
                                                                 Decimal("0.60"))
    assert price.source.startswith("console.groq.com") and price.as_of == dt.date(2026, 5, 19)
    assert driver.pricing("gpt-4o-mini") is None  # OpenAI's price is not Groq's
    plain = ai({"OPENAI_API_KEY": "sk-1234"}).driver("openai")
    assert type(plain.protocol).__name__ == "OpenAIProtocol"
    assert plain.pricing("gpt-4o-mini") is not None


@needs("openai")
def test_mistral_quirks_shape_the_request_body() -> None:
    from jtd_ai import ChatRequest, Message

    driver = ai({"MISTRAL_API_KEY": "m-1234"}).driver("mistral")
    request = ChatRequest.build([Message.user("hi")], "mistral-small-latest", seed=7)
    streamed = driver.protocol.chat_body(request, stream=True)  # type: ignore[attr-defined]
    assert "stream_options" not in streamed and streamed["stream"] is True
    assert streamed["random_seed"] == 7 and "seed" not in streamed


@needs("openai")
def test_compatibility_options_work_without_a_preset_and_are_checked() -> None:
    from jtd_ai import ChatRequest, Message

    manager = ai({}, local={"driver": "openai", "base_url": "http://127.0.0.1:9/v1",
                            "api_key_required": False, "omit_fields": ["seed"]})
    driver = manager.driver("local")
    assert type(driver.protocol).__name__ == "CompatibleProtocol"
    body = driver.protocol.chat_body(  # type: ignore[attr-defined]
        ChatRequest.build([Message.user("x")], "m", seed=1), stream=False)
    assert "seed" not in body
    bad = ai({}, local={"driver": "openai", "base_url": "http://127.0.0.1:9/v1",
                        "api_key_required": False, "omit_fields": ["model"]})
    with pytest.raises(ConfigurationError, match="omit_fields"):
        bad.driver("local")


# -- end to end against the fake provider server ----------------------------------------------


@needs("openai")
def test_a_preset_end_to_end(keyed_server: FakeProviderServer) -> None:
    keyed_server.requests.clear()
    manager = ai({"GROQ_API_KEY": KEY}, groq={"base_url": keyed_server.base_url("openai")})
    reply = manager.conversation().provider("groq").message("Hello from a preset").send()
    assert (reply.provider, reply.content) == ("groq", "echo: Hello from a preset")
    (sent,) = [r for r in keyed_server.requests if r.path == "/v1/chat/completions"]
    assert sent.json()["model"] == "openai/gpt-oss-120b"
    assert sent.headers["authorization"] == "Bearer [REDACTED]"
    usage = TokenUsage(input_tokens=reply.usage.input_tokens,
                       output_tokens=reply.usage.output_tokens)
    expected = (Decimal("0.15") * usage.input_tokens + Decimal("0.60") * usage.output_tokens
                ) / Decimal(1_000_000)
    assert reply.cost == expected
    manager.close()


@needs("openai")
def test_mistral_streams_end_to_end_without_stream_options(
        keyed_server: FakeProviderServer) -> None:
    keyed_server.requests.clear()
    manager = ai({"MISTRAL_API_KEY": KEY}, mistral={"base_url": keyed_server.base_url("openai")})
    chunks = "".join(c.delta for c in manager.conversation().provider("mistral")
                     .message("stream me").seed(3).stream())
    assert chunks == "echo: stream me"
    (sent,) = [r for r in keyed_server.requests if r.path == "/v1/chat/completions"]
    body = sent.json()
    assert body["stream"] is True and "stream_options" not in body
    assert body["random_seed"] == 3
    manager.close()


@needs("openai")
def test_azure_end_to_end_sends_the_api_key_header() -> None:
    with FakeProviderServer() as server:  # keyless: it accepts the api-key header
        manager = ai({"AZURE_OPENAI_API_KEY": "az-key-1234"}, azure={
            "base_url": server.base_url("openai"), "default_model": "my-deployment"})
        reply = manager.driver("azure").send_message("hi azure")
        assert reply.content == "echo: hi azure"
        (sent,) = [r for r in server.requests if r.path == "/v1/chat/completions"]
        assert sent.headers["api-key"] == "[REDACTED]" and "authorization" not in sent.headers
        assert sent.json()["model"] == "my-deployment"
        manager.close()


@needs("openai")
def test_dash_p_preset_on_the_command_line(shell: Shell, keyed_server: FakeProviderServer,
                                           tmp_path: Path) -> None:
    config = tmp_path / "jtd-ai.toml"
    config.write_text(f'[providers.groq]\nbase_url = "{keyed_server.base_url("openai")}"\n',
                      encoding="utf-8")
    env = {**ONLY_OPENAI, "GROQ_API_KEY": KEY, "JTD_AI_CONFIG": str(config)}
    result = shell("chat", "-p", "groq", "--json", "hi groq", env=env)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["provider"], data["model"], data["content"]) == (
        "groq", "openai/gpt-oss-120b", "echo: hi groq")
    assert Decimal(data["cost"]) > 0  # priced from the preset


@needs("openai")
def test_the_only_key_set_being_a_presets_makes_it_the_default(
        shell: Shell, keyed_server: FakeProviderServer, tmp_path: Path) -> None:
    config = tmp_path / "jtd-ai.toml"
    config.write_text(f'[providers.groq]\nbase_url = "{keyed_server.base_url("openai")}"\n',
                      encoding="utf-8")
    env = {**ONLY_OPENAI, "GROQ_API_KEY": KEY, "JTD_AI_CONFIG": str(config)}
    result = shell("chat", "no provider named", env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "echo: no provider named\n"


@needs("openai")
def test_a_local_preset_without_a_model_says_dash_m(shell: Shell) -> None:
    result = shell("chat", "-p", "vllm", "hi", env=ONLY_OPENAI)
    assert result.exit_code == 2
    assert "-m MODEL" in result.stderr and ".model(" not in result.stderr


# -- jtd-ai providers ------------------------------------------------------------------------


def test_providers_lists_presets_and_which_are_ready(shell: Shell) -> None:
    env = {**ONLY_OPENAI, "GROQ_API_KEY": "gsk-1234"}
    result = shell("providers", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    presets = {r["name"]: r for r in data["presets"]}
    assert set(REQUIRED) <= set(presets)
    assert presets["groq"]["ready"] is True and presets["groq"]["status"].startswith("ready")
    assert presets["mistral"]["ready"] is False
    assert presets["mistral"]["status"] == "set $MISTRAL_API_KEY"
    assert presets["vllm"]["local"] is True and "server needed" in presets["vllm"]["status"]
    assert presets["perplexity"]["status"].startswith("unavailable")
    assert data["default"] == "groq"  # the only key set
    rows = {r["name"]: r for r in data["providers"]}
    if installed("openai"):
        assert rows["groq"]["preset"] == "groq" and rows["groq"]["status"] == "ready"
    table = shell("providers", env=env)
    assert table.exit_code == 0
    assert 'preset = "NAME"' in table.stdout and "server needed" in table.stdout


@needs("groq")
def test_providers_says_when_a_driver_shadows_a_preset(shell: Shell) -> None:
    result = shell("providers", "--json", env={"GROQ_API_KEY": "gsk-1234"})
    presets = {r["name"]: r for r in json.loads(result.stdout)["presets"]}
    assert presets["groq"]["ready"] is False
    assert "driver 'groq' is installed" in presets["groq"]["status"]


def test_find() -> None:
    assert find("groq") is PRESETS["groq"] and find("nope") is None


def test_providers_reads_a_configured_presets_table(shell: Shell, tmp_path: Path) -> None:
    config = tmp_path / "jtd-ai.toml"
    config.write_text('[providers.azure]\nbase_url = "https://acme.openai.azure.com/openai/v1"\n'
                      '[providers.fast]\npreset = "cerebras"\n', encoding="utf-8")
    env = {**ONLY_OPENAI, "AZURE_OPENAI_API_KEY": "az-1234", "CEREBRAS_API_KEY": "c-1234",
           "JTD_AI_CONFIG": str(config)}
    result = shell("providers", "--json", env=env)
    data = json.loads(result.stdout)
    presets = {r["name"]: r for r in data["presets"]}
    assert presets["azure"]["ready"] is True
    assert presets["azure"]["status"] == "configured as [providers.azure]"
    if installed("openai"):
        rows = {r["name"]: r for r in data["providers"]}
        assert (rows["fast"]["preset"], rows["fast"]["status"]) == ("cerebras", "ready")
        assert rows["azure"]["base_url"] == "https://acme.openai.azure.com/openai/v1"
