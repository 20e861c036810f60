"""The Gemini protocol adapter: requests out, typed replies in; no I/O.

Endpoints (relative to ``https://generativelanguage.googleapis.com/v1beta``):
``models/{model}:generateContent``, ``models/{model}:streamGenerateContent?alt=sse``,
``models/{model}:countTokens``, ``GET models`` (paginated) and ``GET models/{model}``.
The API key goes in the ``x-goog-api-key`` header, never in the URL.

Provider options (keys under ``[providers.NAME]``): ``generation_config`` (a table merged
under every request's ``generationConfig``, request values winning), ``safety_settings``
(a list sent as ``safetySettings``), ``models_page_size`` (default 1000) and ``prices``
(handled by the core).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from jtd_ai.config import ProviderConfig, check_json_setting
from jtd_ai.convert import structure_wire
from jtd_ai.errors import (
    ConfigurationError,
    MalformedResponseError,
    ProviderError,
    ValidationError,
)
from jtd_ai.modelinfo import Capabilities, ModelInfo
from jtd_ai.pricing import Pricing
from jtd_ai.protocol import ChatProtocol, ModelPage, StreamDecoder
from jtd_ai.request import ChatRequest
from jtd_ai.responses import Response
from jtd_ai.wire import HttpRequest, HttpResponse
from jtd_ai_gemini import pricing as price_table
from jtd_ai_gemini.build import chat_body
from jtd_ai_gemini.errors import error_from_response
from jtd_ai_gemini.models import model_info, read_model
from jtd_ai_gemini.reply import blocked_prompt, filtered, finish_reason, read, translate
from jtd_ai_gemini.stream import GeminiStreamDecoder
from jtd_ai_gemini.wire import CountTokensResponse, ListModelsResponse

if TYPE_CHECKING:
    from jtd_ai.batch_protocol import BatchProtocol

__all__ = ["GeminiProtocol"]

_DEFAULT_PAGE_SIZE = 1000
#: One segment of a model's resource name: ``gemini-2.5-flash``, ``models``, ``tunedModels``.
_MODEL_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


class GeminiProtocol(ChatProtocol):
    """Translates between jtd-ai and Gemini's ``generateContent`` protocol."""

    name = "gemini"
    request_id_header = None  # Gemini sends no request-id header; responseId is in the body
    config_options: ClassVar[frozenset[str] | None] = frozenset(
        {"generation_config", "safety_settings", "models_page_size"})

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        where = f"providers.{config.name}"
        generation = self._option_map("generation_config")
        if generation is not None:
            check_json_setting(f"{where}.generation_config", generation)
        safety = config.option("safety_settings")
        if safety is not None:
            if not isinstance(safety, list) or not all(isinstance(s, Mapping) for s in safety):
                raise ConfigurationError(
                    f"{where}.safety_settings must be a list of tables like {{ category = "
                    f"\"HARM_CATEGORY_HARASSMENT\", threshold = \"BLOCK_NONE\" }}")
            check_json_setting(f"{where}.safety_settings", safety)
        size = config.option("models_page_size", _DEFAULT_PAGE_SIZE)
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 1000:
            raise ConfigurationError(
                f"{where}.models_page_size must be a whole number from 1 to 1000, not "
                f"{size!r}"[:200])

    def __repr__(self) -> str:
        return f"<GeminiProtocol provider={self.provider!r} base_url={self.config.base_url!r}>"

    # -- auth --------------------------------------------------------------------------------

    def auth_headers(self) -> Mapping[str, str]:
        key = self.config.api_key
        return {"x-goog-api-key": key.reveal()} if key else {}

    # -- chat --------------------------------------------------------------------------------

    def chat_request(self, request: ChatRequest, *, stream: bool) -> HttpRequest:
        body = chat_body(request, generation_defaults=self._option_map("generation_config"),
                         safety_settings=self.config.option("safety_settings"))
        if stream:
            return HttpRequest("POST", self._model_path(request.model, "streamGenerateContent"),
                               json=body, params={"alt": "sse"}, stream="sse")
        return HttpRequest("POST", self._model_path(request.model, "generateContent"), json=body)

    def parse_chat(self, response: HttpResponse, request: ChatRequest) -> Response:
        data = response.json(provider=self.provider)
        reply = read(data, self.provider)
        blocked = blocked_prompt(reply, self.provider, response.content)
        if blocked is not None:
            raise blocked
        if not reply.candidates:
            raise MalformedResponseError(
                f"{self.provider} sent a reply with no candidates and no promptFeedback",
                provider=self.provider, status=response.status, body=response.content,
            )
        turn = translate(reply)
        result = Response(
            content=turn.text, model=turn.model or request.model, provider=self.provider,
            finish_reason=finish_reason(turn.finish, bool(turn.calls)), usage=turn.usage,
            tool_calls=turn.calls, request_id=turn.response_id,
            reasoning=turn.reasoning or None, raw=data,
        )
        stopped = filtered(turn, self.provider, result, response.content)
        if stopped is not None:
            raise stopped
        return result

    def stream_decoder(self, request: ChatRequest) -> StreamDecoder:
        return GeminiStreamDecoder(self)

    def parse_error(self, response: HttpResponse) -> ProviderError:
        return error_from_response(self, response)

    # -- tokens ------------------------------------------------------------------------------

    def count_tokens_request(self, request: ChatRequest) -> HttpRequest:
        """``countTokens`` for what ``request`` would send: just its ``contents`` when that is
        all there is, else the whole request wrapped in ``generateContentRequest``."""
        body = chat_body(request, generation_defaults=self._option_map("generation_config"),
                         safety_settings=self.config.option("safety_settings"))
        if set(body) != {"contents"}:
            body = {"generateContentRequest": {"model": self._resource(request.model), **body}}
        return HttpRequest("POST", self._model_path(request.model, "countTokens"), json=body)

    def parse_count_tokens(self, response: HttpResponse) -> int:
        """The prompt's token count from a ``countTokens`` reply."""
        data = structure_wire(response.json(provider=self.provider), CountTokensResponse,
                              provider=self.provider)
        return data.totalTokens

    # -- models ------------------------------------------------------------------------------

    def models_request(self, page_token: str | None) -> HttpRequest:
        size = self.config.option("models_page_size", _DEFAULT_PAGE_SIZE)
        params = {"pageSize": str(size)}
        if page_token:
            params["pageToken"] = page_token
        return HttpRequest("GET", "/models", params=params)

    def parse_models(self, response: HttpResponse) -> ModelPage:
        data = structure_wire(response.json(provider=self.provider), ListModelsResponse,
                              provider=self.provider)
        models = [model_info(m, self.provider, self.pricing) for m in data.models]
        return ModelPage(models, data.nextPageToken or None)

    def model_request(self, model: str) -> HttpRequest:
        """``GET models/{model}``: one model's limits and methods."""
        return HttpRequest("GET", "/" + quote(self._resource(model), safe="/-._~"))

    def parse_model(self, response: HttpResponse) -> ModelInfo:
        model = read_model(response.json(provider=self.provider), self.provider)
        return model_info(model, self.provider, self.pricing)

    def credentials_request(self) -> HttpRequest:
        return HttpRequest("GET", "/models", params={"pageSize": "1"})

    # -- facts -------------------------------------------------------------------------------

    def capabilities(self, model: str | None = None) -> Capabilities:
        if model is not None and model.removeprefix("models/").startswith("gemma-"):
            # Gemma on the Gemini API takes no systemInstruction ("Developer instruction is
            # not enabled") and has no function calling or JSON mode there.
            return Capabilities(streaming=True, tools=False, vision=None, json_mode=False,
                                structured_output=False, reasoning=None, system_prompt=False)
        return Capabilities(streaming=True, tools=True, vision=True, json_mode=True,
                            structured_output=True, reasoning=None, system_prompt=True)

    def pricing(self, model: str) -> Pricing | None:
        return price_table.lookup(model)

    def batch_protocol(self) -> BatchProtocol:
        """Batch mode (:mod:`jtd_ai_gemini.batch`)."""
        from jtd_ai_gemini.batch import GeminiBatchProtocol

        return GeminiBatchProtocol(self)

    # -- helpers -----------------------------------------------------------------------------

    def _resource(self, model: str) -> str:
        """``gemini-2.5-flash`` -> ``models/gemini-2.5-flash``; ``tunedModels/x`` unchanged.
        The model goes in the URL path, so a name that would change the path (``..``, more
        ``/``, ``?``, ``#``, ``%``, spaces) is a ValidationError before anything is sent."""
        segments = model.split("/") if isinstance(model, str) else [""]
        if len(segments) > 2 or not all(_MODEL_SEGMENT.fullmatch(s) for s in segments):
            shown = repr(model[:80]) if isinstance(model, str) else type(model).__name__
            raise ValidationError(
                f"{self.provider}: the model name {shown} cannot be used: Gemini model names "
                f"are letters, digits, '.', '_' and '-' (gemini-2.5-flash), optionally after "
                f"models/ or tunedModels/", field="model")
        return model if "/" in model else f"models/{model}"

    def _model_path(self, model: str, method: str) -> str:
        return "/" + quote(self._resource(model), safe="/-._~") + ":" + method

    def _option_map(self, key: str) -> Mapping[str, Any] | None:
        value = self.config.option(key)
        if value is not None and not isinstance(value, Mapping):
            raise ConfigurationError(
                f"providers.{self.provider}.{key} must be a table, not {type(value).__name__}"
            )
        return value
