"""jtd-ai driver for Google's Gemini API (the Generative Language API, ``v1beta``).

Importing this module only registers the driver: the protocol adapter, its wire types and
price table are imported the first time a ``gemini`` provider is built. ``GeminiProtocol``,
``count_tokens`` and ``acount_tokens`` are importable from here and load on first access.

The environment is read as Google's ``google-genai`` SDK reads it: the key from
``GOOGLE_API_KEY``, else ``GEMINI_API_KEY`` (the SDK prefers ``GOOGLE_API_KEY`` when both are
set), and ``GOOGLE_GEMINI_BASE_URL`` as the API's root, to which the SDK's API version
(``/v1beta``) is added. Vertex AI (``GOOGLE_GENAI_USE_VERTEXAI``) is not served by this driver.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from jtd_ai.hookspecs import hookimpl

if TYPE_CHECKING:
    from jtd_ai.config import ProviderConfig
    from jtd_ai_gemini.protocol import GeminiProtocol
    from jtd_ai_gemini.tokens import acount_tokens, count_tokens

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "GeminiProtocol",
    "acount_tokens",
    "count_tokens",
    "register_drivers",
]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
DEFAULT_MODEL = "gemini-2.5-flash"

_LAZY = {"GeminiProtocol": "protocol", "count_tokens": "tokens", "acount_tokens": "tokens"}


def _factory(config: ProviderConfig) -> GeminiProtocol:
    """Build the protocol adapter, importing it only now."""
    from jtd_ai_gemini.protocol import GeminiProtocol

    return GeminiProtocol(config)


@hookimpl
def register_drivers(register: Any) -> None:
    """Register the ``gemini`` driver."""
    register(
        "gemini", _factory, api_key_env=("GOOGLE_API_KEY", "GEMINI_API_KEY"),
        base_url_env="GOOGLE_GEMINI_BASE_URL", base_url_env_path="/v1beta",
        default_base_url=DEFAULT_BASE_URL,
        default_model=DEFAULT_MODEL, requires_api_key=True,
        description="Google Gemini API (generateContent, native protocol)",
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jtd_ai_gemini' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"jtd_ai_gemini.{module}"), name)
    globals()[name] = value
    return value
