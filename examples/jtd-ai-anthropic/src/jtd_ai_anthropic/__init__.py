"""jtd-ai driver for Anthropic's Messages API: the registration only, kept light."""

from __future__ import annotations

from typing import Any

from jtd_ai import hookimpl

__version__ = "0.1.0"


def _factory(config: Any) -> Any:
    from jtd_ai_anthropic.protocol import AnthropicProtocol

    return AnthropicProtocol(config)


@hookimpl
def register_drivers(register: Any) -> None:
    register("anthropic", _factory, api_key_env="ANTHROPIC_API_KEY",
             default_base_url="https://api.anthropic.com/v1", default_model="claude-haiku-4-5",
             description="Anthropic Messages API (example third-party driver)")
