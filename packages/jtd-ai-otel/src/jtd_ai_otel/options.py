"""The ``[plugins.otel]`` table of jtd-ai.toml, checked when the plugin loads.

``record_content`` (bool, default false) records prompts, replies and tool definitions on
the spans; when the table leaves it unset, the variable OpenTelemetry's own GenAI
instrumentations read decides (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``).
``provider_names`` (a table of provider name to value) overrides ``gen_ai.provider.name``
for some providers, e.g. a self-hosted OpenAI-compatible server. ``enabled`` is the core's.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from attrs import frozen

from jtd_ai.errors import ConfigurationError

__all__ = ["CAPTURE_VARIABLE", "OtelOptions"]

#: The variable OpenTelemetry's GenAI instrumentations read to record message content.
CAPTURE_VARIABLE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
#: Its values that record content on spans (the others, ``false``/``no_content``/
#: ``event_only``, do not).
_CAPTURE_ON = frozenset({"true", "span_only", "span_and_event"})
_KNOWN = ("enabled", "provider_names", "record_content")


@frozen
class OtelOptions:
    """What the plugin does beyond the defaults."""

    record_content: bool = False
    provider_names: Mapping[str, str] = MappingProxyType({})

    @classmethod
    def parse(cls, options: Mapping[str, Any], env: Mapping[str, str]) -> OtelOptions:
        """The options of ``[plugins.otel]``, or a ConfigurationError naming the key that is
        unknown or of the wrong type."""
        unknown = sorted(set(options) - set(_KNOWN))
        if unknown:
            raise ConfigurationError(
                f"[plugins.otel] has no option {unknown[0]!r}; its options are "
                f"{', '.join(_KNOWN)}")
        record = options.get("record_content")
        if record is None:
            record = env.get(CAPTURE_VARIABLE, "").strip().lower() in _CAPTURE_ON
        elif not isinstance(record, bool):
            raise ConfigurationError(
                f"[plugins.otel] record_content must be true or false, not {record!r}")
        names = options.get("provider_names", {})
        if not isinstance(names, Mapping) or not all(
                isinstance(key, str) and isinstance(value, str) and value
                for key, value in names.items()):
            raise ConfigurationError(
                "[plugins.otel] provider_names must be a table of provider names to "
                "gen_ai.provider.name values, e.g. provider_names = { local = \"vllm\" }")
        return cls(record_content=record, provider_names=MappingProxyType(dict(names)))
