"""What the OpenTelemetry plugin's tests share: the key the fake server accepts, each
driver's model there, and a tracer provider writing to the SDK's in-memory exporter."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from jtd_ai.plugins import plugin_listings

__all__ = ["API_KEY", "MODELS", "SCOPE", "Tracing", "attributes", "installed_off"]

#: The key the fake server accepts; no span may show it.
API_KEY = "sk-otel-test-secret-7b2e"
#: The plugin's instrumentation scope.
SCOPE = "jtd_ai_otel"
#: Each driver's model on the fake server.
MODELS = {"openai": "gpt-4o-mini", "xai": "grok-4", "gemini": "gemini-2.5-flash",
          "ollama": "llama3.2:latest"}


class Tracing:
    """A tracer provider of the test's own, writing every finished span to memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("otel-tests-app")

    def spans(self) -> list[ReadableSpan]:
        """The plugin's finished spans, in the order they ended."""
        return [span for span in self.exporter.get_finished_spans()
                if span.instrumentation_scope is not None
                and span.instrumentation_scope.name == SCOPE]

    def span(self) -> ReadableSpan:
        """The one span the plugin wrote."""
        [span] = self.spans()
        return span


def attributes(span: ReadableSpan) -> dict[str, Any]:
    """The span's attributes, sequences as lists (the SDK keeps them as tuples)."""
    return {key: list(value) if isinstance(value, tuple) else value
            for key, value in (span.attributes or {}).items()}


def installed_off() -> dict[str, dict[str, Any]]:
    """``[plugins]`` tables turning off every installed call plugin (this one included): a
    test's manager then runs only the plugins the test registers itself."""
    return {p.name: {"enabled": False} for p in plugin_listings() if p.distribution}
