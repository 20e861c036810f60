"""The plugin as installed: loaded by every manager through the ``jtd_ai.plugins`` entry
point, configured by ``[plugins.otel]``, writing to the global tracer provider.

The global provider can be set once per process, so the end-to-end run is a fresh process
(:data:`_INSTALLED`); the in-process tests only look at what the manager registered.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from otel_helpers import API_KEY, Tracing, attributes, installed_off

from jtd_ai import AIManager, ConfigurationError
from jtd_ai.testing import FakeProviderServer
from jtd_ai_otel import OtelPlugin

Manager = Callable[..., AIManager]


def loaded(**plugins: Any) -> Any:
    """The plugin named ``otel`` a manager loads with these ``[plugins.NAME]`` tables."""
    with AIManager(providers={"openai": {"api_key": "k"}}, config_file=False, env={},
                   plugins=plugins) as ai:
        return ai.load_plugins().get("otel")


def test_installed_it_is_on_in_every_manager() -> None:
    plugin = loaded()
    assert isinstance(plugin, OtelPlugin)
    assert plugin.options.record_content is False


def test_its_table_configures_it_or_turns_it_off() -> None:
    assert loaded(otel={"record_content": True}).options.record_content is True
    assert dict(loaded(otel={"provider_names": {"openai": "vllm"}}).options.provider_names) \
        == {"openai": "vllm"}
    assert loaded(otel={"enabled": False}) is None


def test_a_bad_option_is_a_configuration_error_when_it_loads() -> None:
    with pytest.raises(ConfigurationError, match="record_contents"):
        loaded(otel={"record_contents": True})


def test_a_conversation_s_turns_carry_its_id_and_a_call_its_tags(
        traced: Manager, tracing: Tracing) -> None:
    ai = traced()
    chat = ai.conversation("openai").model("gpt-4o-mini")
    chat.message("Hi").send()
    chat.message("Again").send()
    first, second = tracing.spans()
    assert attributes(first)["gen_ai.conversation.id"] == chat.id
    assert attributes(second)["gen_ai.conversation.id"] == chat.id

    tracing.exporter.clear()
    ai.driver("openai").send_message("Hi", model="gpt-4o-mini", tags={"team": "search",
                                                                      "attempt": 2})
    found = attributes(tracing.span())
    assert "gen_ai.conversation.id" not in found
    assert found["jtd_ai.tags.team"] == "search"
    assert found["jtd_ai.tags.attempt"] == 2


#: A user's program: the SDK set up globally, jtd-ai configured by a file, one call with the
#: plugin as configured there and one with it turned off. Prints the spans as JSON.
_INSTALLED = """
import json, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from jtd_ai import AIManager

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

with AIManager(config_file=sys.argv[1], env={}) as ai:
    ai.driver("openai").send_message("Hi there", model="gpt-4o-mini")
with AIManager(config_file=sys.argv[1], env={}, plugins={"otel": {"enabled": False}}) as ai:
    ai.driver("openai").send_message("Not traced", model="gpt-4o-mini")
print(json.dumps([[s.instrumentation_scope.name, s.name, dict(s.attributes)]
                  for s in exporter.get_finished_spans()]))
"""


def test_installed_it_traces_to_the_global_provider_as_its_table_says(
        fake_server: FakeProviderServer, tmp_path: Path) -> None:
    config = tmp_path / "jtd-ai.toml"
    config.write_text(f"""
[providers.openai]
api_key = "{API_KEY}"
base_url = "{fake_server.base_url("openai")}"

[plugins.otel]
record_content = true
""", encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", _INSTALLED, str(config)], capture_output=True,
                          text=True, timeout=120, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [[scope, name, found]] = json.loads(done.stdout.strip().splitlines()[-1])
    assert (scope, name) == ("jtd_ai_otel", "chat gpt-4o-mini")
    assert found["gen_ai.provider.name"] == "openai"
    assert found["gen_ai.usage.output_tokens"] == 3
    assert json.loads(found["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Hi there"}]}]
    assert len(fake_server.requests) == 2  # the second call was made, and not traced


def test_calls_answered_by_a_fake_are_traced_too(tracing: Tracing) -> None:
    """An application's tests with ``AI.fake()`` see its spans: a provider with no settings
    to read has no server attributes, and nothing fails."""
    with AIManager(config_file=False, env={}, plugins=installed_off()) as ai:
        ai.hooks.register(OtelPlugin(ai, tracer_provider=tracing.provider))
        with ai.fake(["Hello there"]):
            reply = ai.conversation("openai").model("gpt-4o-mini").message("Hi").send()
    assert reply.content == "Hello there"
    found = attributes(tracing.span())
    assert found["jtd_ai.provider"] == "openai"
    assert found["gen_ai.request.model"] == "gpt-4o-mini"
    assert found["gen_ai.response.finish_reasons"] == ["stop"]
    assert "server.address" not in found


#: A program that sets up the SDK only after its manager loaded the plugin: until then no
#: ``on_chunk`` is registered (streams pay no hook call per chunk); after, streams are traced
#: with their first chunk's time, and the reader's code never runs inside their spans.
_LATE_SDK = """
import asyncio, json, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from jtd_ai import AIManager
from jtd_ai.plugins import plugin_listings

plugins = {p.name: {"enabled": False} for p in plugin_listings()
           if p.distribution and p.name != "otel"}
found = {}
with AIManager(providers={"openai": {"api_key": sys.argv[1], "base_url": sys.argv[2]}},
               config_file=False, env={}, plugins=plugins) as ai:
    driver = ai.driver("openai")

    def stream(text):
        current = set()
        for chunk in driver.stream(text, model="gpt-4o-mini"):
            current.add(trace.get_current_span().get_span_context().is_valid)
        return sorted(current)

    async def astream(text):
        current = set()
        async for chunk in driver.astream(text, model="gpt-4o-mini"):
            current.add(trace.get_current_span().get_span_context().is_valid)
        return sorted(current)

    found["loaded"] = "otel" in ai.load_plugins()
    stream("Before")
    driver.send_message("Before", model="gpt-4o-mini")
    found["observers_before"] = len(ai.hooks.hook.on_chunk.get_hookimpls())

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    found["current_in_first"] = stream("First")
    found["current_in_later"] = stream("Later")
    driver.send_message("Sent", model="gpt-4o-mini")
    found["current_in_last"] = asyncio.run(astream("Last"))
    found["observers_after"] = len(ai.hooks.hook.on_chunk.get_hookimpls())
    ai.reset()  # its plugins are loaded again, by a manager that finds the SDK set up
    driver = ai.driver("openai")
    found["current_after_reset"] = stream("Reloaded")
    found["observers_after_reset"] = len(ai.hooks.hook.on_chunk.get_hookimpls())
found["spans"] = [dict(s.attributes) for s in exporter.get_finished_spans()]
print(json.dumps(found))
"""


def test_no_chunk_hook_until_an_sdk_is_set_up_then_streams_are_timed(
        fake_server: FakeProviderServer, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _LATE_SDK, API_KEY, fake_server.base_url("openai")],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "opentelemetry" not in done.stderr  # no context detached out of order
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["loaded"]
    assert found["observers_before"] == 0
    assert found["observers_after"] == found["observers_after_reset"] == 1
    first, later, sent, last, reloaded = found["spans"]  # the calls before the SDK made none
    assert [span["gen_ai.request.stream"] for span in (first, later, last)] == [True] * 3
    assert "gen_ai.request.stream" not in sent
    for span in (later, last, reloaded):
        assert 0 < span["gen_ai.response.time_to_first_chunk"] < 60
    # The reader's code runs outside the spans (the last stream is async): never in the
    # first stream (it began before the chunk observer was there), from the first chunk on
    # in the others.
    assert found["current_in_first"] == found["current_in_later"] == [False]
    assert found["current_in_last"] == found["current_after_reset"] == [False]
