"""jtd-ai driver for OpenAI Chat Completions and OpenAI-compatible endpoints.

This module only registers the driver, so discovering plugins stays cheap: the protocol
adapter (:class:`jtd_ai_openai.protocol.OpenAIProtocol`) is imported the first time a
provider using this driver is built, or when it is named from here.

The environment is read as the official ``openai`` SDK reads it: ``OPENAI_API_KEY``,
``OPENAI_BASE_URL``, ``OPENAI_ORG_ID`` (``OpenAI-Organization``) and ``OPENAI_PROJECT_ID``
(``OpenAI-Project``), each only where the provider's configuration leaves it unset. A
provider built from a preset (Groq, Mistral, ...) reads the preset's variables instead.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from jtd_ai.hookspecs import hookimpl

if TYPE_CHECKING:
    from jtd_ai.config import ProviderConfig
    from jtd_ai_openai.catalog import ModelFacts, ModelTable, Price, PriceTable
    from jtd_ai_openai.compatible import CompatibleProtocol, PresetProtocol
    from jtd_ai_openai.errors import ErrorFields
    from jtd_ai_openai.protocol import OpenAIProtocol
    from jtd_ai_openai.wire import Usage

#: The API for drivers built on this one: the protocol to subclass, its price and model
#: tables, and the types its hooks take (``token_usage(usage, raw)``,
#: ``classify_error(response, fields)``).
__all__ = ["CompatibleProtocol", "ErrorFields", "ModelFacts", "ModelTable", "OpenAIProtocol",
           "PresetProtocol", "Price", "PriceTable", "Usage", "register_drivers"]
_LAZY = {"OpenAIProtocol": "protocol", "PriceTable": "catalog", "Price": "catalog",
         "ModelTable": "catalog", "ModelFacts": "catalog", "ErrorFields": "errors",
         "Usage": "wire", "CompatibleProtocol": "compatible", "PresetProtocol": "compatible"}
#: Options of :mod:`jtd_ai_openai.compatible` (kept here so choosing needs no import).
_COMPAT_OPTIONS = ("omit_fields", "rename_fields")

__version__ = "0.1.0"


def _factory(config: ProviderConfig) -> OpenAIProtocol:
    """OpenAI's protocol; for a preset's provider, or one that omits or renames request
    fields, its compatible form (:mod:`jtd_ai_openai.compatible`)."""
    if getattr(config, "preset", None) is not None:
        from jtd_ai_openai.compatible import PresetProtocol

        return PresetProtocol(config)
    if any(key in config.options for key in _COMPAT_OPTIONS):
        from jtd_ai_openai.compatible import CompatibleProtocol

        return CompatibleProtocol(config)
    from jtd_ai_openai.protocol import OpenAIProtocol

    return OpenAIProtocol(config)


@hookimpl
def register_drivers(register: Any) -> None:
    """Register the ``openai`` driver, with the official SDK's environment variables."""
    register(
        "openai", _factory, api_key_env="OPENAI_API_KEY", base_url_env="OPENAI_BASE_URL",
        option_env={"organization": "OPENAI_ORG_ID", "project": "OPENAI_PROJECT_ID"},
        default_base_url="https://api.openai.com/v1", default_model="gpt-4o-mini",
        requires_api_key=True,
        description="OpenAI Chat Completions; also any OpenAI-compatible endpoint",
    )


def __getattr__(name: str) -> Any:
    # Lazy, so `from jtd_ai_openai import OpenAIProtocol` works for subclassers without
    # making plugin discovery import the adapter.
    module = _LAZY.get(name)
    if module is not None:
        return getattr(importlib.import_module(f"jtd_ai_openai.{module}"), name)
    raise AttributeError(f"module 'jtd_ai_openai' has no attribute {name!r}")
