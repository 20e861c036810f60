"""Provider presets: an OpenAI-compatible service in one line, with no code.

A preset names what a service needs and the openai driver does not know: its base URL,
the variable holding its key, a current model, the request fields it rejects, and its
prices where the service publishes one price per token. Use one by name::

    [providers.groq]
    preset = "groq"          # or nothing at all: `-p groq` with GROQ_API_KEY set

    [providers.fast]
    preset = "groq"
    default_model = "openai/gpt-oss-20b"   # your keys win over the preset's

or from code: ``AI.conversation().provider("groq")``.

How a preset applies (:func:`preset_values`): it fills the keys the provider's table does
not set, so the table always wins; its ``prices`` are merged model by model under the
table's. The key and base-URL variables are the preset's, not the driver's: a groq
provider never reads ``OPENAI_API_KEY``, ``OPENAI_BASE_URL`` or ``OPENAI_ORG_ID``.

Which name wins: an explicit ``preset = "NAME"`` is that preset; otherwise a provider
named like an installed driver is that driver (the example package ``jtd-ai-groq``
registers a driver named ``groq``, and then ``-p groq`` uses it); otherwise a provider
named like a preset, with no ``driver`` key, is that preset.

Each entry says where its facts come from and when they were read (the stored copies of
the pages named, read on 2026-12-04 unless a date says otherwise). Prices are left out
where the service publishes none per token, or prices by time of day or by provider
(DeepSeek, OpenRouter, ...): a price that is sometimes wrong is worse than none. Set your
own under ``[providers.NAME.prices."model"]``.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from attrs import field, frozen

__all__ = ["PRESETS", "Preset", "find", "key_set", "names", "preset_values", "status"]


def _frozen_map(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


@frozen(kw_only=True)
class Preset:
    """One service: how the openai driver (or another) reaches it."""

    name: str
    #: The service's own name, for tables and messages.
    title: str
    #: The driver that speaks its protocol.
    driver: str = "openai"
    #: The base URL; None when each user has their own (Azure: the resource's URL).
    base_url: str | None = None
    #: Variables holding the key, tried in order.
    api_key_env: tuple[str, ...] = ()
    #: False for local servers, which take a key only when started with one.
    requires_api_key: bool = True
    #: A variable holding the base URL, and a path added to it.
    base_url_env: str | None = None
    base_url_env_path: str = ""
    default_model: str | None = None
    #: The port of a local server (vLLM 8000, LM Studio 1234, llama.cpp's server 8080).
    default_port: int | None = None
    #: Keys of the provider table the preset sets unless the table does: driver options
    #: (``auth_header``, ``omit_fields``, ...) and core ones.
    options: Mapping[str, Any] = field(factory=dict, converter=_frozen_map)
    #: ``{"model": {"input": ..., "output": ..., "source": ..., "as_of": date}}``.
    prices: Mapping[str, Mapping[str, Any]] = field(factory=dict, converter=_frozen_map)
    #: What differs from OpenAI, in a sentence each (shown in the docs).
    quirks: tuple[str, ...] = ()
    #: What a user must supply beyond the key (Azure: the resource URL).
    setup: str = ""
    #: The service's page on OpenAI compatibility.
    docs: str = ""
    #: Why the preset cannot be used now, if it cannot (a retired endpoint).
    unavailable: str | None = None

    @property
    def local(self) -> bool:
        """A server you run yourself (no key needed)."""
        return not self.requires_api_key


_READ = dt.date(2026, 12, 4)

PRESETS: Mapping[str, Preset] = MappingProxyType({p.name: p for p in (
    # console.groq.com/docs/openai (base URL, GROQ_API_KEY, the fields answered with 400,
    # n = 1, temperature 0 -> 1e-8). Model: Groq shut llama-3.3-70b-versatile down on
    # 2026-08-16 and names gpt-oss-120b its replacement (console.groq.com/docs/deprecations,
    # as quoted in github.com/codedaily04/commit-craft/issues/1). Price: the models page and
    # groq.com/pricing, $0.15 / $0.60, as quoted in braintrust-proxy issues #479 and #925
    # and merged in braintrust-proxy PR #576 on 2026-05-19.
    Preset(
        name="groq", title="Groq", base_url="https://api.groq.com/openai/v1",
        api_key_env=("GROQ_API_KEY",), default_model="openai/gpt-oss-120b",
        prices={"openai/gpt-oss-120b": {
            "input": "0.15", "output": "0.60", "as_of": dt.date(2026, 5, 19),
            "source": "console.groq.com/docs/models and groq.com/pricing"}},
        quirks=("logprobs, top_logprobs, logit_bias and messages[].name are answered with "
                "400", "n must be 1", "temperature 0 is sent on as 1e-8"),
        docs="https://console.groq.com/docs/openai"),
    # api-docs.deepseek.com/quick_start/pricing (base URL in OpenAI format; "use
    # deepseek-flash as the model name", served by DeepSeek-V4.1-Flash-1017; peak and
    # off-peak prices, off-peak half of peak, so no single price per token); DEEPSEEK_API_KEY
    # as in DeepSeek's examples. deepseek-chat and deepseek-reasoner were retired after
    # 2026-07-24 (github.com/arikusi/deepseek-mcp-server release v2.0.0).
    Preset(
        name="deepseek", title="DeepSeek", base_url="https://api.deepseek.com",
        api_key_env=("DEEPSEEK_API_KEY",), default_model="deepseek-flash",
        quirks=("prices differ at peak and off-peak hours (off-peak is half), so none is "
                "set: add your own under [providers.deepseek.prices]",
                "in thinking mode a tool loop must send reasoning_content back, which the "
                "openai driver does not; the example driver examples/jtd-ai-deepseek does",
                "402 means the balance is spent"),
        docs="https://api-docs.deepseek.com"),
    # docs.mistral.ai (base URL, MISTRAL_API_KEY, the -latest aliases); request bodies are
    # validated strictly: an unknown field is a 422 "extra_forbidden"
    # (github.com/mistralai/platform-docs-public/issues/7); the seed is `random_seed`, and
    # `stream_options` is refused (github.com/posit-dev/chatlas/pull/145, 2025-08-14).
    # No per-token price from Mistral's own pages could be read.
    Preset(
        name="mistral", title="Mistral AI", base_url="https://api.mistral.ai/v1",
        api_key_env=("MISTRAL_API_KEY",), default_model="mistral-small-latest",
        options={"omit_fields": ["stream_options"], "rename_fields": {"seed": "random_seed"}},
        quirks=("an unknown request field is a 422, so stream_options is not sent (the "
                "usage still comes in the last stream event)", "seed is sent as random_seed"),
        docs="https://docs.mistral.ai/api"),
    # openrouter.ai/docs/quick-start and /docs/community/openai-sdk (base URL,
    # OPENROUTER_API_KEY, the optional HTTP-Referer and X-OpenRouter-Title headers, once
    # X-Title); openrouter.ai/openai/gpt-oss-120b (the model). Prices depend on the model and
    # the upstream provider chosen per request, so none is set.
    Preset(
        name="openrouter", title="OpenRouter", base_url="https://openrouter.ai/api/v1",
        api_key_env=("OPENROUTER_API_KEY",), default_model="openai/gpt-oss-120b",
        quirks=("model ids name the vendor: openai/..., anthropic/..., google/...",
                "optional attribution headers: headers = { \"HTTP-Referer\" = "
                "\"https://your.app\", \"X-OpenRouter-Title\" = \"Your app\" }",
                "prices vary with the model and the upstream provider, so none is set"),
        docs="https://openrouter.ai/docs/quick-start"),
    # docs.together.ai/docs/inference/openai-compatibility.md (base URL api.together.ai/v1,
    # TOGETHER_API_KEY, the openai/gpt-oss-20b example). No price from Together's own pages.
    Preset(
        name="together", title="Together AI", base_url="https://api.together.ai/v1",
        api_key_env=("TOGETHER_API_KEY",), default_model="openai/gpt-oss-20b",
        docs="https://docs.together.ai/docs/inference/openai-compatibility"),
    # docs.fireworks.ai via docs.pipecat.ai/server/services/llm/fireworks and
    # strandsagents.com (base URL, FIREWORKS_API_KEY); the model id
    # accounts/fireworks/models/gpt-oss-120b as used in public code of 2026. No price from
    # Fireworks' own pages.
    Preset(
        name="fireworks", title="Fireworks AI", base_url="https://api.fireworks.ai/inference/v1",
        api_key_env=("FIREWORKS_API_KEY",),
        default_model="accounts/fireworks/models/gpt-oss-120b",
        quirks=("model ids are paths: accounts/fireworks/models/NAME",),
        docs="https://docs.fireworks.ai"),
    # inference-docs.cerebras.ai/resources/openai (base URL, CEREBRAS_API_KEY, system role
    # mapped to developer-level instructions for gpt-oss-120b);
    # inference-docs.cerebras.ai/support/deprecation (llama3.1-8b and llama-3.3-70b retired;
    # gpt-oss-120b recommended); inference-docs.cerebras.ai/models/openai-oss ($0.35 input,
    # $0.75 output per million tokens). The fields answered with 400: hexdocs.pm/req_llm,
    # Cerebras guide.
    Preset(
        name="cerebras", title="Cerebras", base_url="https://api.cerebras.ai/v1",
        api_key_env=("CEREBRAS_API_KEY",), default_model="gpt-oss-120b",
        prices={"gpt-oss-120b": {
            "input": "0.35", "output": "0.75", "as_of": _READ,
            "source": "inference-docs.cerebras.ai/models/openai-oss"}},
        quirks=("frequency_penalty, presence_penalty, logit_bias, parallel_tool_calls and "
                "service_tier are answered with 400",
                "for gpt-oss-120b a system message acts as developer-level instructions"),
        docs="https://inference-docs.cerebras.ai/resources/openai"),
    # docs.perplexity.ai/docs/sonar/openai-compatibility (base URL, PERPLEXITY_API_KEY,
    # sonar); Perplexity ended Sonar Chat Completions on 2026-09-27 for its Agent API in
    # OpenAI's Responses format (docs.stigg.io/documentation/ai-agents/providers/perplexity;
    # vercel/ai release @ai-sdk/perplexity@3.1.0;
    # docs.perplexity.ai/docs/agent-api/migrate-from-sonar/how-to).
    Preset(
        name="perplexity", title="Perplexity", base_url="https://api.perplexity.ai",
        api_key_env=("PERPLEXITY_API_KEY",), default_model="sonar",
        unavailable=("Perplexity ended Sonar Chat Completions on 2026-09-27; its Agent API "
                     "speaks OpenAI's Responses format, which the openai driver does not"),
        docs="https://docs.perplexity.ai/docs/agent-api/migrate-from-sonar/how-to"),
    # learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle (the v1 API:
    # base_url https://RESOURCE.openai.azure.com/openai/v1/, no api-version, the deployment
    # name as the model, AZURE_OPENAI_API_KEY); openai-python src/openai/lib/azure.py (the
    # SDK's AZURE_OPENAI_API_KEY and AZURE_OPENAI_ENDPOINT, the `api-key` header, the
    # deployments URL with ?api-version=).
    Preset(
        name="azure", title="Azure OpenAI", api_key_env=("AZURE_OPENAI_API_KEY",),
        base_url_env="AZURE_OPENAI_ENDPOINT", base_url_env_path="/openai/v1",
        options={"auth_header": "api-key"},
        setup=("set AZURE_OPENAI_ENDPOINT=https://RESOURCE.openai.azure.com (the v1 API at "
               "/openai/v1 is used) or base_url under [providers.azure]; the model is your "
               "deployment's name (-m NAME or default_model)"),
        quirks=("the key travels in the api-key header",
                "the v1 API needs no api-version; for the older deployments URL set base_url = "
                "\"https://RESOURCE.openai.azure.com/openai/deployments/NAME\" and "
                "api_version = \"2024-10-21\"",
                "prices depend on the deployment and region, so none is set"),
        docs="https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle"),
    # docs.vllm.ai/en/v0.8.4/serving/openai_compatible_server (vllm serve, the client at
    # http://localhost:8000/v1, --api-key); VLLM_API_KEY is the variable `vllm serve` reads
    # for that key (as public deployment code relies on), so a client beside it finds it too.
    Preset(
        name="vllm", title="vLLM", base_url="http://localhost:8000/v1",
        api_key_env=("VLLM_API_KEY",), requires_api_key=False, default_port=8000,
        setup="start `vllm serve MODEL`; the model is the one it serves (-m MODEL)",
        quirks=("the model must be the served name (jtd-ai models list -p vllm shows it)",),
        docs="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html"),
    # lmstudio.ai/docs/api/openai-api (http://localhost:1234/v1); lmstudio.ai/docs/developer/
    # anthropic-compat (an API token, $LM_API_TOKEN in its examples, when "Require
    # Authentication" is on).
    Preset(
        name="lmstudio", title="LM Studio", base_url="http://localhost:1234/v1",
        api_key_env=("LM_API_TOKEN",), requires_api_key=False, default_port=1234,
        setup="start the server in LM Studio's Developer tab or with `lms server start`",
        quirks=("the model is a loaded model's identifier (jtd-ai models list -p lmstudio)",),
        docs="https://lmstudio.ai/docs/api/openai-api"),
    # llama.cpp's server docs (mintlify.com/ggml-org/llama.cpp/inference/server;
    # learn.arm.com llama-server path): llama-server listens on 8080 with /v1 routes and
    # ignores the model field; --api-key, or LLAMA_API_KEY (LLAMA_ARG_API_KEY in older
    # versions) in its environment, makes it require a key.
    Preset(
        name="llamacpp", title="llama.cpp server", base_url="http://localhost:8080/v1",
        api_key_env=("LLAMA_API_KEY",), requires_api_key=False, default_port=8080,
        setup="start `llama-server -m MODEL.gguf`",
        quirks=("it serves the model it was started with; -m names it for the record",),
        docs="https://github.com/ggml-org/llama.cpp/tree/master/tools/server"),
)})


def names() -> list[str]:
    """Every preset's name, sorted."""
    return sorted(PRESETS)


def find(name: str) -> Preset | None:
    """The preset called ``name``, or None."""
    return PRESETS.get(name)


def preset_values(preset: Preset, values: Mapping[str, Any]) -> dict[str, Any]:
    """The provider table ``values`` completed by ``preset``: the preset fills only the
    keys the table leaves unset, and its prices sit under the table's, model by model."""
    merged: dict[str, Any] = {**copy.deepcopy(dict(preset.options)), **values}
    merged.setdefault("driver", preset.driver)
    merged["preset"] = preset.name
    if not preset.requires_api_key:
        merged.setdefault("api_key_required", False)
    own = values.get("prices")
    if preset.prices and (own is None or isinstance(own, Mapping)):
        merged["prices"] = {**{m: dict(p) for m, p in preset.prices.items()}, **(own or {})}
    return merged


def key_set(variables: Iterable[str], env: Mapping[str, str]) -> str | None:
    """The first of ``variables`` set (non-empty) in ``env``."""
    return next((v for v in variables if env.get(v)), None)


def status(preset: Preset, env: Mapping[str, str]) -> tuple[bool, str]:
    """(ready, what to do) for ``preset`` from the environment alone: ready when its key
    (and, for Azure, its endpoint) is set. A local server is never called ready: nothing
    here knows whether it runs."""
    if preset.unavailable:
        return False, f"unavailable: {preset.unavailable}"
    if preset.local:
        return False, f"server needed (localhost:{preset.default_port})"
    variables = " or ".join(f"${v}" for v in preset.api_key_env)
    found = key_set(preset.api_key_env, env)
    if found is None:
        return False, f"set {variables}"
    if preset.base_url is None and not (preset.base_url_env and env.get(preset.base_url_env)):
        where = f"${preset.base_url_env} or base_url" if preset.base_url_env else "base_url"
        return False, f"set {where}"
    return True, f"ready (${found})"
