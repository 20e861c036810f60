"""What is particular to DeepSeek: cache hits billed at their price, its own error kinds,
and the thinking of a tool loop sent back."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
import stamina

from jtd_ai import AIManager, Message, ModelNotFoundError, QuotaExceededError, TokenUsage, Tool
from jtd_ai.testing import ScriptedTransport

KEY = "deepseek-test-key-example-0001"
USAGE = {"prompt_tokens": 2000, "completion_tokens": 100, "total_tokens": 2100,
         "prompt_cache_hit_tokens": 1920, "prompt_cache_miss_tokens": 80}


def reply(content: str | None = "ok", **message: object) -> dict[str, object]:
    return {"id": "x", "object": "chat.completion", "created": 1, "model": "deepseek-chat",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content, **message}}],
            "usage": USAGE}


@pytest.fixture
def deepseek():
    managers = []

    def make(*items: object):
        transport = ScriptedTransport(*items)
        manager = AIManager(config_file=False, env={"DEEPSEEK_API_KEY": KEY},
                            transports={"deepseek": transport},
                            providers={"deepseek": {"driver": "deepseek"}})
        managers.append(manager)
        return manager.driver("deepseek"), transport

    with stamina.set_testing(True, attempts=1000, cap=True):
        yield make
    for manager in managers:
        manager.close()


def test_cache_hits_are_billed_at_the_hit_price(deepseek) -> None:
    driver, _ = deepseek(httpx.Response(200, json=reply()))
    response = driver.send_message("hi")
    assert response.usage == TokenUsage(input_tokens=2000, output_tokens=100,
                                        cached_input_tokens=1920)
    # 80 x $0.56 + 1,920 x $0.07 + 100 x $1.68 = 44.8 + 134.4 + 168 = 347.2 per million;
    # billed all at the miss price it would be 1,288 per million.
    assert response.cost == Decimal("0.0003472")


def test_insufficient_balance_is_a_quota_error_and_not_retried(deepseek) -> None:
    body = {"error": {"message": "Insufficient Balance", "type": "unknown_error",
                      "param": None, "code": "invalid_request_error"}}
    driver, transport = deepseek(httpx.Response(402, json=body), httpx.Response(402, json=body))
    with pytest.raises(QuotaExceededError, match="Insufficient Balance"):
        driver.send_message("hi")
    assert len(transport.requests) == 1


def test_model_not_exist_is_model_not_found(deepseek) -> None:
    body = {"error": {"message": "Model Not Exist", "type": "invalid_request_error",
                      "param": None, "code": "invalid_request_error"}}
    driver, _ = deepseek(httpx.Response(400, json=body))
    with pytest.raises(ModelNotFoundError):
        driver.send_message("hi", model="deepseek-v9")


def test_thinking_goes_back_inside_a_tool_loop(deepseek) -> None:
    call = {"id": "call_1", "type": "function",
            "function": {"name": "get_date", "arguments": "{}"}}
    first = reply(None, tool_calls=[call], reasoning_content="I need today's date first.")
    driver, transport = deepseek(httpx.Response(200, json=first),
                                 httpx.Response(200, json=reply("It is Monday.")))
    tools = [Tool("get_date", "Today's date")]
    history = [Message.user("What day is it?")]
    answer = driver.send_message(history, tools=tools)
    assert answer.reasoning == "I need today's date first."
    history += [answer.to_message(), Message.tool("2025-09-08", call_id="call_1")]
    driver.send_message(history, tools=tools)
    sent = transport.bodies[1]["messages"][1]
    assert sent["role"] == "assistant"
    assert sent["reasoning_content"] == "I need today's date first."
    assert "reasoning_content" not in transport.bodies[1]["messages"][0]


def test_a_finished_turn_sends_no_reasoning_back(deepseek) -> None:
    driver, transport = deepseek(httpx.Response(200, json=reply("Hi", reasoning_content="Hm.")),
                                 httpx.Response(200, json=reply()))
    first = driver.send_message("hi")
    driver.send_message([Message.user("hi"), first.to_message(), Message.user("again")])
    assert "reasoning_content" not in transport.bodies[1]["messages"][1]


def test_the_driver_is_at_most_forty_lines() -> None:
    from pathlib import Path

    import jtd_ai_deepseek.protocol as module

    assert len(Path(module.__file__).read_text().splitlines()) <= 40
