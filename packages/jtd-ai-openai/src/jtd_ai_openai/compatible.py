"""OpenAI-compatible services that differ from OpenAI in small, declared ways.

Two driver options describe what a service refuses, so no subclass is needed for it:

- ``omit_fields = ["stream_options"]``: request fields never sent (Mistral answers an
  unknown field with 422, ``stream_options`` included);
- ``rename_fields = { seed = "random_seed" }``: fields sent under the service's own name.

Both apply to the finished request body, ``extra`` fields included. A provider built from a
preset (``preset = "groq"``, :mod:`jtd_ai.presets`) also leaves OpenAI's model facts and
price table aside: another service's prices come from its preset and the config, never
from OpenAI's table because a model id happens to match.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from jtd_ai.errors import ConfigurationError
from jtd_ai_openai.catalog import ModelTable, PriceTable
from jtd_ai_openai.options import OpenAIOptions
from jtd_ai_openai.protocol import OpenAIProtocol

if TYPE_CHECKING:
    from jtd_ai.config import ProviderConfig
    from jtd_ai.request import ChatRequest

__all__ = ["COMPAT_OPTIONS", "CompatibleProtocol", "PresetProtocol"]

#: The driver options this module adds to the openai driver's.
COMPAT_OPTIONS = frozenset({"omit_fields", "rename_fields"})
#: Fields a provider may not drop or rename: without them there is no request.
_ESSENTIAL = frozenset({"model", "messages", "stream"})


def _field_name(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{where} must be a request field name (a non-empty string)")
    if value in _ESSENTIAL:
        raise ConfigurationError(f"{where}: {value!r} is needed by every request and cannot "
                                 f"be omitted or renamed")
    return value


def _omitted(config: ProviderConfig) -> tuple[str, ...]:
    where = f"providers.{config.name}.omit_fields"
    value = config.option("omit_fields", [])
    if not isinstance(value, list | tuple):
        raise ConfigurationError(f"{where} must be a list of field names, e.g. "
                                 f"[\"stream_options\"]")
    return tuple(_field_name(where, v) for v in value)


def _renamed(config: ProviderConfig) -> dict[str, str]:
    where = f"providers.{config.name}.rename_fields"
    value = config.option("rename_fields", {})
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{where} must be a table of field = \"new name\", e.g. "
                                 f"{{ seed = \"random_seed\" }}")
    return {_field_name(where, k): _field_name(f"{where}.{k}", v) for k, v in value.items()}


class CompatibleProtocol(OpenAIProtocol):
    """Chat Completions for a service that refuses or renames some request fields."""

    config_options: ClassVar[frozenset[str] | None] = OpenAIOptions.KEYS | COMPAT_OPTIONS

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self.omit_fields = _omitted(config)
        self.rename_fields = _renamed(config)

    def chat_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = super().chat_body(request, stream=stream)
        for name in self.omit_fields:
            body.pop(name, None)
        for name, renamed in self.rename_fields.items():
            if name in body:
                body[renamed] = body.pop(name)
        return body


class PresetProtocol(CompatibleProtocol):
    """A provider built from a preset: OpenAI's model facts and prices do not apply."""

    model_table: ClassVar[ModelTable | None] = None
    price_table: ClassVar[PriceTable | None] = None
