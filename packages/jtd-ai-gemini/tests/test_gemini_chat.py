"""Non-streamed chat with Gemini: the request we send and the Response we read back."""

from __future__ import annotations

import json

import httpx
import pytest

from jtd_ai import (
    ContentFilteredError,
    FinishReason,
    ImagePart,
    InvalidCredentialsError,
    MalformedResponseError,
    Message,
    ResponseFormat,
    TokenUsage,
    ValidationError,
)


def test_text_reply_request_and_response(gemini, wire, key) -> None:
    body = wire.reply({"text": "Olá"}, {"text": "!"}, usage=wire.usage(11, 2, thoughts=24),
                      response_id="r-42")
    driver, server = gemini(wire.ok(body))
    reply = driver.send_message(
        [Message.system("Be brief."), Message.user("Say hi in Portuguese")],
        temperature=0.3, top_p=0.9, max_tokens=100, stop=["END"], seed=7,
    )
    request = server.requests[0]
    assert request.method == "POST"
    assert str(request.url) == ("https://generativelanguage.googleapis.com/v1beta/models/"
                                "gemini-2.5-flash:generateContent")
    assert request.headers["x-goog-api-key"] == key
    assert server.bodies[0] == {
        "contents": [{"role": "user", "parts": [{"text": "Say hi in Portuguese"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.3, "topP": 0.9, "maxOutputTokens": 100,
                             "stopSequences": ["END"], "seed": 7},
    }
    assert reply.content == "Olá!"
    assert reply.finish_reason is FinishReason.STOP
    assert reply.model == "gemini-2.5-flash"
    assert reply.request_id == "r-42"
    assert reply.usage == TokenUsage(input_tokens=11, output_tokens=26, reasoning_tokens=24)
    assert reply.reasoning is None


async def test_async_send_matches_sync(gemini, wire) -> None:
    body = wire.reply({"text": "hello"}, usage=wire.usage(3, 1))
    driver, server = gemini(wire.ok(body), wire.ok(body))
    sync = driver.send_message("hi")
    asynchronous = await driver.asend_message("hi")
    await driver.aclose()
    assert asynchronous.content == sync.content == "hello"
    assert asynchronous.usage == sync.usage
    assert server.bodies[0] == server.bodies[1]


def test_thought_parts_go_to_reasoning_not_content(gemini, wire) -> None:
    body = wire.reply({"text": "**Thinking** about it", "thought": True},
                      {"text": "Scoop", "thoughtSignature": "c2ln"},
                      usage=wire.usage(11, 2, thoughts=291))
    driver, _ = gemini(wire.ok(body))
    reply = driver.send_message("name a dog")
    assert reply.content == "Scoop"
    assert reply.reasoning == "**Thinking** about it"
    assert reply.usage is not None and reply.usage.output_tokens == 293


def test_cached_and_tool_use_prompt_tokens_count_as_input(gemini, wire) -> None:
    usage = {"promptTokenCount": 1000, "cachedContentTokenCount": 600,
             "toolUsePromptTokenCount": 50, "candidatesTokenCount": 10,
             "totalTokenCount": 1060}
    driver, _ = gemini(wire.ok(wire.reply({"text": "ok"}, usage=usage)))
    assert driver.send_message("hi").usage == TokenUsage(
        input_tokens=1050, output_tokens=10, cached_input_tokens=600)


def test_max_tokens_finish_is_length(gemini, wire) -> None:
    driver, _ = gemini(wire.ok(wire.reply({"text": "1, 2,"}, finish="MAX_TOKENS")))
    reply = driver.send_message("count", max_tokens=5)
    assert reply.finish_reason is FinishReason.LENGTH
    assert reply.content == "1, 2,"


def test_images_inline_data_url_and_file_uri(gemini, wire) -> None:
    driver, server = gemini(wire.ok(wire.reply({"text": "a cat"})))
    images = [ImagePart.from_bytes(b"\x89PNG", "image/png"),
              ImagePart(url="data:image/jpeg;base64,/9j/AA=="),
              ImagePart(url="https://generativelanguage.googleapis.com/v1beta/files/abc",
                        media_type="image/webp")]
    driver.send_message(Message.user("what is this?", images=images))
    assert server.bodies[0]["contents"][0]["parts"] == [
        {"text": "what is this?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw=="}},
        {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/AA=="}},
        {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc",
                      "mimeType": "image/webp"}},
    ]


def test_bad_data_url_is_refused_before_sending(gemini) -> None:
    driver, server = gemini()
    with pytest.raises(ValidationError, match="data: URL"):
        driver.send_message(Message.user("x", images=[ImagePart(url="data:image/png,raw")]))
    assert server.requests == []


def test_json_mode_and_schemas(gemini, wire) -> None:
    simple = {"type": "object", "properties": {"city": {"type": "string"}},
              "required": ["city"]}
    strict = {**simple, "additionalProperties": False}
    driver, server = gemini(*(wire.ok(wire.reply({"text": "{}"})) for _ in range(3)))
    driver.send_message("x", response_format="json")
    driver.send_message("x", response_format=ResponseFormat.json_schema(simple))
    driver.send_message("x", response_format=ResponseFormat.json_schema(strict))
    configs = [b["generationConfig"] for b in server.bodies]
    assert configs[0] == {"responseMimeType": "application/json"}
    assert configs[1] == {"responseMimeType": "application/json", "responseSchema": simple}
    assert configs[2] == {"responseMimeType": "application/json", "responseJsonSchema": strict}


def test_extra_and_provider_options_are_merged_deeply(gemini, wire) -> None:
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    driver, server = gemini(
        wire.ok(wire.reply({"text": "ok"})),
        generation_config={"topK": 40, "temperature": 1.0}, safety_settings=safety,
    )
    driver.send_message("x", temperature=0.5, extra={
        "generationConfig": {"thinkingConfig": {"includeThoughts": True}},
        "cachedContent": "cachedContents/abc",
    })
    body = server.bodies[0]
    assert body["generationConfig"] == {"topK": 40, "temperature": 0.5,
                                        "thinkingConfig": {"includeThoughts": True}}
    assert body["safetySettings"] == safety
    assert body["cachedContent"] == "cachedContents/abc"


def test_model_names_with_prefix_and_tuned_models(gemini, wire) -> None:
    driver, server = gemini(wire.ok(wire.reply({"text": "a"})), wire.ok(wire.reply({"text": "b"})))
    driver.send_message("x", model="models/gemini-2.5-pro")
    driver.send_message("x", model="tunedModels/my-model-1")
    assert server.requests[0].url.path == "/v1beta/models/gemini-2.5-pro:generateContent"
    assert server.requests[1].url.path == "/v1beta/tunedModels/my-model-1:generateContent"


def test_empty_assistant_turn_is_left_out_of_the_history(gemini, wire) -> None:
    driver, server = gemini(wire.ok(wire.reply({"text": "ok"})))
    driver.send_message([Message.user("a"), Message.assistant(""), Message.user("b")])
    assert [c["role"] for c in server.bodies[0]["contents"]] == ["user", "user"]


def test_safety_finish_is_content_filtered_with_category_and_partial(gemini, wire) -> None:
    ratings = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
               {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "LOW", "blocked": True}]
    body = wire.reply({"text": "Well"}, finish="SAFETY", safetyRatings=ratings,
                      usage=wire.usage(8, 1))
    driver, _ = gemini(wire.ok(body))
    with pytest.raises(ContentFilteredError) as info:
        driver.send_message("something")
    assert info.value.category == "HARM_CATEGORY_HATE_SPEECH"
    assert "HARM_CATEGORY_HATE_SPEECH" in str(info.value)
    assert info.value.partial is not None and info.value.partial.content == "Well"
    assert info.value.partial.finish_reason is FinishReason.CONTENT_FILTER


def test_candidate_blocked_with_empty_content(gemini, wire) -> None:
    body = {"candidates": [{"content": {}, "finishReason": "SAFETY", "index": 0,
                            "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT",
                                               "probability": "HIGH"}]}],
            "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}}
    driver, _ = gemini(wire.ok(body))
    with pytest.raises(ContentFilteredError) as info:
        driver.send_message("x")
    assert info.value.category == "HARM_CATEGORY_DANGEROUS_CONTENT"


def test_recitation_is_content_filtered_named_by_reason(gemini, wire) -> None:
    driver, _ = gemini(wire.ok(wire.reply({"text": "It was the best"}, finish="RECITATION")))
    with pytest.raises(ContentFilteredError) as info:
        driver.send_message("quote a book")
    assert info.value.category == "RECITATION"


@pytest.mark.parametrize(("ratings", "reason", "category"), [
    ([{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
      {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "HIGH"},
      {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "MEDIUM"}],
     "SAFETY", "HARM_CATEGORY_HATE_SPEECH"),
    ([], "PROHIBITED_CONTENT", "PROHIBITED_CONTENT"),
])
def test_blocked_prompt_names_the_category(gemini, wire, ratings, reason, category) -> None:
    body = {"promptFeedback": {"blockReason": reason, "safetyRatings": ratings},
            "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}}
    driver, server = gemini(wire.ok(body))
    with pytest.raises(ContentFilteredError) as info:
        driver.send_message("bad words")
    assert info.value.category == category
    assert reason in str(info.value)
    assert len(server.requests) == 1  # a refusal is not retried


def test_reply_without_candidates_is_malformed(gemini, wire) -> None:
    driver, _ = gemini(wire.ok({"usageMetadata": {"promptTokenCount": 1}}))
    with pytest.raises(MalformedResponseError):
        driver.send_message("x")


def test_missing_required_wire_field_names_it(gemini, wire) -> None:
    body = wire.reply({"functionCall": {"args": {"a": 1}}})
    driver, _ = gemini(wire.ok(body))
    with pytest.raises(MalformedResponseError, match=r"functionCall\.name"):
        driver.send_message("x")


def test_the_key_is_never_in_urls_reprs_or_errors(gemini, wire, key) -> None:
    echoed = wire.error(400, "INVALID_ARGUMENT", f"bad key {key}",
                        {"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                         "reason": "API_KEY_INVALID"})
    driver, server = gemini(wire.ok(wire.reply({"text": "hi"})),
                            httpx.Response(400, json=echoed))
    reply = driver.send_message("hi")
    with pytest.raises(InvalidCredentialsError) as info:
        driver.send_message("hi")
    for request in server.requests:
        assert key not in str(request.url)
    texts = [repr(driver), repr(driver.protocol), repr(driver.config), repr(reply),
             str(info.value), repr(info.value), info.value.body_excerpt or "",
             json.dumps(server.bodies)]
    assert all(key not in text for text in texts)


# -- finish reasons that mean a block (issue 16: some came back as an empty reply, OTHER) -----
#: Gemini's FinishReason values that say a filter stopped the reply (ai.google.dev
#: GenerateContentResponse.FinishReason; MODEL_ARMOR from the Vertex/genai SDK enums).
BLOCKS = ["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
          "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR"]


@pytest.mark.parametrize("reason", BLOCKS)
async def test_a_block_finish_is_content_filtered_with_its_message(gemini, wire, reason,
                                                                   ) -> None:
    message = f"The response was blocked ({reason.lower()})."
    body = {"candidates": [{"content": {}, "finishReason": reason, "index": 0,
                            "finishMessage": message}],
            "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7},
            "modelVersion": "gemini-2.5-flash", "responseId": "r-block"}
    driver, server = gemini(wire.ok(body), wire.ok(body))
    for error in (pytest.raises(ContentFilteredError), pytest.raises(ContentFilteredError)):
        with error as info:
            if len(server.requests) == 0:
                driver.send_message("x")
            else:
                await driver.asend_message("x")
        assert info.value.category == reason
        assert info.value.finish_message == message
        assert message in str(info.value)
        assert info.value.code == reason
    assert len(server.requests) == 2  # a block is not retried
