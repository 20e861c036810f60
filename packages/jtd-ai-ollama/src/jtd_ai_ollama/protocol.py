"""The Ollama protocol adapter (native ``/api``): requests out, typed replies in; no I/O.

Endpoints: ``POST /api/chat`` (``"stream": false``, or an NDJSON stream), ``GET /api/tags``
(the model listing: one page), ``POST /api/show`` and ``GET /api/ps`` (model details, see
:mod:`jtd_ai_ollama.details`), ``GET /api/version`` (``validate_credentials``: is the server
up). A ``base_url`` that already ends in ``/api`` (``https://ollama.com/api``) works too.

Provider options (keys under ``[providers.NAME]``): ``options`` (a table of Modelfile
parameters sent with every chat, e.g. ``top_k``), ``num_ctx``, ``keep_alive`` (``"10m"``,
``0``, ``-1``), ``think`` (``true`` or ``"low"``/``"medium"``/``"high"``) and ``prices``
(handled by the core; a local server costs nothing by default).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from jtd_ai.config import ProviderConfig, check_json_setting
from jtd_ai.convert import structure_wire
from jtd_ai.errors import ConfigurationError, MalformedResponseError, ProviderError
from jtd_ai.modelinfo import Capabilities, ModelInfo
from jtd_ai.pricing import Pricing
from jtd_ai.protocol import ChatProtocol, ModelPage, StreamDecoder
from jtd_ai.request import ChatRequest
from jtd_ai.responses import Response
from jtd_ai.wire import HttpRequest, HttpResponse
from jtd_ai_ollama.build import chat_body
from jtd_ai_ollama.errors import error_from_response
from jtd_ai_ollama.models import running_info, show_info, tag_info
from jtd_ai_ollama.reply import finish_reason, read, translate
from jtd_ai_ollama.stream import OllamaStreamDecoder
from jtd_ai_ollama.wire import PsResponse, ShowResponse, TagsResponse

__all__ = ["LOCAL_PRICING", "OllamaProtocol"]

#: A local server bills nothing; usage is still recorded and cost is exactly zero.
LOCAL_PRICING = Pricing(input=0, output=0, source="ollama (self-hosted: no per-token charge)",
                        as_of=dt.date(2026, 11, 24))
_HOSTED = ("ollama.com",)
_DEFAULT_KEYS = ("options", "num_ctx", "keep_alive", "think")


def _check_defaults(config: ProviderConfig) -> None:
    """The driver's own options, checked when the provider is built (they go in every
    request body)."""
    where = f"providers.{config.name}"
    options = config.option("options")
    if options is not None:
        if not isinstance(options, Mapping):
            raise ConfigurationError(f"{where}.options must be a table of Modelfile "
                                     f"parameters (e.g. {{ top_k = 20 }}), not "
                                     f"{type(options).__name__}")
        check_json_setting(f"{where}.options", options)
    num_ctx = config.option("num_ctx")
    if num_ctx is not None and (isinstance(num_ctx, bool) or not isinstance(num_ctx, int)
                                or not 1 <= num_ctx <= 2**31 - 1):
        raise ConfigurationError(f"{where}.num_ctx must be a whole number of tokens from 1 "
                                 f"to 2**31-1, not {num_ctx!r}"[:200])
    keep_alive = config.option("keep_alive")
    text_ok = (isinstance(keep_alive, str) and keep_alive.isascii()
               and keep_alive.isprintable())
    number_ok = (isinstance(keep_alive, int | float) and not isinstance(keep_alive, bool)
                 and math.isfinite(keep_alive) and abs(keep_alive) <= 10**9)
    if keep_alive is not None and not (text_ok or number_ok):
        raise ConfigurationError(f"{where}.keep_alive must be a duration like \"10m\", or "
                                 f"seconds (0 unloads at once, -1 keeps the model loaded)")
    think = config.option("think")
    if think is not None and not (isinstance(think, bool) or think in ("low", "medium", "high")):
        raise ConfigurationError(f"{where}.think must be true, false, \"low\", \"medium\" "
                                 f"or \"high\"")


class OllamaProtocol(ChatProtocol):
    """Translates between jtd-ai and Ollama's native chat protocol."""

    name = "ollama"
    request_id_header = None  # Ollama sends no request id
    config_options: ClassVar[frozenset[str] | None] = frozenset(_DEFAULT_KEYS)

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        _check_defaults(config)
        #: Capabilities read from /api/show, by model name (see :meth:`capabilities`).
        self._shown: dict[str, Capabilities] = {}

    def __repr__(self) -> str:
        return f"<OllamaProtocol provider={self.provider!r} base_url={self.config.base_url!r}>"

    def auth_headers(self) -> Mapping[str, str]:
        key = self.config.api_key
        return {"Authorization": f"Bearer {key.reveal()}"} if key else {}

    # -- chat --------------------------------------------------------------------------------

    def chat_request(self, request: ChatRequest, *, stream: bool) -> HttpRequest:
        defaults = {k: self.config.option(k) for k in _DEFAULT_KEYS}
        body = chat_body(request, stream=stream, defaults=defaults)
        return HttpRequest("POST", self._path("chat"), json=body,
                           stream="ndjson" if stream else None)

    def parse_chat(self, response: HttpResponse, request: ChatRequest) -> Response:
        data = response.json(provider=self.provider)
        if isinstance(data, Mapping) and data.get("error") is not None:
            raise MalformedResponseError(
                f"{self.provider} answered HTTP {response.status} with an error: {data['error']}",
                provider=self.provider, status=response.status, body=response.content,
            )
        piece = translate(read(data, self.provider))
        return Response(
            content=piece.text, model=piece.model or request.model, provider=self.provider,
            finish_reason=finish_reason(piece.done_reason, bool(piece.calls)),
            usage=piece.usage, tool_calls=piece.calls, reasoning=piece.reasoning or None,
            raw=data,
        )

    def stream_decoder(self, request: ChatRequest) -> StreamDecoder:
        return OllamaStreamDecoder(self.provider)

    def parse_error(self, response: HttpResponse) -> ProviderError:
        return error_from_response(self, response)

    # -- models ------------------------------------------------------------------------------

    def models_request(self, page_token: str | None) -> HttpRequest:
        return HttpRequest("GET", self._path("tags"))

    def parse_models(self, response: HttpResponse) -> ModelPage:
        data = structure_wire(response.json(provider=self.provider), TagsResponse,
                              provider=self.provider)
        return ModelPage(tag_info(m, self.provider, self.pricing) for m in data.models or ())

    def show_request(self, model: str) -> HttpRequest:
        """``POST /api/show``: one model's capabilities and context length."""
        return HttpRequest("POST", self._path("show"), json={"model": model})

    def parse_show(self, response: HttpResponse, model: str) -> ModelInfo:
        data = structure_wire(response.json(provider=self.provider), ShowResponse,
                              provider=self.provider)
        info = show_info(model, data, self.provider, self.pricing)
        if data.capabilities is not None:
            self._shown[model] = info.capabilities
        return info

    def running_request(self) -> HttpRequest:
        """``GET /api/ps``: the models loaded in memory now."""
        return HttpRequest("GET", self._path("ps"))

    def parse_running(self, response: HttpResponse) -> list[ModelInfo]:
        data = structure_wire(response.json(provider=self.provider), PsResponse,
                              provider=self.provider)
        return [running_info(m, self.provider, self.pricing) for m in data.models or ()]

    def credentials_request(self) -> HttpRequest:
        """``GET /api/version``: no key is needed locally, so this checks the server is up."""
        return HttpRequest("GET", self._path("version"))

    def parse_version(self, response: HttpResponse) -> str:
        data: Any = response.json(provider=self.provider)
        if not isinstance(data, Mapping) or not isinstance(data.get("version"), str):
            raise MalformedResponseError(
                f"{self.provider}: /api/version sent no version string",
                provider=self.provider, status=response.status, body=response.content,
            )
        version: str = data["version"]
        return version

    # -- facts -------------------------------------------------------------------------------

    def capabilities(self, model: str | None = None) -> Capabilities:
        """What ``model`` can do once :func:`~jtd_ai_ollama.show_model` has asked the server
        about it; before that (and for ``model=None``), what the driver can send: tools,
        images and JSON output all work, if the model supports them."""
        known = self._shown.get(model) if model is not None else None
        if known is not None:
            return known
        return Capabilities(streaming=True, tools=True, vision=True, json_mode=True,
                            structured_output=True, reasoning=None, system_prompt=True)

    def pricing(self, model: str) -> Pricing | None:
        """Zero on a self-hosted server; unknown on ollama.com (set ``prices`` for it)."""
        host = (urlsplit(self.config.base_url or "").hostname or "").lower()
        if any(host == h or host.endswith("." + h) for h in _HOSTED):
            return None
        return LOCAL_PRICING

    # -- helpers -----------------------------------------------------------------------------

    def _path(self, endpoint: str) -> str:
        base = urlsplit(self.config.base_url or "").path.rstrip("/")
        return f"/{endpoint}" if base.endswith("/api") else f"/api/{endpoint}"
