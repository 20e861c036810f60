"""The protocol half of the test plugin: the echo wire format under another name."""

from __future__ import annotations

from jtd_ai.echo import EchoProtocol


class TestPluginProtocol(EchoProtocol):
    name = "testplugin"
