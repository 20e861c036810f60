"""Discovery: the entry point registers ``xai`` with its own defaults, cheaply."""

from __future__ import annotations

import subprocess
import sys

from jtd_ai import AIManager


def test_the_driver_is_listed_and_built_from_its_entry_point() -> None:
    manager = AIManager(config_file=False, env={"XAI_API_KEY": "k-123456"})
    listing = {d.name: d for d in manager.drivers()}
    assert (listing["xai"].distribution, listing["xai"].target) == ("jtd-ai-xai", "jtd_ai_xai")
    spec = manager.registry.spec("xai")
    assert (spec.api_key_env, spec.default_base_url) == ("XAI_API_KEY", "https://api.x.ai/v1")
    driver = manager.driver("xai")
    assert driver.get_name() == "xai"
    assert driver.config.base_url == "https://api.x.ai/v1"


def test_registering_imports_neither_adapter() -> None:
    code = ("import sys, jtd_ai_xai\n"
            "jtd_ai_xai.register_drivers(lambda *a, **k: None)\n"
            "print(sorted(m for m in sys.modules if m.startswith('jtd_ai_')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "['jtd_ai_xai']"
