"""Each driver reads the environment as its provider's own SDK does: OpenAI's
``OPENAI_BASE_URL`` / ``OPENAI_ORG_ID`` / ``OPENAI_PROJECT_ID``, Google's ``GOOGLE_API_KEY``
before ``GEMINI_API_KEY`` and ``GOOGLE_GEMINI_BASE_URL``, xAI's ``XAI_API_KEY`` alone; and
never where the configuration says otherwise, nor for a provider of another service."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from cli_helpers import KEY, keyed_server_fixture, needs  # noqa: F401

from jtd_ai import AIManager, ConfigurationError
from jtd_ai.echo import EchoProtocol
from jtd_ai.testing.server import FakeProviderServer


class OpenOptions(EchoProtocol):
    """The echo driver, accepting any option (to see what the environment filled in)."""

    config_options: ClassVar[frozenset[str] | None] = None


def ai(env: dict[str, str], **providers: dict[str, Any]) -> AIManager:
    return AIManager(config_file=False, env=env, providers=providers or None,
                     store={"enabled": False})


# -- the mechanism, on any driver -------------------------------------------------------------


def test_a_driver_declares_its_sdks_variables() -> None:
    manager = ai({"ACME_URL": "http://acme.test:81/root/", "ACME_REGION": "eu-1",
                  "ACME_KEY": "acme-key-1234"})
    manager.extend("acme", OpenOptions, api_key_env="ACME_KEY", base_url_env="ACME_URL",
                   base_url_env_path="/v2", option_env={"region": "ACME_REGION"},
                   default_base_url="http://default.invalid", requires_api_key=True)
    config = manager.provider_config("acme")
    assert config.base_url == "http://acme.test:81/root/v2"  # the SDK's root + its version
    assert config.option("region") == "eu-1"
    assert config.api_key is not None and config.api_key.reveal() == "acme-key-1234"


def test_the_configuration_wins_over_the_variables() -> None:
    manager = ai({"ACME_URL": "http://acme.test", "ACME_REGION": "eu-1"},
                 acme={"base_url": "http://mine.test/v9", "region": "us-2"})
    manager.extend("acme", OpenOptions, base_url_env="ACME_URL", base_url_env_path="/v2",
                   option_env={"region": "ACME_REGION"}, default_base_url="http://d.invalid")
    config = manager.provider_config("acme")
    assert (config.base_url, config.option("region")) == ("http://mine.test/v9", "us-2")


def test_an_empty_variable_counts_as_unset() -> None:
    manager = ai({"ACME_URL": "", "ACME_REGION": ""})
    manager.extend("acme", OpenOptions, base_url_env="ACME_URL",
                   option_env={"region": "ACME_REGION"}, default_base_url="http://d.invalid")
    config = manager.provider_config("acme")
    assert config.base_url == "http://d.invalid" and "region" not in config.options


def test_a_bad_base_url_variable_is_named_in_the_error() -> None:
    manager = ai({"ACME_URL": "ftp://files.test"})
    manager.extend("acme", OpenOptions, base_url_env="ACME_URL", default_base_url="http://d")
    with pytest.raises(ConfigurationError, match=r"\$ACME_URL"):
        manager.provider_config("acme")


# -- OpenAI ----------------------------------------------------------------------------------


@needs("openai")
def test_openai_reads_the_official_sdks_variables() -> None:
    manager = ai({"OPENAI_API_KEY": "sk-env-1234", "OPENAI_BASE_URL": "http://vllm.test:8000/v1",
                  "OPENAI_ORG_ID": "org-abc", "OPENAI_PROJECT_ID": "proj_xyz"})
    driver = manager.driver("openai")
    assert driver.config.base_url == "http://vllm.test:8000/v1"
    headers = driver.protocol.auth_headers()
    assert headers["OpenAI-Organization"] == "org-abc"
    assert headers["OpenAI-Project"] == "proj_xyz"
    assert headers["Authorization"] == "Bearer sk-env-1234"


@needs("openai")
def test_openai_config_wins_over_its_variables() -> None:
    manager = ai({"OPENAI_API_KEY": "sk-env-1234", "OPENAI_BASE_URL": "http://vllm.test/v1",
                  "OPENAI_ORG_ID": "org-env"},
                 openai={"base_url": "https://gateway.test/v1", "organization": "org-file"})
    driver = manager.driver("openai")
    assert driver.config.base_url == "https://gateway.test/v1"
    assert driver.protocol.auth_headers()["OpenAI-Organization"] == "org-file"
    assert "OpenAI-Project" not in driver.protocol.auth_headers()


@needs("openai")
def test_openai_base_url_reaches_the_server(keyed_server: FakeProviderServer) -> None:
    keyed_server.requests.clear()
    manager = ai({"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": keyed_server.base_url("openai"),
                  "OPENAI_PROJECT_ID": "proj_fake"})
    reply = manager.driver("openai").send_message("over the variable")
    assert reply.content == "echo: over the variable"
    (sent,) = [r for r in keyed_server.requests if r.path == "/v1/chat/completions"]
    assert sent.headers["openai-project"] == "proj_fake"
    manager.close()


@needs("openai")
def test_other_providers_on_the_openai_driver_read_openai_variables_as_the_sdk_does() -> None:
    manager = ai({"OPENAI_API_KEY": "sk-env-1234", "OPENAI_BASE_URL": "http://proxy.test/v1"},
                 work={"driver": "openai"})
    assert manager.provider_config("work").base_url == "http://proxy.test/v1"


@needs("openai")
def test_a_presets_provider_never_reads_openai_variables() -> None:
    manager = ai({"OPENAI_API_KEY": "sk-env-1234", "OPENAI_BASE_URL": "http://proxy.test/v1",
                  "OPENAI_ORG_ID": "org-env", "JTD_AI_PLUGINS": "openai,echo"},
                 fast={"preset": "groq"})
    with pytest.raises(ConfigurationError, match="GROQ_API_KEY"):
        manager.provider_config("fast")  # OPENAI_API_KEY is not Groq's key
    keyed = ai({"OPENAI_BASE_URL": "http://proxy.test/v1", "OPENAI_ORG_ID": "org-env",
                "GROQ_API_KEY": "gsk-1234", "JTD_AI_PLUGINS": "openai,echo"},
               fast={"preset": "groq"})
    driver = keyed.driver("fast")
    assert driver.config.base_url == "https://api.groq.com/openai/v1"
    assert "OpenAI-Organization" not in driver.protocol.auth_headers()


# -- Gemini ----------------------------------------------------------------------------------


@needs("gemini")
def test_gemini_prefers_google_api_key_as_googles_sdk_does() -> None:
    both = ai({"GOOGLE_API_KEY": "google-1234", "GEMINI_API_KEY": "gemini-1234"})
    config = both.provider_config("gemini")
    assert config.api_key is not None and config.api_key.reveal() == "google-1234"
    assert config.api_key_env == "GOOGLE_API_KEY"
    one = ai({"GEMINI_API_KEY": "gemini-1234"}).provider_config("gemini")
    assert one.api_key is not None and one.api_key.reveal() == "gemini-1234"
    with pytest.raises(ConfigurationError, match="GOOGLE_API_KEY or GEMINI_API_KEY"):
        ai({}).provider_config("gemini")


@needs("gemini")
def test_gemini_base_url_variable_is_a_root_the_api_version_joins(
        keyed_server: FakeProviderServer) -> None:
    manager = ai({"GEMINI_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": keyed_server.url})
    driver = manager.driver("gemini")
    assert driver.config.base_url == keyed_server.base_url("gemini")  # .../v1beta
    assert driver.send_message("hello gemini").content == "echo: hello gemini"
    manager.close()


# -- xAI and Ollama --------------------------------------------------------------------------


@needs("xai")
def test_xai_reads_its_key_and_no_base_url_variable() -> None:
    manager = ai({"XAI_API_KEY": "xai-key-1234", "OPENAI_BASE_URL": "http://proxy.test/v1",
                  "XAI_BASE_URL": "http://not-read.test/v1", "OPENAI_ORG_ID": "org-env"})
    driver = manager.driver("xai")
    assert driver.config.base_url == "https://api.x.ai/v1"
    assert driver.protocol.auth_headers() == {"Authorization": "Bearer xai-key-1234"}


@needs("ollama")
def test_ollama_host_is_still_read() -> None:
    config = ai({"OLLAMA_HOST": "gpu-box"}).provider_config("ollama")
    assert config.base_url == "http://gpu-box:11434"
