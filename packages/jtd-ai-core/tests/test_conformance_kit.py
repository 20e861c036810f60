"""The kit can fail: deliberately broken drivers are caught, and the guard holds.

Each case writes a small test module that subclasses the kit with a broken variant of the
echo driver, runs pytest on it in-process, and checks which kit tests failed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

HELPERS = Path(__file__).parent / "helpers"

HEADER = '''
import pytest
from echo_samples import SAMPLES, UNSUPPORTED
from jtd_ai.echo import EchoProtocol, _EchoDecoder
from jtd_ai.errors import ProviderError
from jtd_ai.testing import DriverConformanceTests


class Kit(DriverConformanceTests):
    driver = "echo"
    model = "echo-1"
    settings = {"api_key": "echo-secret-key-0001", "base_url": "http://echo.invalid"}
    samples = SAMPLES
    unsupported_options = UNSUPPORTED
'''


ARGS = ("-q", "-rA", "-p", "no:randomly", "-p", "no:cacheprovider")


def run(pytester: pytest.Pytester, body: str) -> pytest.RunResult:
    """Run the kit on ``body`` in a fresh interpreter (a clean import state per case)."""
    for helper in ("core_helpers", "echo_samples"):
        pytester.makepyfile(**{helper: (HELPERS / f"{helper}.py").read_text()})
    pytester.makepyfile(test_broken=HEADER + body)
    return pytester.runpytest_subprocess(*ARGS)


def failed(result: pytest.RunResult) -> set[str]:
    """Names of the kit tests that failed, from pytest's summary lines."""
    names = set()
    for line in result.outlines:
        if line.startswith("FAILED "):
            names.add(line.split("::")[-1].split("[")[0].split(" ")[0])
    return names


def test_the_echo_driver_passes(pytester: pytest.Pytester) -> None:
    result = run(pytester, "\n\nclass TestEcho(Kit):\n    pass\n")
    assert failed(result) == set()
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] > 30


def test_wrong_error_mapping_is_caught(pytester: pytest.Pytester) -> None:
    body = '''

class Flat(EchoProtocol):
    def parse_error(self, response):
        return ProviderError("something failed", provider=self.provider, status=response.status)


class TestFlat(Kit):
    factory = Flat
'''
    assert {"test_errors_map_to_typed_errors", "test_non_retryable_errors_are_not_retried",
            "test_validate_credentials_true_false_error"} <= failed(run(pytester, body))


def test_secret_in_the_url_is_caught(pytester: pytest.Pytester) -> None:
    body = '''

class Leaky(EchoProtocol):
    def chat_request(self, request, *, stream):
        base = super().chat_request(request, stream=stream)
        import attrs
        return attrs.evolve(base, params={"key": self.config.api_key.reveal()})


class TestLeaky(Kit):
    factory = Leaky
'''
    assert "test_chat_request_is_well_formed" in failed(run(pytester, body))


def test_stream_that_drops_usage_is_caught(pytester: pytest.Pytester) -> None:
    body = '''

class Forgetful(_EchoDecoder):
    def feed(self, event):
        import attrs
        return [attrs.evolve(chunk, usage=None) for chunk in super().feed(event)]


class DropsUsage(EchoProtocol):
    def stream_decoder(self, request):
        return Forgetful(self.provider)


class TestDropsUsage(Kit):
    factory = DropsUsage
'''
    assert failed(run(pytester, body)) == {"test_stream_chunks_make_the_content"}


def test_overriding_a_kit_test_fails_the_guard(pytester: pytest.Pytester) -> None:
    body = '''

class TestCheats(Kit):
    def test_errors_map_to_typed_errors(self, kind, mode):
        pass

    test_secrets_never_show = None
'''
    assert failed(run(pytester, body)) == {"test_kit_is_intact"}


def test_an_override_marked_xfail_with_a_reason_is_allowed(pytester: pytest.Pytester) -> None:
    body = '''

class TestHonest(Kit):
    @pytest.mark.xfail(reason="echo has no rate limits to map yet")
    def test_errors_map_to_typed_errors(self, kind, mode):
        raise AssertionError("not implemented")
'''
    result = run(pytester, body)
    assert failed(result) == set()
    assert result.parseoutcomes()["xfailed"] > 0


def test_replacing_the_guard_is_refused(pytester: pytest.Pytester) -> None:
    body = '''

class TestNoGuard(Kit):
    def test_kit_is_intact(self):
        pass
'''
    result = run(pytester, body)
    result.stdout.fnmatch_lines(["*overrides test_kit_is_intact*"])
    assert result.ret != 0


def test_undeclared_capability_is_skipped_by_name(pytester: pytest.Pytester) -> None:
    result = run(pytester, "\n\nclass TestEcho(Kit):\n    pass\n")
    result.stdout.fnmatch_lines(["*capability 'tools' not declared by the driver*"])


def test_the_end_of_the_run_lists_every_kit_test_not_run(pytester: pytest.Pytester) -> None:
    result = run(pytester, "\n\nclass TestEcho(Kit):\n    pass\n")
    result.stdout.fnmatch_lines([
        "*jtd-ai conformance kit: * kit test(s) not run*",
        "SKIPPED *TestEcho::test_request_options_are_sent*seed*: seed is not sent: echo*",
        "SKIPPED *TestEcho::test_tool_calls_are_parsed*: capability 'tools' not declared*",
    ])


def test_a_reply_that_differs_from_its_sample_is_caught(pytester: pytest.Pytester) -> None:
    body = '''

import attrs


class Doubled(EchoProtocol):
    def parse_chat(self, response, request):
        reply = super().parse_chat(response, request)
        return attrs.evolve(reply, usage=attrs.evolve(
            reply.usage, output_tokens=2 * reply.usage.output_tokens))


class TestDoubled(Kit):
    factory = Doubled
'''
    assert "test_chat_response_is_parsed" in failed(run(pytester, body))
