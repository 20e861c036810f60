"""jtd-ai driver for DeepSeek's OpenAI-compatible API: the registration only, kept light."""

from __future__ import annotations

from typing import Any

from jtd_ai import hookimpl

__version__ = "0.1.0"


def _factory(config: Any) -> Any:
    from jtd_ai_deepseek.protocol import DeepSeekProtocol

    return DeepSeekProtocol(config)


@hookimpl
def register_drivers(register: Any) -> None:
    register("deepseek", _factory, api_key_env="DEEPSEEK_API_KEY",
             default_base_url="https://api.deepseek.com", default_model="deepseek-chat",
             description="DeepSeek (OpenAI-compatible; example third-party driver)")
