"""Non-streamed chat with Ollama: the /api/chat body we send and the Response we read."""

from __future__ import annotations

from decimal import Decimal

import pytest

from jtd_ai import (
    FinishReason,
    ImagePart,
    MalformedResponseError,
    Message,
    ResponseFormat,
    TokenUsage,
    ValidationError,
)


def test_text_reply_request_and_response(ollama, wire) -> None:
    driver, server = ollama(wire.ok(wire.final("Hello! How are you today?")))
    reply = driver.send_message(
        [Message.system("Be brief."), Message.user("why is the sky blue?")],
        temperature=0.2, top_p=0.8, seed=42, stop=["\n\n"], max_tokens=64,
    )
    request = server.requests[0]
    assert (request.method, str(request.url)) == ("POST", "http://localhost:11434/api/chat")
    assert "authorization" not in request.headers
    assert server.bodies[0] == {
        "model": "llama3.2",
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "why is the sky blue?"}],
        "stream": False,
        "options": {"temperature": 0.2, "top_p": 0.8, "seed": 42, "stop": ["\n\n"],
                    "num_predict": 64},
    }
    assert reply.content == "Hello! How are you today?"
    assert reply.finish_reason is FinishReason.STOP
    assert reply.usage == TokenUsage(input_tokens=26, output_tokens=298)
    assert reply.model == "llama3.2"
    assert reply.cost == Decimal(0)  # local: usage recorded, nothing billed


async def test_async_send_matches_sync(ollama, wire) -> None:
    driver, server = ollama(wire.ok(wire.final("hi")), wire.ok(wire.final("hi")))
    sync = driver.send_message("hello")
    asynchronous = await driver.asend_message("hello")
    await driver.aclose()
    assert (asynchronous.content, asynchronous.usage) == (sync.content, sync.usage)
    assert server.bodies[0] == server.bodies[1]


def test_length_stop_and_missing_metrics(ollama, wire) -> None:
    cut = wire.final("1, 2, 3", reason="length")
    bare = {"model": "llama3.2", "message": {"role": "assistant", "content": "ok"},
            "done": True}  # old server: no done_reason, zero metrics omitted
    driver, _ = ollama(wire.ok(cut), wire.ok(bare))
    assert driver.send_message("count").finish_reason is FinishReason.LENGTH
    reply = driver.send_message("x")
    assert reply.finish_reason is FinishReason.STOP
    assert reply.usage == TokenUsage(0, 0)


def test_thinking_goes_to_reasoning(ollama, wire) -> None:
    driver, server = ollama(wire.ok(wire.final("42", thinking="6 times 7")))
    reply = driver.send_message("6*7?", extra={"think": True})
    assert (reply.content, reply.reasoning) == ("42", "6 times 7")
    assert server.bodies[0]["think"] is True


def test_images_are_sent_as_bare_base64(ollama, wire) -> None:
    driver, server = ollama(wire.ok(wire.final("a cat")))
    images = [ImagePart.from_bytes(b"\x89PNG", "image/png"),
              ImagePart(url="data:image/jpeg;base64,/9j/AA==")]
    driver.send_message(Message.user("what is this?", images=images))
    assert server.bodies[0]["messages"] == [
        {"role": "user", "content": "what is this?", "images": ["iVBORw==", "/9j/AA=="]}]


def test_url_images_are_refused_before_sending(ollama) -> None:
    driver, server = ollama()
    with pytest.raises(ValidationError, match="bytes"):
        driver.send_message(Message.user("x", images=[ImagePart(url="https://x.test/cat.png")]))
    assert server.requests == []


def test_format_for_json_and_schemas(ollama, wire) -> None:
    schema = {"type": "object", "properties": {"age": {"type": "integer"}},
              "required": ["age"], "additionalProperties": False}
    driver, server = ollama(wire.ok(wire.final("{}")), wire.ok(wire.final("{}")))
    driver.send_message("x", response_format="json")
    driver.send_message("x", response_format=ResponseFormat.json_schema(schema))
    assert server.bodies[0]["format"] == "json"
    assert server.bodies[1]["format"] == schema


def test_provider_options_then_request_then_extra(ollama, wire) -> None:
    driver, server = ollama(wire.ok(wire.final("ok")), num_ctx=8192, keep_alive="10m",
                            options={"top_k": 20, "temperature": 1.0})
    driver.send_message("x", temperature=0.1,
                        extra={"options": {"repeat_penalty": 1.1}, "keep_alive": 0})
    body = server.bodies[0]
    assert body["options"] == {"top_k": 20, "temperature": 0.1, "num_ctx": 8192,
                               "repeat_penalty": 1.1}
    assert body["keep_alive"] == 0


def test_base_url_from_ollama_host_without_scheme(ollama_ai, wire) -> None:
    manager, server = ollama_ai(wire.ok(wire.final("ok")), env={"OLLAMA_HOST": "gpu-box:11500"})
    manager.driver("ollama").send_message("x")
    assert str(server.requests[0].url) == "http://gpu-box:11500/api/chat"


def test_base_url_ending_in_api_and_hosted_key(ollama_ai, wire) -> None:
    key = "ollama-test-key-0123456789"
    manager, server = ollama_ai(wire.ok(wire.final("ok")), base_url="https://ollama.com/api",
                                env={"OLLAMA_API_KEY": key})
    driver = manager.driver("ollama")
    driver.send_message("x", model="gpt-oss:120b")
    request = server.requests[0]
    assert str(request.url) == "https://ollama.com/api/chat"
    assert request.headers["authorization"] == f"Bearer {key}"
    assert key not in repr(driver) + repr(driver.protocol) + repr(driver.config)


def test_an_error_body_with_status_200_is_not_taken_for_a_reply(ollama, wire) -> None:
    driver, _ = ollama(wire.ok({"error": "something odd"}))
    with pytest.raises(MalformedResponseError, match="something odd"):
        driver.send_message("x")


def test_missing_model_is_a_validation_error_before_sending(ollama_ai) -> None:
    manager, server = ollama_ai(default_model=None)
    with pytest.raises(ValidationError, match="model"):
        manager.driver("ollama").send_message("x")
    assert server.requests == []
