"""AI.fake(): queued replies through the real core, and assertions on what was sent."""

from __future__ import annotations

import pytest

from jtd_ai import AIManager, InvalidCredentialsError, RateLimitError, TokenUsage, Tool


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
