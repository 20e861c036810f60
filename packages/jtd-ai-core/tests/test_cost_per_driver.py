"""Cost of one reply through each built-in driver, against figures worked out by hand.

Each driver reports usage its own way (OpenAI counts reasoning inside completion tokens, xAI
outside; Gemini reports thoughts apart from candidates; Ollama is free). The reply bodies
below use each wire format; the prices are the drivers' dated tables (2026-11-24). Each
test also checks the ledger row, so the tokens by kind are stored as billed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from jtd_ai import AIManager, Response


def reply_through(tmp_path: Any, driver: str, body: dict[str, Any], model: str,
                  **env: str) -> tuple[Response, Any]:
    pytest.importorskip(f"jtd_ai_{driver}")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
    with AIManager(providers={driver: {"retry_attempts": 1}}, config_file=False, env=env,
                   transports={driver: transport},
                   store={"path": str(tmp_path / "db")}) as ai:
        response = ai.driver(driver).send_message("hi", model=model)
        [row] = ai.usage.records()
    return response, row


def openai_body(model: str, prompt: int, cached: int, completion: int, reasoning: int,
                total: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "total_tokens": total, "prompt_tokens_details": {"cached_tokens": cached},
                  "completion_tokens_details": {"reasoning_tokens": reasoning}},
    }


def test_openai_cached_input_and_reasoning_inside_output(tmp_path) -> None:
    body = openai_body("gpt-4o", 10_000, 4_000, 2_000, 500, 12_000)
    reply, row = reply_through(tmp_path, "openai", body, "gpt-4o", OPENAI_API_KEY="k")
    # gpt-4o: $2.50 in, $1.25 cached, $10 out (reasoning billed as output)
    # 6,000 x 2.50 + 4,000 x 1.25 + 2,000 x 10 = 15,000 + 5,000 + 20,000 = 40,000 / 1e6
    assert reply.cost == Decimal("0.04")
    assert (row.input_tokens, row.cached_input_tokens, row.output_tokens,
            row.reasoning_tokens) == (10_000, 4_000, 2_000, 500)
    assert row.cost == Decimal("0.04")
    assert row.price_source == "openai pricing page" and row.price_as_of is not None


def test_xai_reasoning_outside_completion_tokens(tmp_path) -> None:
    # xAI leaves reasoning out of completion_tokens: total = 10,000 + 1,500 + 1,200.
    body = openai_body("grok-4-fast-reasoning", 10_000, 6_000, 1_500, 1_200, 12_700)
    reply, row = reply_through(tmp_path, "xai", body, "grok-4-fast", XAI_API_KEY="k")
    # grok-4-fast: $0.20 in, $0.05 cached, $0.50 out; output = 1,500 + 1,200 = 2,700
    # 4,000 x 0.20 + 6,000 x 0.05 + 2,700 x 0.50 = 800 + 300 + 1,350 = 2,450 / 1e6
    assert reply.cost == Decimal("0.00245")
    assert (row.output_tokens, row.reasoning_tokens) == (2_700, 1_200)


def gemini_body(prompt: int, cached: int, candidates: int, thoughts: int) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"parts": [{"text": "ok"}], "role": "model"},
                        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": prompt, "cachedContentTokenCount": cached,
                          "candidatesTokenCount": candidates, "thoughtsTokenCount": thoughts,
                          "totalTokenCount": prompt + candidates + thoughts},
        "modelVersion": "gemini-2.5-pro", "responseId": "r1",
    }


def test_gemini_long_prompt_tier_and_thoughts_as_output(tmp_path) -> None:
    body = gemini_body(250_000, 50_000, 1_000, 3_000)
    reply, row = reply_through(tmp_path, "gemini", body, "gemini-2.5-pro",
                               GEMINI_API_KEY="k")
    # Above 200k prompt tokens every token is at the long rates: $2.50 in, $0.25 cached,
    # $15 out; output = 1,000 candidates + 3,000 thoughts.
    # 200,000 x 2.50 + 50,000 x 0.25 + 4,000 x 15 = 500,000 + 12,500 + 60,000 = 572,500 / 1e6
    assert reply.cost == Decimal("0.5725")
    assert (row.input_tokens, row.cached_input_tokens, row.output_tokens,
            row.reasoning_tokens) == (250_000, 50_000, 4_000, 3_000)


def test_gemini_short_prompt_base_rates(tmp_path) -> None:
    reply, _ = reply_through(tmp_path, "gemini", gemini_body(1_000, 0, 500, 0),
                             "gemini-2.5-pro", GEMINI_API_KEY="k")
    # 1,000 x 1.25 + 500 x 10 = 1,250 + 5,000 = 6,250 / 1e6
    assert reply.cost == Decimal("0.00625")


def test_ollama_is_free_and_says_so(tmp_path) -> None:
    body = {"model": "llama3.2", "created_at": "2026-11-24T00:00:00Z",
            "message": {"role": "assistant", "content": "ok"}, "done": True,
            "done_reason": "stop", "prompt_eval_count": 26, "eval_count": 290}
    reply, row = reply_through(tmp_path, "ollama", body, "llama3.2")
    assert reply.cost == 0
    assert (row.input_tokens, row.output_tokens, row.cost) == (26, 290, Decimal(0))
    assert reply.pricing is not None and "ollama" in reply.pricing.source
