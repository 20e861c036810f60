"""The example driver runs jtd-ai's conformance kit, as any published driver should."""

from __future__ import annotations

from anthropic_samples import SAMPLES

from jtd_ai.testing import DriverConformanceTests


class TestAnthropicConformance(DriverConformanceTests):
    driver = "anthropic"
    model = "claude-haiku-4-5"
    settings = {"api_key": "anthropic-test-key-000001"}
    samples = SAMPLES
    live_env = ("ANTHROPIC_API_KEY",)
    unsupported_options = {"seed": "the Messages API has no seed"}
