"""jtd-ai driver for OpenAI Chat Completions and OpenAI-compatible endpoints.

This module only registers the driver, so discovering plugins stays cheap: the protocol
adapter (:class:`jtd_ai_openai.protocol.OpenAIProtocol`) is imported the first time a
provider using this driver is built, or when it is named from here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from jtd_ai.hookspecs import hookimpl

if TYPE_CHECKING:
    from jtd_ai.config import ProviderConfig
    from jtd_ai_openai.protocol import OpenAIProtocol

__all__ = ["OpenAIProtocol", "register_drivers"]

__version__ = "0.1.0"


def _factory(config: ProviderConfig) -> OpenAIProtocol:
    from jtd_ai_openai.protocol import OpenAIProtocol

    return OpenAIProtocol(config)


@hookimpl
def register_drivers(register: Any) -> None:
    """Register the ``openai`` driver."""
    register(
        "openai", _factory, api_key_env="OPENAI_API_KEY",
        default_base_url="https://api.openai.com/v1", default_model="gpt-4o-mini",
        requires_api_key=True,
        description="OpenAI Chat Completions; also any OpenAI-compatible endpoint",
    )


def __getattr__(name: str) -> Any:
    # Lazy, so `from jtd_ai_openai import OpenAIProtocol` works for subclassers without
    # making plugin discovery import the adapter.
    if name == "OpenAIProtocol":
        return importlib.import_module("jtd_ai_openai.protocol").OpenAIProtocol
    raise AttributeError(f"module 'jtd_ai_openai' has no attribute {name!r}")
