"""jtd-ai driver for xAI (Grok): the OpenAI protocol with xAI's differences.

This module only registers the driver; :class:`jtd_ai_xai.protocol.XAIProtocol` (and with
it the OpenAI adapter) is imported the first time an xAI provider is built.

The environment is read as xAI's own SDK (``xai-sdk``) reads it: the key from
``XAI_API_KEY``. That SDK takes its host only as an argument, so there is no base-URL
variable here either (and ``OPENAI_*`` variables are not read): set ``base_url`` in the
config to reach xAI through a proxy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from jtd_ai.hookspecs import hookimpl

if TYPE_CHECKING:
    from jtd_ai.config import ProviderConfig
    from jtd_ai_xai.protocol import XAIProtocol

__all__ = ["XAIProtocol", "register_drivers"]

__version__ = "0.1.0"


def _factory(config: ProviderConfig) -> XAIProtocol:
    from jtd_ai_xai.protocol import XAIProtocol

    return XAIProtocol(config)


@hookimpl
def register_drivers(register: Any) -> None:
    """Register the ``xai`` driver."""
    register(
        "xai", _factory, api_key_env="XAI_API_KEY", default_base_url="https://api.x.ai/v1",
        default_model="grok-4-1-fast-reasoning", requires_api_key=True,
        description="xAI Grok models (OpenAI-compatible chat, xAI model listing and prices)",
    )


def __getattr__(name: str) -> Any:
    if name == "XAIProtocol":
        return importlib.import_module("jtd_ai_xai.protocol").XAIProtocol
    raise AttributeError(f"module 'jtd_ai_xai' has no attribute {name!r}")
