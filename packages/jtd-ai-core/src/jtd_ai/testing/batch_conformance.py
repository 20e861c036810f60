"""The conformance kit's optional section for drivers with a provider batch API
(:meth:`ChatProtocol.batch_protocol` returns a :class:`~jtd_ai.batch_protocol.BatchProtocol`).

:class:`~jtd_ai.testing.DriverConformanceTests` includes these tests; they are skipped for a
driver that declares no batch API. Give the kit a whole job as the provider documents it to
run it end to end (sync and async), each reply in the order the driver sends its requests::

    batch_samples = BatchSamples(
        prompts=["Hello", "Bye"],
        steps=[CannedResponse(200, {"id": "file-1", ...}, sent_url="/files"),   # upload
               CannedResponse(200, {"id": "batch_1", "status": "validating", ...}),
               CannedResponse(200, {"id": "batch_1", "status": "completed", ...}),
               CannedResponse(200, b'{"custom_id": "item-0", ...}\\n...')],       # output
        results=["Hi!", ProviderError],
    )

Items are keyed ``item-<index>`` (``item-0``, ``item-1``...) in the job's input, so the
sample's results name their items that way.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from attrs import define, field

if TYPE_CHECKING:
    import httpx

    from jtd_ai.batch_protocol import BatchProtocol
    from jtd_ai.driver import Driver

__all__ = ["BatchConformanceTests", "BatchSamples"]

MODES = ["sync", "async"]


def _tuple(value: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(value)


@define
class BatchSamples:
    """One provider batch job: the prompts sent, the provider's replies in request order
    (:class:`~jtd_ai.testing.CannedResponse`, ``sent_url`` checked when given), and each
    prompt's result: its reply text, or the AIError type it must come back as."""

    prompts: tuple[str, ...] = field(converter=_tuple)
    steps: tuple[Any, ...] = field(converter=_tuple)
    results: tuple[str | type[Exception], ...] = field(converter=_tuple)
    #: ``auto``, ``inline`` or ``file``, for providers that take both.
    input: str = "auto"


class BatchConformanceTests:
    """Provider batch API tests, run when the driver declares one."""

    #: A whole job (see :class:`BatchSamples`); without it the round trip is skipped.
    batch_samples: ClassVar[BatchSamples | None] = None

    if TYPE_CHECKING:  # provided by DriverConformanceTests
        model: ClassVar[str]

        def make_driver(self, transport: httpx.BaseTransport | None = None,
                        **overrides: Any) -> Driver: ...

        def _canned_only(self) -> None: ...

    def _batch_protocol(self, driver: Driver) -> BatchProtocol:
        batch = driver.protocol.batch_protocol()
        if batch is None:
            pytest.skip("capability 'provider batch API' not declared by the driver "
                        "(batch_protocol() returns None)")
        return batch

    def test_batch_items_are_json_lines(self) -> None:
        """Each item of a batch job encodes as one JSON line holding its key and prompt.

        Troubleshooting: ``encode_item`` returns the bytes of one JSONL line, no newline;
        build the body with the chat protocol's own ``chat_request(...).json``."""
        from jtd_ai.testing.transports import ScriptedTransport

        driver = self.make_driver(ScriptedTransport())
        batch = self._batch_protocol(driver)
        assert batch.supports(self.model), f"batch API refuses the kit's model {self.model}"
        keys = ("item-0", "item-1")
        lines = [batch.encode_item(key, driver.build_request(f"prompt {key}", model=self.model))
                 for key in keys]
        for key, line in zip(keys, lines, strict=True):
            assert isinstance(line, bytes) and b"\n" not in line
            text = json.dumps(json.loads(line))
            assert key in text and f"prompt {key}" in text

    def test_batch_bad_input_is_refused_before_sending(self,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
        """No items, or an item over the provider's per-job limits, is a ValidationError
        before any request.

        Troubleshooting: declare ``limits`` (BatchLimits) on the batch protocol; the core
        checks every item against them before uploading anything."""
        from jtd_ai.batch_protocol import BatchLimits
        from jtd_ai.errors import ValidationError
        from jtd_ai.jobs import plan_batch_job
        from jtd_ai.testing.transports import ScriptedTransport

        transport = ScriptedTransport()
        driver = self.make_driver(transport)
        batch = self._batch_protocol(driver)
        with pytest.raises(ValidationError):
            plan_batch_job(driver, [], model=self.model)
        monkeypatch.setattr(type(batch), "limits", BatchLimits(max_bytes=64))
        with pytest.raises(ValidationError, match="batch item 0"):
            plan_batch_job(driver, ["x" * 200], model=self.model)
        assert transport.requests == []

    @pytest.mark.parametrize("mode", MODES)
    def test_batch_job_round_trip(self, mode: str, tmp_path: Any) -> None:
        """A whole job from the samples: upload, create, poll, download, and each item's
        result in input order.

        Troubleshooting: the steps are answered in the order the driver sends requests
        (upload steps, create, each poll, each download); a result line names its item by
        the key given to ``encode_item`` (``item-<index>``)."""
        from jtd_ai.errors import AIError
        from jtd_ai.jobs import arun_batch_job, run_batch_job
        from jtd_ai.responses import Response
        from jtd_ai.store import Store
        from jtd_ai.testing.transports import ScriptedTransport

        self._canned_only()
        samples = self.batch_samples
        if samples is None:
            pytest.skip("no batch_samples supplied")
        transport = ScriptedTransport(*(step.response() for step in samples.steps))
        driver = self.make_driver(transport)
        self._batch_protocol(driver)
        store = Store(tmp_path / f"kit-{mode}.db")
        kwargs: dict[str, Any] = {"model": self.model, "store": store, "input": samples.input,
                                  "poll_interval": 0.001, "max_poll_interval": 0.001}
        try:
            if mode == "sync":
                results = run_batch_job(driver, list(samples.prompts), **kwargs)
            else:
                results = asyncio.run(arun_batch_job(driver, list(samples.prompts), **kwargs))
        finally:
            store.close()
        assert len(transport.requests) == len(samples.steps), "not every step was sent"
        for step, request in zip(samples.steps, transport.requests, strict=True):
            if step.sent_url is not None:
                assert step.sent_url in str(request.url), f"{request.url} is not {step.sent_url}"
        for index, (result, wanted) in enumerate(zip(results, samples.results, strict=True)):
            if isinstance(wanted, str):
                assert isinstance(result, Response), f"item {index}: {result!r}"
                assert result.content == wanted
            else:
                assert isinstance(result, AIError) and isinstance(result, wanted), (
                    f"item {index}: {result!r} is not a {wanted.__name__}")
