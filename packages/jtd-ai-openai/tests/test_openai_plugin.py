"""Discovery: the entry point registers ``openai`` and loading it stays cheap."""

from __future__ import annotations

import subprocess
import sys

from jtd_ai import AIManager


def test_the_driver_is_listed_and_built_from_its_entry_point() -> None:
    manager = AIManager(config_file=False, env={"OPENAI_API_KEY": "k-123456"})
    listing = {d.name: d for d in manager.drivers()}
    assert listing["openai"].distribution == "jtd-ai-openai"
    assert listing["openai"].target == "jtd_ai_openai"
    spec = manager.registry.spec("openai")
    assert (spec.api_key_env, spec.default_base_url, spec.default_model) == (
        "OPENAI_API_KEY", "https://api.openai.com/v1", "gpt-4o-mini")
    driver = manager.driver("openai")
    assert driver.get_name() == "openai"
    assert type(driver.protocol).__name__ == "OpenAIProtocol"


def test_a_second_provider_on_the_same_driver() -> None:
    manager = AIManager(config_file=False, env={"AZURE_KEY": "k-azure-1"}, providers={
        "azure": {"driver": "openai", "api_key_env": "AZURE_KEY",
                  "base_url": "https://acme.openai.azure.com/openai/v1",
                  "auth_header": "api-key", "default_model": "my-gpt-4o-deployment"},
    })
    driver = manager.driver("azure")
    assert driver.provider == "azure"
    assert driver.protocol.auth_headers() == {"api-key": "k-azure-1"}


def test_registering_does_not_import_the_adapter() -> None:
    code = ("import sys, jtd_ai_openai\n"
            "jtd_ai_openai.register_drivers(lambda *a, **k: None)\n"
            "print(sorted(m for m in sys.modules if m.startswith('jtd_ai_openai')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "['jtd_ai_openai']"
