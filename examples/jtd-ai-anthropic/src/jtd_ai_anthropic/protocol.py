"""Anthropic's Messages API as a jtd-ai protocol adapter: translation only, no I/O.

Wire notes (from Anthropic's API reference): ``POST /v1/messages`` with ``x-api-key`` and
``anthropic-version`` headers; ``max_tokens`` is required; the system prompt is a top-level
field; tool calls are ``tool_use`` content blocks and their results ``tool_result`` blocks in
a user turn. ``usage.input_tokens`` leaves out cache reads and writes, which we add back so
our ``input_tokens`` counts every prompt token. Streams are SSE with typed events
(``message_start``, ``content_block_delta``, ``message_delta``, ``message_stop``, ``error``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from jtd_ai import (
    Capabilities,
    ChatProtocol,
    ChatRequest,
    ContentFilteredError,
    FinishReason,
    HttpRequest,
    HttpResponse,
    ImagePart,
    Message,
    ModelInfo,
    ModelKind,
    ModelPage,
    Pricing,
    ProviderError,
    RateLimitInfo,
    Response,
    StreamChunk,
    StreamDecoder,
    StreamEvent,
    StreamInterruptedError,
    TextPart,
    TokenUsage,
    ToolCall,
    ToolCallDelta,
)
from jtd_ai.errors import ProviderUnavailableError, QuotaExceededError, ValidationError
from jtd_ai_anthropic.pricing import price_of

__all__ = ["AnthropicProtocol"]

DEFAULT_MAX_TOKENS = 4096
_STOP = {"end_turn": FinishReason.STOP, "stop_sequence": FinishReason.STOP,
         "max_tokens": FinishReason.LENGTH, "tool_use": FinishReason.TOOL_CALLS,
         "refusal": FinishReason.CONTENT_FILTER, "pause_turn": FinishReason.OTHER}


def _usage(data: Mapping[str, Any]) -> TokenUsage:
    read = int(data.get("cache_read_input_tokens") or 0)
    written = int(data.get("cache_creation_input_tokens") or 0)
    return TokenUsage(input_tokens=int(data.get("input_tokens") or 0) + read + written,
                      output_tokens=int(data.get("output_tokens") or 0),
                      cached_input_tokens=read, cache_write_tokens=written)


def _image(part: ImagePart) -> dict[str, Any]:
    if part.url is not None:
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    return {"type": "image", "source": {"type": "base64", "media_type": part.media_type,
                                        "data": part.data}}


def _content(message: Message) -> list[dict[str, Any]]:
    # An assistant turn's thinking blocks go back first, signatures unchanged: Anthropic
    # needs them to continue a tool loop with extended thinking.
    blocks: list[dict[str, Any]] = [dict(b) for b in message.metadata.get("thinking", ())]
    for part in message.parts:
        blocks.append({"type": "text", "text": part.text} if isinstance(part, TextPart)
                      else _image(part))
    for call in message.tool_calls:
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name,
                       "input": call.parsed_arguments()})
    return blocks


class AnthropicProtocol(ChatProtocol):
    name = "anthropic"
    request_id_header = "request-id"

    def auth_headers(self) -> Mapping[str, str]:
        headers = {"anthropic-version": str(self.config.option("anthropic_version",
                                                               "2023-06-01"))}
        if self.config.api_key:
            headers["x-api-key"] = self.config.api_key.reveal()
        return headers

    # -- requests -------------------------------------------------------------------------

    def chat_request(self, request: ChatRequest, *, stream: bool) -> HttpRequest:
        if request.seed is not None:
            raise ValidationError(f"{self.name} cannot take a seed: the Messages API has none",
                                  field="seed")
        system = "\n\n".join(m.text for m in request.messages if m.role == "system")
        messages: list[dict[str, Any]] = []
        for message in request.messages:
            if message.role == "system":
                continue
            if message.role == "tool":
                block = {"type": "tool_result", "tool_use_id": message.tool_call_id,
                         "content": message.text}
                if messages and messages[-1]["role"] == "user" and isinstance(
                        messages[-1]["content"], list):
                    messages[-1]["content"].append(block)  # parallel results share one turn
                else:
                    messages.append({"role": "user", "content": [block]})
                continue
            messages.append({"role": str(message.role), "content": _content(message)})
        body: dict[str, Any] = {"model": request.model, "messages": messages,
                                "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS}
        if system:
            body["system"] = system
        for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p")):
            if getattr(request, ours) is not None:
                body[theirs] = getattr(request, ours)
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        if request.tools:
            body["tools"] = [{"name": t.name, "description": t.description,
                              "input_schema": dict(t.parameters)} for t in request.tools]
        if request.tool_choice is not None:
            choice = {"auto": {"type": "auto"}, "none": {"type": "none"},
                      "required": {"type": "any"}}.get(request.tool_choice)
            body["tool_choice"] = choice or {"type": "tool", "name": request.tool_choice}
        if stream:
            body["stream"] = True
        body.update(request.extra)
        return HttpRequest("POST", "messages", json=body, stream="sse" if stream else None)

    # -- replies --------------------------------------------------------------------------

    def parse_chat(self, response: HttpResponse, request: ChatRequest) -> Response:
        data = response.json(provider=self.provider)
        try:
            blocks = data["content"]
            text = "".join(b["text"] for b in blocks if b.get("type") == "text")
            calls = tuple(ToolCall(b["id"], b["name"], json.dumps(b.get("input") or {}))
                          for b in blocks if b.get("type") == "tool_use")
            thinking = [{"type": "thinking", "thinking": b["thinking"],
                         "signature": b.get("signature")}
                        for b in blocks if b.get("type") == "thinking"]
            return Response(
                content=text, model=data["model"], provider=self.provider,
                finish_reason=_STOP.get(data.get("stop_reason") or "", FinishReason.OTHER),
                usage=_usage(data["usage"]), tool_calls=calls,
                request_id=response.headers.get("request-id"),
                reasoning="".join(b["thinking"] for b in thinking) or None,
                rate_limit=self.rate_limit(response.headers), raw=data,
                metadata={"thinking": thinking} if thinking else {},
            )
        except (KeyError, TypeError) as exc:
            from jtd_ai import MalformedResponseError

            raise MalformedResponseError(
                f"{self.provider} sent a message without {exc}", provider=self.provider,
                status=response.status, body=response.content) from None

    def stream_decoder(self, request: ChatRequest) -> StreamDecoder:
        return _Decoder(self)

    def parse_error(self, response: HttpResponse) -> ProviderError:
        try:
            error = json.loads(response.content)["error"]
            kind, message = str(error.get("type", "")), str(error.get("message", ""))
        except (ValueError, KeyError, TypeError, AttributeError):
            kind, message = "", response.text[:200] or f"HTTP {response.status}"
        return self.error_from(kind, message, response)

    def error_from(self, kind: str, message: str, response: HttpResponse | None) -> ProviderError:
        """The typed error for an Anthropic error ``type`` (also used for stream errors)."""
        if response is None:
            status = {"overloaded_error": 529, "rate_limit_error": 429, "api_error": 500}.get(
                kind, 400)
            response = HttpResponse(status, {}, b"")
        if kind == "overloaded_error" or response.status == 529:
            return ProviderUnavailableError(f"{self.provider} is overloaded: {message}",
                                            provider=self.provider, status=response.status,
                                            code=kind, body=response.content)
        if kind == "billing_error":
            return QuotaExceededError(f"{self.provider}: {message}", provider=self.provider,
                                      status=response.status, code=kind)
        if "content filtering" in message.lower():
            return ContentFilteredError(f"{self.provider} refused: {message}",
                                        provider=self.provider, status=response.status)
        return self.error_for_status(response, message, code=kind or None)

    def rate_limit(self, headers: Mapping[str, str]) -> RateLimitInfo | None:
        def number(name: str) -> int | None:
            value = headers.get(name)
            return int(value) if value and value.isdigit() else None

        info = RateLimitInfo(
            limit_requests=number("anthropic-ratelimit-requests-limit"),
            remaining_requests=number("anthropic-ratelimit-requests-remaining"),
            limit_tokens=number("anthropic-ratelimit-tokens-limit"),
            remaining_tokens=number("anthropic-ratelimit-tokens-remaining"),
        )
        return info if info != RateLimitInfo() else None

    # -- models, price, capabilities -----------------------------------------------------------

    def models_request(self, page_token: str | None) -> HttpRequest:
        params = {"limit": "100", **({"after_id": page_token} if page_token else {})}
        return HttpRequest("GET", "models", params=params)

    def parse_models(self, response: HttpResponse) -> ModelPage:
        data = response.json(provider=self.provider)
        models = tuple(
            ModelInfo(id=m["id"], provider=self.provider, kind=ModelKind.CHAT,
                      display_name=m.get("display_name"), capabilities=self.capabilities(m["id"]),
                      pricing=self.pricing(m["id"]), owned_by="anthropic")
            for m in data.get("data", []))
        return ModelPage(models, data.get("last_id") if data.get("has_more") else None)

    def capabilities(self, model: str | None = None) -> Capabilities:
        return Capabilities(streaming=True, tools=True, vision=True, json_mode=False,
                            structured_output=None, reasoning=None, system_prompt=True)

    def pricing(self, model: str) -> Pricing | None:
        return price_of(model)


class _Decoder(StreamDecoder):
    """Anthropic's typed SSE events to chunks; tool input JSON arrives in pieces by index."""

    def __init__(self, protocol: AnthropicProtocol) -> None:
        self.protocol = protocol
        self.usage = TokenUsage()
        self.model: str | None = None
        self.stopped = False

    def feed(self, event: StreamEvent) -> Iterable[StreamChunk]:
        data = json.loads(event.data)
        kind = data.get("type", event.event)
        if kind == "message_start":
            message = data["message"]
            self.model = message.get("model")
            self.usage = _usage(message.get("usage") or {})
            return (StreamChunk(model=self.model),)
        if kind == "content_block_start":
            block = data["content_block"]
            if block.get("type") == "tool_use":
                return (StreamChunk(tool_calls=(ToolCallDelta(data["index"], block["id"],
                                                              block["name"]),)),)
            if block.get("text"):
                return (StreamChunk(delta=block["text"]),)
            return ()
        if kind == "content_block_delta":
            delta = data["delta"]
            if delta.get("type") == "text_delta":
                return (StreamChunk(delta=delta["text"]),)
            if delta.get("type") == "input_json_delta":
                return (StreamChunk(tool_calls=(ToolCallDelta(
                    data["index"], arguments=delta.get("partial_json", "")),)),)
            return ()
        if kind == "message_delta":
            output = (data.get("usage") or {}).get("output_tokens")
            if output is not None:
                self.usage = TokenUsage(self.usage.input_tokens, int(output),
                                        self.usage.cached_input_tokens, 0,
                                        self.usage.cache_write_tokens)
            reason = (data.get("delta") or {}).get("stop_reason")
            return (StreamChunk(finish_reason=_STOP.get(reason or "", FinishReason.OTHER),
                                usage=self.usage),)
        if kind == "message_stop":
            self.stopped = True
            return ()
        if kind == "error":
            error = data.get("error") or {}
            raise self.protocol.error_from(str(error.get("type", "")),
                                           str(error.get("message", "")), None)
        return ()  # ping and future event types

    def end(self) -> Iterable[StreamChunk]:
        if not self.stopped:
            raise StreamInterruptedError(
                f"{self.protocol.provider}: the stream ended before message_stop",
                provider=self.protocol.provider)
        return ()
