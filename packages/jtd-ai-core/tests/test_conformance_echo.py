"""The echo driver runs the conformance kit, like every driver."""

from __future__ import annotations

from echo_samples import SAMPLES, UNSUPPORTED

from jtd_ai.testing import DriverConformanceTests


class TestEchoConformance(DriverConformanceTests):
    driver = "echo"
    model = "echo-1"
    settings = {"api_key": "echo-secret-key-0001"}
    samples = SAMPLES
    unsupported_options = UNSUPPORTED
