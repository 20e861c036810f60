"""OpenTelemetry GenAI spans for jtd-ai: a plugin on the ``wrap_call`` hook.

Installed, it is on: every chat call (streamed or not, sync or async, of every driver)
becomes one span following OpenTelemetry's GenAI semantic conventions, written to the
tracer provider the application set up. Configured under ``[plugins.otel]`` in jtd-ai.toml
(see :mod:`jtd_ai_otel.options`): ``record_content = true`` adds prompts and replies,
``enabled = false`` turns it off. To trace one manager only, or to a tracer provider of
your own, register :class:`OtelPlugin` yourself::

    ai.hooks.register(OtelPlugin(ai, tracer_provider=provider))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jtd_ai.manager import AIManager
    from jtd_ai_otel.options import OtelOptions
    from jtd_ai_otel.spans import OtelPlugin

__all__ = ["OtelOptions", "OtelPlugin", "plugin"]
__version__ = "0.1.0"


def plugin(manager: AIManager, options: Mapping[str, Any]) -> OtelPlugin:
    """The entry point's factory (group ``jtd_ai.plugins``): the plugin for ``manager``,
    configured by its ``[plugins.otel]`` table. Bad options are a ConfigurationError."""
    from jtd_ai_otel.options import OtelOptions
    from jtd_ai_otel.spans import OtelPlugin

    return OtelPlugin(manager, OtelOptions.parse(options, manager.env))


def __getattr__(name: str) -> Any:
    if name == "OtelPlugin":
        from jtd_ai_otel.spans import OtelPlugin

        return OtelPlugin
    if name == "OtelOptions":
        from jtd_ai_otel.options import OtelOptions

        return OtelOptions
    raise AttributeError(f"module 'jtd_ai_otel' has no attribute {name!r}")
