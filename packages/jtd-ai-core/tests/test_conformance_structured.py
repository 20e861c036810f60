"""The kit's structured-output tests can fail: an OpenAI driver that drops the response
format, or one that loses the assistant turn of a retry, is caught; the real one passes.
Each case runs pytest on a small kit module in a fresh interpreter (as the tool round-trip
test does)."""

from __future__ import annotations

import pytest
from cli_helpers import needs

pytest_plugins = ["pytester"]

pytestmark = needs("openai")

HEADER = '''
import attrs
from jtd_ai import Role
from jtd_ai.testing import CannedResponse, DriverConformanceTests, WireSamples
from jtd_ai_openai.protocol import OpenAIProtocol
from jtd_ai_openai.testing import completion, usage


class Kit(DriverConformanceTests):
    driver = "openai"
    model = "gpt-4o-mini"
    settings = {"api_key": "kit-test-key-0001", "base_url": "https://kit.invalid/v1"}
    samples = WireSamples(
        chat=CannedResponse(200, completion("Done here.", usage=usage(9, 2)),
                            content="Done here."))
'''


def run(pytester: pytest.Pytester, body: str) -> pytest.RunResult:
    pytester.makepyfile(test_case=HEADER + body)
    return pytester.runpytest_subprocess("-q", "-rA", "-p", "no:cacheprovider", "-k",
                                         "structured or output_type")


def failed(result: pytest.RunResult) -> set[str]:
    return {line.split("::")[-1].split("[")[0].split(" ")[0]
            for line in result.outlines if line.startswith("FAILED ")}


def test_the_openai_driver_passes(pytester: pytest.Pytester) -> None:
    result = run(pytester, "\n\nclass TestOpenAI(Kit):\n    pass\n")
    assert failed(result) == set()
    assert result.parseoutcomes()["passed"] == 6


def test_a_driver_that_drops_the_response_format_is_caught(pytester: pytest.Pytester) -> None:
    body = """

class DropsFormat(OpenAIProtocol):
    def chat_request(self, request, *, stream):
        return super().chat_request(attrs.evolve(request, response_format=None),
                                    stream=stream)


class TestDropsFormat(Kit):
    factory = DropsFormat
"""
    result = run(pytester, body)
    assert failed(result) == {"test_structured_output_round_trip"}
    result.stdout.fnmatch_lines(["*the JSON schema of response_format must reach the provider*"])


def test_a_driver_that_loses_the_reply_of_a_retry_is_caught(pytester: pytest.Pytester) -> None:
    body = """

class DropsReplies(OpenAIProtocol):
    def chat_request(self, request, *, stream):
        kept = tuple(m for m in request.messages if m.role is not Role.ASSISTANT)
        return super().chat_request(attrs.evolve(request, messages=kept), stream=stream)


class TestDropsReplies(Kit):
    factory = DropsReplies
"""
    result = run(pytester, body)
    assert failed(result) == {"test_structured_output_mismatch_is_retried"}
    result.stdout.fnmatch_lines(["*the retry must send the model's reply back*"])
