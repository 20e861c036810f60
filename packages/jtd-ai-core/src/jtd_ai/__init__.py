"""jtd-ai: one small, typed way to talk to AI chat providers, with drivers as plugins.

``import jtd_ai`` is cheap: names are imported on first access, and listing drivers reads
entry-point metadata without importing any driver module.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Silent by default, as a library should be: records reach handlers the application sets.
logging.getLogger("jtd_ai").addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from jtd_ai.calls import CallInfo
    from jtd_ai.config import ProviderConfig
    from jtd_ai.conversation import Conversation
    from jtd_ai.driver import AsyncChatStream, ChatStream, Driver
    from jtd_ai.errors import (
        AIError,
        BatchInputError,
        BudgetExceededError,
        ConfigurationError,
        ContentFilteredError,
        InvalidCredentialsError,
        MalformedResponseError,
        ModelNotFoundError,
        NoDefaultProviderError,
        OutputValidationError,
        PluginError,
        PricingUnknownError,
        ProviderError,
        ProviderUnavailableError,
        QuotaExceededError,
        RateLimitError,
        ResponseTooLargeError,
        StoreError,
        StreamInterruptedError,
        TimeoutError,
        UnexpectedError,
        ValidationError,
    )
    from jtd_ai.hookspecs import hookimpl
    from jtd_ai.manager import AI, AIManager
    from jtd_ai.messages import ImagePart, Message, Role, TextPart, Tool, ToolCall
    from jtd_ai.middleware import Via
    from jtd_ai.modelinfo import Capabilities, ModelInfo, ModelKind
    from jtd_ai.plugins import DriverListing, DriverSpec
    from jtd_ai.pricing import PriceTier, Pricing
    from jtd_ai.protocol import ChatProtocol, ModelPage, StreamDecoder, StreamEvent
    from jtd_ai.request import ChatRequest, ResponseFormat
    from jtd_ai.responses import (
        FinishReason,
        RateLimitInfo,
        Response,
        StreamChunk,
        TokenUsage,
        ToolCallDelta,
        TriedProvider,
    )
    from jtd_ai.secret import Secret
    from jtd_ai.tools import MaxStepsError, ToolError, tool
    from jtd_ai.wire import HttpRequest, HttpResponse

_EXPORTS = {
    "AI": "manager", "AIManager": "manager",
    "CallInfo": "calls",
    "ProviderConfig": "config",
    "Conversation": "conversation",
    "AsyncChatStream": "driver", "ChatStream": "driver", "Driver": "driver",
    "hookimpl": "hookspecs",
    "ImagePart": "messages", "Message": "messages", "Role": "messages", "TextPart": "messages",
    "Tool": "messages", "ToolCall": "messages",
    "Capabilities": "modelinfo", "ModelInfo": "modelinfo", "ModelKind": "modelinfo",
    "DriverListing": "plugins", "DriverSpec": "plugins",
    "PriceTier": "pricing", "Pricing": "pricing",
    "ChatProtocol": "protocol", "ModelPage": "protocol", "StreamDecoder": "protocol",
    "StreamEvent": "protocol",
    "ChatRequest": "request", "ResponseFormat": "request",
    "FinishReason": "responses", "RateLimitInfo": "responses", "Response": "responses",
    "StreamChunk": "responses", "TokenUsage": "responses", "ToolCallDelta": "responses",
    "TriedProvider": "responses", "Via": "middleware",
    "Secret": "secret",
    "MaxStepsError": "tools", "ToolError": "tools", "tool": "tools",
    "HttpRequest": "wire", "HttpResponse": "wire",
    "AIError": "errors", "BatchInputError": "errors", "BudgetExceededError": "errors",
    "StoreError": "errors",
    "ConfigurationError": "errors", "ContentFilteredError": "errors",
    "InvalidCredentialsError": "errors", "MalformedResponseError": "errors",
    "ModelNotFoundError": "errors", "NoDefaultProviderError": "errors",
    "OutputValidationError": "errors",
    "PluginError": "errors", "PricingUnknownError": "errors",
    "ProviderError": "errors", "ProviderUnavailableError": "errors",
    "QuotaExceededError": "errors", "RateLimitError": "errors",
    "ResponseTooLargeError": "errors",
    "StreamInterruptedError": "errors", "TimeoutError": "errors", "ValidationError": "errors",
    "UnexpectedError": "errors",
}

__all__ = [
    "AI", "AIError", "AIManager", "AsyncChatStream", "BatchInputError", "BudgetExceededError",
    "CallInfo",
    "Capabilities", "ChatProtocol",
    "ChatRequest", "ChatStream", "ConfigurationError", "ContentFilteredError", "Conversation",
    "Driver", "DriverListing", "DriverSpec", "FinishReason", "HttpRequest", "HttpResponse",
    "ImagePart", "InvalidCredentialsError", "MalformedResponseError", "MaxStepsError",
    "Message", "ModelInfo",
    "ModelKind", "ModelNotFoundError", "ModelPage", "NoDefaultProviderError",
    "OutputValidationError", "PluginError",
    "PriceTier", "Pricing",
    "PricingUnknownError", "ProviderConfig", "ProviderError", "ProviderUnavailableError",
    "QuotaExceededError", "RateLimitError", "RateLimitInfo", "Response", "ResponseFormat",
    "ResponseTooLargeError", "Role",
    "Secret", "StoreError", "StreamChunk", "StreamDecoder", "StreamEvent", "StreamInterruptedError",
    "TextPart", "TimeoutError", "TokenUsage", "Tool", "ToolCall", "ToolCallDelta", "ToolError",
    "TriedProvider", "UnexpectedError",
    "ValidationError", "Via", "hookimpl", "list_drivers", "tool",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'jtd_ai' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"jtd_ai.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


def list_drivers() -> list[str]:
    """Names of the installed drivers, from metadata alone (no driver module is imported)."""
    from jtd_ai.plugins import DriverRegistry

    return DriverRegistry().names()
