"""The direct reader of common replies gives what cattrs gives, and refuses the rest."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from jtd_ai.convert import structure_wire
from jtd_ai.errors import MalformedResponseError
from jtd_ai_openai.wire import ChatCompletion, read_completion


def completion(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi."},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12,
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0}},
    }
    data.update(changes)
    return data


def with_message(**message: Any) -> dict[str, Any]:
    data = completion()
    data["choices"][0]["message"] = {"role": "assistant", **message}
    return data


COMMON = {
    "plain": completion(),
    "no usage": completion(usage=None),
    "usage left out": {k: v for k, v in completion().items() if k != "usage"},
    "usage without details": completion(usage={"prompt_tokens": 1, "completion_tokens": 2}),
    "details null": completion(usage={"prompt_tokens": 1, "completion_tokens": 2,
                                      "total_tokens": 3, "prompt_tokens_details": None,
                                      "completion_tokens_details": {}}),
    "refusal": with_message(content=None, refusal="I can't help with that."),
    "xai reasoning": with_message(content="4", reasoning_content="2+2 is 4"),
    "compatible reasoning": with_message(content="4", reasoning="2+2"),
    "no finish reason": completion(choices=[{"message": {"content": "x"}}]),
    "two choices": completion(choices=[
        {"index": 1, "message": {"content": "b"}, "finish_reason": "length"},
        {"index": 0, "message": {"content": "a"}, "finish_reason": "stop"}]),
    "no choices": completion(choices=[]),
}


@pytest.mark.parametrize("name", sorted(COMMON))
def test_common_replies_read_directly_equal_cattrs(name: str) -> None:
    data = COMMON[name]
    direct = read_completion(copy.deepcopy(data))
    assert direct is not None
    assert direct == structure_wire(copy.deepcopy(data), ChatCompletion, provider="openai")


UNCOMMON = {
    "tool calls": with_message(content=None, tool_calls=[
        {"id": "call_1", "type": "function",
         "function": {"name": "f", "arguments": "{}"}}]),
    "count as text": completion(usage={"prompt_tokens": "9", "completion_tokens": 3}),
    "count as bool": completion(usage={"prompt_tokens": True, "completion_tokens": 3}),
    "count as float": completion(usage={"prompt_tokens": 9.0, "completion_tokens": 3}),
    "content not text": with_message(content=5),
    "model missing": {k: v for k, v in completion().items() if k != "model"},
    "choices not a list": completion(choices={"0": {}}),
    "message missing": completion(choices=[{"index": 0}]),
    "cached count odd": completion(usage={"prompt_tokens": 1, "completion_tokens": 2,
                                          "prompt_tokens_details": {"cached_tokens": "0"}}),
    "not an object": [completion()],
}


@pytest.mark.parametrize("name", sorted(UNCOMMON))
def test_anything_else_is_left_to_cattrs(name: str) -> None:
    data = UNCOMMON[name]
    assert read_completion(data) is None
    try:
        slow: ChatCompletion | None = structure_wire(data, ChatCompletion, provider="openai")
    except MalformedResponseError:
        return  # cattrs names the field; the direct reader must not have accepted it
    assert slow is not None


def chunk(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
        "model": "gpt-4o-mini", "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "delta": {"content": "Hel"}, "logprobs": None,
                     "finish_reason": None}],
    }
    data.update(changes)
    return data


CHUNKS = {
    "content": (chunk(), True),
    "openai's own, with usage null": (chunk(usage=None, obfuscation="x1",
                                             service_tier="default"), True),
    "role first": (chunk(choices=[{"index": 0, "delta": {"role": "assistant", "content": ""},
                                   "finish_reason": None}]), False),
    "finish": (chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]), False),
    "usage last": (chunk(choices=[], usage={"prompt_tokens": 5, "completion_tokens": 7,
                                            "total_tokens": 12}), False),
    "reasoning": (chunk(choices=[{"index": 0, "delta": {"reasoning_content": "hmm"}}]), False),
    "refusal": (chunk(choices=[{"index": 0, "delta": {"refusal": "no"}}]), False),
    "tool call": (chunk(choices=[{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": ""}}]}}]), False),
    "two choices": (chunk(choices=[{"index": 0, "delta": {"content": "a"}},
                                   {"index": 1, "delta": {"content": "b"}}]), False),
    "no model": ({"choices": [{"delta": {"content": "x"}}]}, True),
}


@pytest.mark.parametrize("name", sorted(CHUNKS))
def test_the_content_only_path_serves_content_and_gives_the_general_paths_chunks(
        name: str) -> None:
    """The direct path takes content-only events (OpenAI's own chunks carry "usage": null
    with include_usage, and an "obfuscation" field) and gives what the general path gives;
    every other event goes the general way."""
    from jtd_ai import AIManager
    from jtd_ai.protocol import StreamEvent

    payload, served = CHUNKS[name]
    driver = AIManager(providers={"o": {"driver": "openai", "api_key": "sk-test-fast-path",
                                        "default_model": "gpt-4o-mini"}},
                       config_file=False, env={}).driver("o")
    request = driver.build_request("hi")
    direct = driver.protocol.stream_decoder(request)
    assert (direct._text_only(copy.deepcopy(payload)) is not None) is served
    general = driver.protocol.stream_decoder(request)
    general._text_only = lambda payload: None  # type: ignore[method-assign]
    event = StreamEvent(json.dumps(payload))
    assert list(direct.feed(event)) == list(general.feed(event))
    assert direct.model == general.model


@pytest.mark.parametrize("index", [None, "x", [], {}, 1.0])
def test_an_odd_index_leaves_the_content_only_path(index: object) -> None:
    from jtd_ai import AIManager

    driver = AIManager(providers={"o": {"driver": "openai", "api_key": "sk-test-fast-path",
                                        "default_model": "gpt-4o-mini"}},
                       config_file=False, env={}).driver("o")
    decoder = driver.protocol.stream_decoder(driver.build_request("hi"))
    payload = chunk(choices=[{"index": index, "delta": {"content": "x"}}])
    assert decoder._text_only(payload) is None
