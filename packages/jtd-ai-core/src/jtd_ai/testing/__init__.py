"""Testing tools: the driver conformance kit, the fake provider server, ``AI.fake()``, scripted
httpx transports, and helpers for replaying recorded captures.

Importing this package is cheap; each tool is imported when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jtd_ai.testing.conformance import (
        CannedResponse,
        DriverConformanceTests,
        ExpectedCall,
        WireSamples,
    )
    from jtd_ai.testing.fake import FakeAI, FakeCall, FakeReply
    from jtd_ai.testing.replay import CaptureFolder, error_status, sidecar_headers, sidecar_owner
    from jtd_ai.testing.server import FakeProviderServer, Fault, RecordedRequest
    from jtd_ai.testing.transports import BrokenStream, ScriptedTransport

__all__ = ["BrokenStream", "CannedResponse", "CaptureFolder", "DriverConformanceTests",
           "ExpectedCall", "FakeAI", "FakeCall", "FakeProviderServer", "FakeReply", "Fault",
           "RecordedRequest",
           "ScriptedTransport", "WireSamples", "error_status", "sidecar_headers",
           "sidecar_owner"]

_EXPORTS = {
    "CannedResponse": "conformance", "DriverConformanceTests": "conformance",
    "WireSamples": "conformance", "ExpectedCall": "conformance",
    "FakeAI": "fake", "FakeCall": "fake", "FakeReply": "fake",
    "FakeProviderServer": "server", "Fault": "server", "RecordedRequest": "server",
    "BrokenStream": "transports", "ScriptedTransport": "transports",
    "CaptureFolder": "replay", "error_status": "replay", "sidecar_headers": "replay",
    "sidecar_owner": "replay",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'jtd_ai.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"jtd_ai.testing.{module}"), name)
    globals()[name] = value
    return value
