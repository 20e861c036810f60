"""Response.completed: the fast copy the driver makes once per call must lose nothing."""

from __future__ import annotations

from decimal import Decimal

import attrs

from jtd_ai.messages import ToolCall
from jtd_ai.pricing import Pricing
from jtd_ai.responses import FinishReason, RateLimitInfo, Response, TokenUsage


def full() -> Response:
    return Response(
        content="c", model="m", provider="p", finish_reason=FinishReason.TOOL_CALLS,
        usage=TokenUsage(input_tokens=3, output_tokens=4), tool_calls=(ToolCall("i", "n", "{}"),),
        request_id="r", refusal="no", reasoning="because", cost=None, pricing=None,
        latency=None, rate_limit=RateLimitInfo(remaining_requests=1), raw={"k": 1},
    )


def test_completed_equals_evolve_and_keeps_every_field() -> None:
    pricing = Pricing(input=Decimal(1), output=Decimal(2), source="test")
    response = full()
    done = response.completed(latency=0.5, cost=Decimal("0.1"), pricing=pricing)
    assert done == attrs.evolve(response, latency=0.5, cost=Decimal("0.1"), pricing=pricing)
    for field in attrs.fields(Response):  # eq=False fields (raw) and repr=False ones too
        expected = {"latency": 0.5, "cost": Decimal("0.1"), "pricing": pricing}.get(
            field.name, getattr(response, field.name))
        assert getattr(done, field.name) == expected, field.name


def test_completed_keeps_what_is_already_set() -> None:
    response = attrs.evolve(full(), latency=1.0, cost=Decimal(2))
    assert response.completed(latency=None, cost=None, pricing=None) == response
