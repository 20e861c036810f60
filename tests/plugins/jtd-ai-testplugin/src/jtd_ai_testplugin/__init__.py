"""A test driver plugin: registers ``testplugin`` and records lifecycle hook calls."""

from __future__ import annotations

from typing import Any

from jtd_ai import hookimpl

#: (hook name, provider) pairs, appended as the hooks fire.
SEEN: list[tuple[str, str]] = []


def _factory(config: Any) -> Any:
    from jtd_ai_testplugin.protocol import TestPluginProtocol

    return TestPluginProtocol(config)


@hookimpl
def register_drivers(register: Any) -> None:
    register("testplugin", _factory, api_key_env="TESTPLUGIN_API_KEY",
             default_base_url="http://testplugin.invalid", default_model="echo-1",
             requires_api_key=True)


@hookimpl
def before_request(call: Any) -> None:
    SEEN.append(("before_request", call.provider))


@hookimpl
def after_response(call: Any, response: Any) -> None:
    SEEN.append(("after_response", call.provider))
