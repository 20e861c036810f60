"""jtd-ai driver for Ollama's native ``/api`` protocol (a local server, or ollama.com).

Importing this module only registers the driver: the protocol adapter is imported the first
time an ``ollama`` provider is built. ``OllamaProtocol`` and the model-detail helpers
(``show_model``, ``detailed_models``, ``running_models``, ``server_version`` and their
``a``-prefixed async forms) are importable from here and load on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from jtd_ai.hookspecs import hookimpl

if TYPE_CHECKING:
    from jtd_ai.config import ProviderConfig
    from jtd_ai_ollama.details import (
        adetailed_models,
        arunning_models,
        aserver_version,
        ashow_model,
        detailed_models,
        running_models,
        server_version,
        show_model,
    )
    from jtd_ai_ollama.protocol import OllamaProtocol

__all__ = [
    "DEFAULT_BASE_URL",
    "OllamaProtocol",
    "adetailed_models",
    "arunning_models",
    "aserver_version",
    "ashow_model",
    "detailed_models",
    "register_drivers",
    "running_models",
    "server_version",
    "show_model",
]

DEFAULT_BASE_URL = "http://localhost:11434"

_DETAILS = (
    "show_model", "ashow_model", "detailed_models", "adetailed_models", "running_models",
    "arunning_models", "server_version", "aserver_version",
)
_LAZY = {"OllamaProtocol": "protocol"} | dict.fromkeys(_DETAILS, "details")


def _factory(config: ProviderConfig) -> OllamaProtocol:
    """Build the protocol adapter, importing it only now."""
    from jtd_ai_ollama.protocol import OllamaProtocol

    return OllamaProtocol(config)


@hookimpl
def register_drivers(register: Any) -> None:
    """Register the ``ollama`` driver: no key needed; ``OLLAMA_HOST`` names the server."""
    register(
        "ollama", _factory, api_key_env="OLLAMA_API_KEY", base_url_env="OLLAMA_HOST",
        default_base_url=DEFAULT_BASE_URL, requires_api_key=False, default_port=11434,
        description="Ollama native API (/api/chat), local or ollama.com",
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jtd_ai_ollama' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"jtd_ai_ollama.{module}"), name)
    globals()[name] = value
    return value
