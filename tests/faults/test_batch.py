"""A batch of 1,000 prompts with one in ten faulted, through ``send_batch`` and ``asend_batch``
of every driver, against the fake provider server over real sockets.

The faults are tied to items, not to arrival order (``Fault(body_contains=...)`` matches one
item's prompt), so however the concurrent requests interleave, each item meets exactly the
faults planned for it, and the test knows which items fail, with which error type, after how
many attempts. It then checks that nothing is lost, duplicated or misplaced: in the results,
on the wire, in the ``on_result`` callbacks and in the usage ledger (one row per item).
"""

from __future__ import annotations

import asyncio
import collections
import re

import attrs
import pytest
from attrs import frozen
from faultkit import CASES, MODELS, Case, Harness

from jtd_ai import (
    AIError,
    InvalidCredentialsError,
    MalformedResponseError,
    ProviderError,
    ProviderUnavailableError,
    QuotaExceededError,
    Response,
)
from jtd_ai.testing import FakeProviderServer, Fault

ITEMS = 1_000
#: Items whose index ends in this digit get a fault: 100 of the 1,000.
FAULTED_DIGIT = 3
CONCURRENCY = 32
MARKER = re.compile(rb"#(\d{4})\.")
#: Batches are sends (sync ``send_batch``, async ``asend_batch``); there is no batch stream.
SENDS = [c for c in CASES if c.kind == "send"]


@frozen
class Planned:
    """A fault given to some batch items, and what each of those items must come back as."""

    name: str
    fault: Fault
    #: How many of the item's requests get the fault (3 = every attempt).
    times: int
    #: The error the item ends with, or None when a retry succeeds.
    error: type[AIError] | None
    attempts: int


def plans(driver: str) -> list[Planned]:
    """The mix of faults for ``driver``: never retried, retried then successful, and retried
    until the attempts run out."""
    wrong_key = (Fault(status=400, kind="API_KEY_INVALID", message="API key not valid.")
                 if driver == "gemini" else Fault(status=401))
    quota = {
        "openai": Planned("out of quota", Fault(status=429, kind="insufficient_quota"), 1,
                          QuotaExceededError, 1),
        "xai": Planned("out of credits", Fault(status=429, message="Your team has used all "
                                               "available credits."), 1, QuotaExceededError, 1),
        "gemini": Planned("daily quota used up", Fault(status=429, kind="insufficient_quota"),
                          1, QuotaExceededError, 1),
        # Ollama has no quota: its busy server answers 503, and that clears.
        "ollama": Planned("busy once", Fault(status=503), 1, None, 2),
    }[driver]
    return [
        Planned("bad request", Fault(status=400), 1, ProviderError, 1),
        Planned("wrong key", wrong_key, 1, InvalidCredentialsError, 1),
        quota,
        Planned("rate limited once", Fault(status=429, retry_after="1"), 1, None, 2),
        Planned("server error once", Fault(status=500), 1, None, 2),
        Planned("reset before the first byte once", Fault(reset_after=0), 1, None, 2),
        Planned("unavailable on every attempt", Fault(status=503), 3, ProviderUnavailableError,
                3),
        Planned("malformed JSON", Fault(malformed=True), 1, MalformedResponseError, 1),
    ]


def prompt(index: int) -> str:
    return f"item #{index:04d}."


def plan_items(driver: str) -> dict[int, Planned]:
    """Which items get which fault: every tenth item, the kinds taken in turn."""
    kinds = plans(driver)
    return {i: kinds[(i // 10) % len(kinds)] for i in range(ITEMS) if i % 10 == FAULTED_DIGIT}


@pytest.mark.parametrize("case", SENDS, ids=[c.id for c in SENDS])
def test_batch_of_1000_with_10_percent_faults(case: Case, harness: Harness,
                                              server: FakeProviderServer) -> None:
    """Batch of 1,000 with 10% faults: each item back at its index, nothing lost or duplicated, one ledger row per item
    """
    driver_name = case.driver
    planned = plan_items(driver_name)
    assert len(planned) == ITEMS // 10
    for index, plan in planned.items():
        server.inject(attrs.evolve(plan.fault, body_contains=f"#{index:04d}."),
                      times=plan.times)
    driver = harness.driver(driver_name)
    prompts = [prompt(i) for i in range(ITEMS)]
    seen: list[int] = []

    def on_result(index: int, result: Response | AIError) -> None:
        seen.append(index)

    if case.mode == "sync":
        results = driver.send_batch(prompts, concurrency=CONCURRENCY, on_result=on_result)
    else:
        async def run() -> list[Response | AIError]:
            try:
                return await driver.asend_batch(prompts, concurrency=CONCURRENCY,
                                                on_result=on_result)
            finally:
                await driver.aclose()

        results = asyncio.run(run())

    # Every item came back once, at its own index, as planned.
    assert len(results) == ITEMS
    assert sorted(seen) == list(range(ITEMS))
    for index, result in enumerate(results):
        expected = planned.get(index)
        if expected is None or expected.error is None:
            assert isinstance(result, Response), f"item {index} ({expected}): {result!r}"
            assert result.content == f"echo: {prompts[index]}"
            assert result.model.startswith(MODELS[driver_name].split(":")[0])
        else:
            assert type(result) is expected.error, f"item {index} ({expected.name}): {result!r}"
    contents = [r.content for r in results if isinstance(r, Response)]
    assert len(contents) == len(set(contents))

    # On the wire: each item was sent exactly as many times as its plan says.
    sent = collections.Counter(
        int(match.group(1)) for r in server.requests
        if (match := MARKER.search(r.body)) is not None)
    expected_sends = {i: planned[i].attempts if i in planned else 1 for i in range(ITEMS)}
    assert sent == expected_sends

    # The ledger: one row per item, all of this batch, with each item's status and attempts.
    rows = harness.manager_of(driver).usage.records(limit=10 * ITEMS)
    assert len(rows) == ITEMS
    assert len({row.batch_id for row in rows}) == 1
    assert rows[0].batch_id is not None
    expected_rows = collections.Counter(
        ("ok" if p is None or p.error is None else p.error.__name__,
         p.attempts if p is not None else 1)
        for p in (planned.get(i) for i in range(ITEMS)))
    assert collections.Counter((row.error or row.status, row.attempts) for row in rows
                               ) == expected_rows

