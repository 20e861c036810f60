"""jtd-ai driver for Groq's OpenAI-compatible API: the registration only, kept light."""

from __future__ import annotations

from typing import Any

from jtd_ai import hookimpl

__version__ = "0.1.0"


def _factory(config: Any) -> Any:
    from jtd_ai_groq.protocol import GroqProtocol

    return GroqProtocol(config)


@hookimpl
def register_drivers(register: Any) -> None:
    register("groq", _factory, api_key_env="GROQ_API_KEY",
             default_base_url="https://api.groq.com/openai/v1",
             default_model="llama-3.1-8b-instant",
             description="Groq (OpenAI-compatible; example third-party driver)")
