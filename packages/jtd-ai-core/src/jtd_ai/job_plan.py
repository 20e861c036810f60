"""Checking and splitting the input of a provider batch run (:mod:`jtd_ai.jobs`): every
item is made into its request and encoded before anything is sent, and the items are cut
into jobs by the provider's per-job limits. The run's id is the digest of what it sends, so
the same input finds the same run again."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from attrs import define

from jtd_ai.errors import ValidationError

if TYPE_CHECKING:
    from jtd_ai.batch_protocol import BatchProtocol
    from jtd_ai.driver import BatchItem, Driver
    from jtd_ai.request import ChatRequest

__all__ = ["JobPlan", "batch_protocol_of", "plan_batch_job"]


@define
class JobPlan:
    """A checked input, split into provider jobs; nothing has been sent."""

    provider: str
    driver: str
    model: str
    requests: list[ChatRequest]
    lines: list[bytes]
    #: (first item index, item count) of each job.
    parts: list[tuple[int, int]]
    run_id: str

    def digest(self, part: int) -> str:
        first, count = self.parts[part]
        return _digest(self.lines[first:first + count])

    def tag(self, part: int) -> str:
        """The job's name at the provider (findable after a crash), at most 64 chars."""
        return f"jtd-ai-{self.run_id[:40]}-{part}"


def _digest(lines: Iterable[bytes]) -> str:
    sha = hashlib.sha256()
    for line in lines:
        sha.update(line)
        sha.update(b"\n")
    return sha.hexdigest()


def batch_protocol_of(driver: Driver) -> BatchProtocol:
    """The driver's batch API, or a ValidationError saying it has none."""
    batch = driver.protocol.batch_protocol()
    if batch is None:
        raise ValidationError(f"provider {driver.provider!r} (driver {driver.get_name()!r}) "
                              f"has no provider batch API; use the live batch "
                              f"(send_batch) instead", field="mode")
    return batch


def plan_batch_job(driver: Driver, items: Iterable[BatchItem], *, model: str | None = None,
                   run: str | None = None, **options: Any) -> JobPlan:
    """Check every item and split the input into jobs; raises ValidationError (naming the
    item) before anything is sent: a model without batch support, an item over the
    provider's size limit, items for several models."""
    if run is not None and not (isinstance(run, str) and 0 < len(run) <= 40
                                and run.replace("-", "").replace("_", "").isalnum()):
        raise ValidationError(f"run must be 1 to 40 letters, digits, '-' or '_', not "
                              f"{run!r}"[:120], field="run")
    batch = batch_protocol_of(driver)
    requests: list[ChatRequest] = []
    lines: list[bytes] = []
    limits = batch.limits
    item_cap = min((c for c in (limits.max_item_bytes, limits.max_bytes) if c), default=None)
    for index, item in enumerate(items):
        try:
            request = driver.build_request(item, model=model, **options)
            if requests and request.model != requests[0].model:
                raise ValidationError(
                    f"a provider batch job runs one model: {request.model!r} after "
                    f"{requests[0].model!r}; send one batch per model", field="model")
            if not requests and not batch.supports(request.model):
                raise ValidationError(
                    f"model {request.model!r} cannot run in {driver.provider}'s batch API; "
                    f"use the live batch (send_batch) for it", field="model")
            line = batch.encode_item(f"item-{index}", request)
        except ValidationError as exc:
            raise ValidationError(f"batch item {index}: {exc.message}",
                                  field=exc.field) from None
        if item_cap is not None and len(line) + 1 > item_cap:
            raise ValidationError(
                f"batch item {index} is {len(line) + 1:,} bytes, over {driver.provider}'s "
                f"limit of {item_cap:,} bytes per batch request", field="items")
        requests.append(request)
        lines.append(line)
    if not requests:
        raise ValidationError("a provider batch job needs at least one item", field="items")
    parts: list[tuple[int, int]] = []
    first = size = 0
    for index, line in enumerate(lines):
        count = index - first
        full = (limits.max_requests is not None and count >= limits.max_requests) or (
            limits.max_bytes is not None and size + len(line) + 1 > limits.max_bytes)
        if count and full:
            parts.append((first, count))
            first, size = index, 0
        size += len(line) + 1
    parts.append((first, len(lines) - first))
    head = f"{driver.provider}\n{requests[0].model}\n".encode()
    run_id = run or _digest([head, *lines])[:32]
    return JobPlan(driver.provider, driver.get_name(), requests[0].model, requests, lines,
                   parts, run_id)
