"""AI.fake(): queued replies through the real core, and assertions on what was sent."""

from __future__ import annotations

import json

import pytest

from jtd_ai import (
    AIError,
    AIManager,
    InvalidCredentialsError,
    ProviderUnavailableError,
    RateLimitError,
    Response,
    StreamInterruptedError,
    TokenUsage,
    Tool,
)
from jtd_ai.testing.fake import FakeAI, FakeCall, FakeReply


@pytest.fixture
def manager() -> AIManager:
    return AIManager(providers={"main": {"driver": "openai-not-installed",
                                         "default_model": "m-1"}},
                     default="main", config_file=False, env={})


def test_queued_text_reaches_the_application(manager: AIManager) -> None:
    with manager.fake() as fake:
        fake.respond("Hello!", usage=TokenUsage(5, 2))
        reply = manager.conversation().system("Be nice").message("Hi").temperature(0.3).send()
    assert reply.content == "Hello!"
    assert reply.usage == TokenUsage(5, 2)
    call = fake.assert_sent("Hi", provider="main", model="m-1", temperature=0.3)
    assert call.request.messages[0].text == "Be nice"
    assert fake.call_count == 1


def test_no_key_or_driver_package_is_needed_and_nothing_leaks_out(manager: AIManager) -> None:
    with manager.fake(default="ok") as fake:
        assert manager.driver("main").send_message("x").content == "ok"
    assert fake.pending == 0
    # Outside the block the real configuration applies again (this driver is not installed).
    with pytest.raises(Exception, match="no driver named"):
        manager.driver("main")


def test_streams_tool_calls_and_history(manager: AIManager) -> None:
    with manager.fake() as fake:
        fake.respond_stream(["The ", "answer"]).respond_tool_call("lookup", {"q": "x"})
        conversation = manager.conversation()
        stream = conversation.message("first").stream()
        assert [c.delta for c in stream if c.delta] == ["The ", "answer"]
        reply = conversation.tools(Tool("lookup")).message("second").send()
    assert reply.tool_calls[0].name == "lookup"
    assert reply.tool_calls[0].parsed_arguments() == {"q": "x"}
    assert [m.text for m in conversation.history] == ["first", "The answer", "second", ""]
    assert fake.calls[0].stream is True
    assert fake.prompts == ["first", "second"]


async def test_async_and_queued_errors(manager: AIManager) -> None:
    with manager.fake() as fake:
        fake.fail(RateLimitError("slow down", status=429, retry_after=1)).respond("after")
        with pytest.raises(RateLimitError, match="slow down"):
            await manager.driver().asend_message("q")
        assert (await manager.driver().asend_message("q")).content == "after"
    assert fake.call_count == 2


def test_retries_can_be_switched_on(manager: AIManager) -> None:
    with manager.fake(retries=True) as fake:
        fake.fail(RateLimitError("slow", status=429, retry_after=0)).respond("second try")
        assert manager.driver().send_message("q").content == "second try"
    assert fake.call_count == 1  # one call by the application, answered on its second attempt
    assert fake.pending == 0


def test_an_unqueued_call_says_what_to_do(manager: AIManager) -> None:
    with manager.fake(), pytest.raises(AssertionError, match=r"fake.respond"):
        manager.driver().send_message("unexpected")


def test_assert_sent_lists_the_calls_when_nothing_matches(manager: AIManager) -> None:
    with manager.fake(["one"]) as fake:
        manager.driver().send_message("alpha")
    with pytest.raises(AssertionError, match="alpha"):
        fake.assert_sent("beta")
    with manager.fake() as quiet:
        pass
    quiet.assert_nothing_sent()


def test_batch_with_a_failing_item(manager: AIManager) -> None:
    with manager.fake() as fake:
        fake.respond("a").fail(InvalidCredentialsError("revoked", status=401)).respond("c")
        results = manager.driver().send_batch(["1", "2", "3"], concurrency=1)
    assert [getattr(r, "content", type(r).__name__) for r in results] == [
        "a", "InvalidCredentialsError", "c"]


def test_pytest_fixture_fakes_the_global_ai(ai_fake) -> None:
    from jtd_ai import AI

    ai_fake.respond("from the fixture")
    assert AI.conversation("echo").message("x").send().content == "from the fixture"
    ai_fake.assert_sent("x", provider="echo", model="echo-1")


# -- broken streams, the system prompt, reply functions, strict mode -------------------------


def test_a_stream_can_break_half_way_with_the_partial_reply(manager: AIManager) -> None:
    with manager.fake() as fake:
        fake.respond_stream(["The ", "answer ", "is ", "42"], interrupt_after=2)
        fake.respond("one two three", interrupt_after=1)
        conversation = manager.conversation()
        received: list[str] = []
        with pytest.raises(StreamInterruptedError) as broken:
            for chunk in conversation.message("q").stream():
                received.append(chunk.delta)
        words = manager.conversation().message("w").stream()
        with pytest.raises(StreamInterruptedError) as second:
            list(words)
    assert received == ["The ", "answer "]
    assert broken.value.partial is not None
    assert broken.value.partial.content == "The answer "
    assert second.value.partial is not None and second.value.partial.content == "one"
    # The broken turn never joins the history: only the question is there.
    assert [m.text for m in conversation.history] == ["q"]
    assert fake.pending == 0


async def test_an_async_stream_breaks_the_same_way(manager: AIManager) -> None:
    with manager.fake() as fake:
        fake.respond_stream(["a", "b", "c"], interrupt_after=1)
        received = []
        with pytest.raises(StreamInterruptedError) as broken:
            async for chunk in manager.conversation().message("q").astream():
                received.append(chunk.delta)
    assert received == ["a"]
    assert broken.value.partial is not None and broken.value.partial.content == "a"


def test_a_call_that_does_not_stream_gets_the_broken_connection(manager: AIManager) -> None:
    with manager.fake() as fake:
        fake.respond("never whole", interrupt_after=1).respond_stream(["x"], interrupt_after=0)
        with pytest.raises(ProviderUnavailableError, match="broke"):
            manager.conversation().message("q").send()
        # Broken before the first chunk: nothing arrived, so it is not an interruption.
        with pytest.raises(ProviderUnavailableError, match="broke"):
            list(manager.conversation().message("q").stream())


def test_interrupt_after_must_be_a_count(manager: AIManager) -> None:
    with manager.fake() as fake, pytest.raises(ValueError, match="interrupt_after"):
        fake.respond("x", interrupt_after=-1)


def test_assert_sent_matches_the_system_prompt(manager: AIManager) -> None:
    with manager.fake(default="ok") as fake:
        manager.conversation().system("Answer in French.").message("Hello").send()
        manager.conversation().message("No system here").send()
    call = fake.assert_sent("Hello", system="in French")
    assert call.system == "Answer in French."
    assert fake.calls[1].system is None
    with pytest.raises(AssertionError, match="in German") as missing:
        fake.assert_sent(system="in German")
    assert "Answer in French." in str(missing.value)  # the calls' system prompts are listed
    with pytest.raises(AssertionError):
        fake.assert_sent("No system here", system="French")


def test_replies_computed_from_the_request_drive_a_tool_loop(manager: AIManager) -> None:
    """A reply function sees the whole request, as pydantic-ai's FunctionModel: ask for the
    tool on the first turn, answer from the tool's result on the next."""
    weather = Tool("weather", "The weather in a city",
                   {"type": "object", "properties": {"city": {"type": "string"}}})

    def model(call: FakeCall) -> str | FakeReply:
        last = call.messages[-1]
        if last.role == "tool":
            return f"It is {json.loads(last.text)['sky']} in Paris."
        assert [t.name for t in call.tools] == ["weather"]
        return FakeReply.tool_call("weather", {"city": "Paris"}, call_id="call_1")

    with manager.fake() as fake:
        fake.respond_with(model, times=None)
        conversation = manager.conversation().tools(weather).message("Weather in Paris?")
        first = conversation.send()
        (call,) = first.tool_calls
        assert (call.id, call.name, call.parsed_arguments()) == (
            "call_1", "weather", {"city": "Paris"})
        conversation.tool_result(call.id, {"sky": "sunny"})
        streamed = conversation.stream()
        text = "".join(chunk.delta for chunk in streamed)
    assert text == "It is sunny in Paris."
    assert streamed.response is not None
    assert streamed.response.content == "It is sunny in Paris."
    assert fake.call_count == 2 and fake.pending == 0


def test_reply_functions_can_fail_and_return_responses(manager: AIManager) -> None:
    def by_prompt(call: FakeCall) -> str | FakeReply | Response | AIError:
        if call.prompt == "limit":
            return RateLimitError("slow down", status=429)
        if call.prompt == "full":
            return Response(content="whole", model="m-big", provider="x",
                            usage=TokenUsage(3, 1))
        return FakeReply(chunks=("par", "tial"), interrupt_after=1)

    with manager.fake() as fake:
        fake.respond_with(by_prompt, times=3).respond("last")
        with pytest.raises(RateLimitError):
            manager.driver().send_message("limit")
        full = manager.driver().send_message("full")
        with pytest.raises(StreamInterruptedError):
            list(manager.conversation().message("broken").stream())
        assert manager.driver().send_message("any").content == "last"
    assert (full.content, full.model, full.usage) == ("whole", "m-big", TokenUsage(3, 1))
    assert fake.pending == 0


def test_a_reply_function_must_return_a_reply(manager: AIManager) -> None:
    with manager.fake() as fake:
        fake.respond_with(lambda call: 42)  # type: ignore[arg-type,return-value]
        with pytest.raises(TypeError, match="returned int"):
            manager.driver().send_message("q")


def test_nothing_can_be_queued_after_a_reply_function_for_every_call(manager: AIManager) -> None:
    with manager.fake() as fake:
        fake.respond_with(lambda call: "always", times=None)
        with pytest.raises(ValueError, match="nothing queued after it"):
            fake.respond("never used")
        assert [manager.driver().send_message(str(i)).content for i in range(3)] == [
            "always"] * 3


def test_strict_mode_fails_on_unused_replies(manager: AIManager) -> None:
    with manager.fake() as fake:
        fake.respond("used").respond("left over").respond_tool_call("lookup")
        fake.respond_with(lambda call: "x", times=2)
        manager.driver().send_message("q")
    assert fake.pending == 4  # two replies, and the function's two calls
    with pytest.raises(AssertionError, match="3 scripted replies were not used") as failed:
        fake.assert_all_used()
    message = str(failed.value)
    assert "'left over'" in message and "lookup" in message and "x2" in message
    fake.finish()  # not strict: the end of the block checks nothing
    fake.strict = True
    with pytest.raises(AssertionError, match="not used"):
        fake.finish()


def test_strict_mode_passes_when_everything_was_used(manager: AIManager) -> None:
    strict = FakeAI(strict=True).respond_with(lambda call: "b", times=None)
    with pytest.raises(AssertionError, match="1 scripted reply was not used"):
        strict.finish()  # never called: even a function for every call counts as unused
    with manager.fake() as fake:
        fake.strict = True
        fake.respond("a").respond_with(lambda call: "b", times=None)
        manager.driver().send_message("1")
        manager.driver().send_message("2")
    fake.finish()
    fake.assert_all_used()


def test_a_strict_fake_block_fails_at_its_end(manager: AIManager) -> None:
    with pytest.raises(AssertionError, match="not used"), manager.fake(strict=True) as fake:
        fake.respond("never asked for")
    with manager.fake(strict=True) as used:  # every reply used: the block ends quietly
        used.respond("asked for")
        assert manager.driver().send_message("hi").content == "asked for"


def test_a_stream_request_built_twice_before_sending_is_one_call(manager: AIManager) -> None:
    # The core may build a stream's request early (to refuse bad input before anything is
    # sent) and again when it sends: that is one call, taking one scripted reply.
    with manager.fake(strict=True) as fake:
        fake.respond("only one")
        driver = manager.driver()
        request = driver.build_request("q")
        first = driver.protocol.chat_request(request, stream=True)
        assert driver.protocol.chat_request(request, stream=True) is first
        assert fake.call_count == 1 and fake.pending == 0
    with manager.fake(strict=True) as fake:
        fake.respond("one two")
        stream = manager.driver().stream("q")
        assert "".join(chunk.delta for chunk in stream) == "one two"
    assert fake.call_count == 1
