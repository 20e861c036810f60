"""The kit's tool-call round trips can fail: an OpenAI driver that loses tool results on
the way back is caught; the real one passes.
Each case runs pytest on a small kit module in a fresh interpreter (as test_conformance_kit
does for the echo driver, which has no tools)."""

from __future__ import annotations

import pytest
from cli_helpers import needs

pytest_plugins = ["pytester"]

pytestmark = needs("openai")

HEADER = '''
from jtd_ai import Role, TokenUsage
from jtd_ai.testing import CannedResponse, DriverConformanceTests, WireSamples
from jtd_ai_openai.protocol import OpenAIProtocol
from jtd_ai_openai.testing import chunk, completion, sse, tool_call, usage

SSE = {"content-type": "text/event-stream"}
CALLS = [tool_call("call_a", "add", '{"a":2,"b":3}'),
         tool_call("call_w", "weather", '{"city":"Rome"}')]


class Kit(DriverConformanceTests):
    driver = "openai"
    model = "gpt-4o-mini"
    settings = {"api_key": "kit-test-key-0001", "base_url": "https://kit.invalid/v1"}
    samples = WireSamples(
        chat=CannedResponse(200, completion("Done.", usage=usage(9, 2)), content="Done."),
        stream=CannedResponse(200, sse(chunk({"content": "Done."}),
                                       chunk({}, finish_reason="stop")), SSE, content="Done."),
        tool_call=CannedResponse(200, completion(None, finish_reason="tool_calls",
                                                 tool_calls=CALLS[1:], usage=usage(9, 2))),
        tool_call_stream=CannedResponse(200, sse(
            chunk({"tool_calls": [{"index": 0, **CALLS[1]}]}),
            chunk({}, finish_reason="tool_calls")), SSE),
        parallel_tool_calls=CannedResponse(200, completion(
            None, finish_reason="tool_calls", tool_calls=CALLS, usage=usage(9, 2))),
    )
'''

ROUND_TRIPS = {"test_tool_call_round_trip", "test_streamed_tool_call_round_trip",
               "test_parallel_tool_calls_round_trip"}


def run(pytester: pytest.Pytester, body: str) -> pytest.RunResult:
    pytester.makepyfile(test_case=HEADER + body)
    return pytester.runpytest_subprocess("-q", "-rA", "-p", "no:cacheprovider", "-k",
                                         "tool_call_round_trip or tool_calls_round_trip")


def failed(result: pytest.RunResult) -> set[str]:
    return {line.split("::")[-1].split("[")[0].split(" ")[0]
            for line in result.outlines if line.startswith("FAILED ")}


def test_the_openai_driver_completes_every_round_trip(pytester: pytest.Pytester) -> None:
    result = run(pytester, "\n\nclass TestOpenAI(Kit):\n    pass\n")
    assert failed(result) == set()
    assert result.parseoutcomes()["passed"] == 6


def test_a_driver_that_drops_tool_results_is_caught(pytester: pytest.Pytester) -> None:
    body = '''

class DropsResults(OpenAIProtocol):
    def chat_request(self, request, *, stream):
        import attrs
        kept = tuple(m for m in request.messages if m.role is not Role.TOOL)
        return super().chat_request(attrs.evolve(request, messages=kept), stream=stream)


class TestDropsResults(Kit):
    factory = DropsResults
'''
    result = run(pytester, body)
    assert failed(result) == ROUND_TRIPS
    result.stdout.fnmatch_lines(["*is missing from the request that sends it back*"])

