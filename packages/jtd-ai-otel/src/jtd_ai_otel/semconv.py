"""The OpenTelemetry GenAI semantic conventions this package writes: attribute names, and the
well-known values jtd-ai's drivers and finish reasons map to.

The names are the conventions' own (``gen_ai.*``, ``server.*``, ``error.type``), written out
here rather than imported from ``opentelemetry-semantic-conventions``: that package is
pre-release and moves faster than this one, and the plugin depends on ``opentelemetry-api``
only. What the conventions have no name for is under ``jtd_ai.*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

__all__ = ["WELL_KNOWN_PROVIDERS", "provider_name", "server_of"]

OPERATION_NAME: Final = "gen_ai.operation.name"
PROVIDER_NAME: Final = "gen_ai.provider.name"
CONVERSATION_ID: Final = "gen_ai.conversation.id"
OUTPUT_TYPE: Final = "gen_ai.output.type"

REQUEST_MODEL: Final = "gen_ai.request.model"
REQUEST_STREAM: Final = "gen_ai.request.stream"
REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
REQUEST_TOP_P: Final = "gen_ai.request.top_p"
REQUEST_TOP_K: Final = "gen_ai.request.top_k"
REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
REQUEST_SEED: Final = "gen_ai.request.seed"
REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"

RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_ID: Final = "gen_ai.response.id"
RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"

USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"

#: Opt-in content (``record_content = true``), JSON strings in the conventions' schemas.
INPUT_MESSAGES: Final = "gen_ai.input.messages"
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"

SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"

#: jtd-ai's own: the configured provider's name (``gen_ai.provider.name`` is the vendor's
#: well-known value), the provider that answered when it was another one (a fallback), the
#: provider's request id, a reply from jtd-ai's reply cache, and the cost in US dollars.
JTD_PROVIDER: Final = "jtd_ai.provider"
JTD_RESPONSE_PROVIDER: Final = "jtd_ai.response.provider"
JTD_REQUEST_ID: Final = "jtd_ai.request_id"
JTD_CACHED: Final = "jtd_ai.response.cached"
JTD_COST: Final = "jtd_ai.usage.cost"

#: ``gen_ai.operation.name`` of a chat call, streamed or not.
CHAT: Final = "chat"

#: jtd-ai's drivers and presets and the conventions' well-known ``gen_ai.provider.name``
#: values: the Gemini driver talks to the AI Studio endpoint
#: (``generativelanguage.googleapis.com``), which the conventions call ``gcp.gemini``. A
#: driver or preset not listed keeps its own name (``ollama``, ``openrouter``, ``vllm``).
WELL_KNOWN_PROVIDERS: Final[Mapping[str, str]] = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "xai": "x_ai",
    "gemini": "gcp.gemini",
    "anthropic": "anthropic",
    "deepseek": "deepseek",
    "groq": "groq",
    "mistral": "mistral_ai",
    "cohere": "cohere",
    "perplexity": "perplexity",
}
#: Hosts whose OpenAI-compatible endpoint the conventions name apart from OpenAI.
_AZURE_OPENAI_HOSTS: Final = (".openai.azure.com", ".services.ai.azure.com")


def provider_name(driver: str, preset: str | None, host: str | None) -> str:
    """The ``gen_ai.provider.name`` of a call through ``driver`` (built from ``preset``, if
    any) to ``host``: the well-known value where one applies (Azure OpenAI also by its host),
    else the preset's or the driver's name."""
    if driver == "openai" and host is not None and host.endswith(_AZURE_OPENAI_HOSTS):
        return "azure.ai.openai"
    name = preset or driver
    return WELL_KNOWN_PROVIDERS.get(name, name)


_DEFAULT_PORTS: Final = {"https": 443, "http": 80}


def server_of(base_url: str | None) -> tuple[str, int] | None:
    """``(server.address, server.port)`` of a provider's base URL, the port the scheme's
    default when the URL names none; None for a URL without a host."""
    if not base_url:
        return None
    try:
        parts = urlsplit(base_url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    if port is None:
        port = _DEFAULT_PORTS.get(parts.scheme.lower())
        if port is None:
            return None
    return host, port
