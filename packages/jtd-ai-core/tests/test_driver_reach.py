"""What a driver can now say: billed versus processed tokens, a turn's reasoning and provider
data to send back, and metadata on a tool call that equality leaves out."""

from __future__ import annotations

from decimal import Decimal

from jtd_ai import Message, Pricing, Response, StreamChunk, TokenUsage, ToolCall, ToolCallDelta
from jtd_ai.streaming import StreamAccumulator


def test_billed_tokens_default_to_the_processed_ones() -> None:
    usage = TokenUsage(input_tokens=900, output_tokens=90, cached_input_tokens=100)
    assert usage.billed() is usage


def test_billed_tokens_replace_the_processed_ones_where_stated() -> None:
    # Cohere's billed_units: 900 processed input tokens of which 800 billed.
    usage = TokenUsage(input_tokens=900, output_tokens=90, billed_input_tokens=800)
    assert usage.billed() == TokenUsage(input_tokens=800, output_tokens=90)
    assert usage.total_tokens == 990  # processed


def test_cost_follows_the_billed_tokens() -> None:
    price = Pricing(input="2.00", output="8.00", source="test")
    usage = TokenUsage(input_tokens=900, output_tokens=90, billed_input_tokens=800,
                       billed_output_tokens=80)
    # 800 x 2 + 80 x 8 = 2,240 per million (the processed counts would give 2,520).
    assert price.cost(usage) == Decimal("0.00224")


def test_billed_counts_add_up() -> None:
    stated = TokenUsage(10, 5, billed_input_tokens=8)
    plain = TokenUsage(20, 5)
    total = stated + plain
    assert (total.input_tokens, total.billed_input_tokens) == (30, 28)
    assert total.billed_output_tokens is None
    assert (plain + plain).billed_input_tokens is None


def test_tool_call_metadata_is_kept_out_of_equality() -> None:
    signed = ToolCall("c1", "f", "{}", metadata={"thought_signature": "c2ln"})
    plain = ToolCall("c1", "f", "{}")
    assert signed == plain and hash(signed) == hash(plain)
    assert signed.metadata == {"thought_signature": "c2ln"}
    assert "c2ln" not in repr(signed)


def test_an_assistant_turn_carries_its_reasoning_and_metadata() -> None:
    reply = Response("4", "m", "p", reasoning="2 + 2", metadata={"thinking": [{"s": "x"}]},
                     tool_calls=[ToolCall("c1", "f", "{}", metadata={"k": "v"})])
    turn = reply.to_message()
    assert turn.reasoning == "2 + 2"
    assert turn.metadata == {"thinking": [{"s": "x"}]}
    assert turn.tool_calls[0].metadata == {"k": "v"}
    assert turn == Message.assistant("4", tool_calls=[ToolCall("c1", "f", "{}")])
    done = reply.completed(latency=1.0, cost=None, pricing=None)
    assert done.metadata == reply.metadata


def test_a_stream_keeps_tool_call_metadata() -> None:
    accumulator = StreamAccumulator("p", "m")
    accumulator.add(StreamChunk(tool_calls=[ToolCallDelta(0, "c1", "f", '{"a"',
                                                          metadata={"thought_signature": "s"})]))
    accumulator.add(StreamChunk(tool_calls=[ToolCallDelta(0, arguments=": 1}")]))
    (call,) = accumulator.response().tool_calls
    assert (call.arguments, call.metadata) == ('{"a": 1}', {"thought_signature": "s"})


def test_billed_counts_cannot_be_negative() -> None:
    import pytest

    from jtd_ai import ValidationError

    with pytest.raises(ValidationError, match="billed_input_tokens"):
        TokenUsage(10, 5, billed_input_tokens=-1)
