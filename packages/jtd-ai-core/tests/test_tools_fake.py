"""An application tests its tool loop offline with ``AI.fake()``: scripted tool calls
(one, several at once, from a reply function), ``respond_via_tool`` to check the result
went back, strict mode; and what only a script can ask for: parallel calls, a model that
never stops calling, a call of a tool that does not exist."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from typing import Any

import pytest

from jtd_ai import AI, AIManager, MaxStepsError, ToolCall, ToolError
from jtd_ai.testing import FakeCall, FakeReply
from jtd_ai.tools import ToolResult


@pytest.fixture
def ai() -> Any:
    manager = AIManager(providers={"openai": {"default_model": "gpt-4o-mini"}},
                        default="openai", config_file=False, env={})
    yield manager
    manager.close()


# -- the application under test ------------------------------------------------------------------

def weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: The city's name.
    """
    return {"Paris": "18 C and sunny", "Oslo": "4 C and snow"}[city]


def ask(manager: AIManager, question: str) -> str:
    return manager.conversation().tools(weather).message(question).run().content


# -- testing it ----------------------------------------------------------------------------------


def test_respond_via_tool_checks_the_whole_loop(ai: AIManager) -> None:
    with ai.fake(strict=True) as fake:
        fake.respond_via_tool("weather", {"city": "Paris"},
                              answer=lambda result: f"In Paris: {result}.")
        assert ask(ai, "Weather in Paris?") == "In Paris: 18 C and sunny."
    first, second = fake.calls
    assert [t.name for t in first.tools] == ["weather"]
    assert first.tools[0].parameters["properties"]["city"]["description"] == "The city's name."
    (result,) = second.tool_results
    assert (result.name, result.text) == ("weather", "18 C and sunny")
    assert result.tool_call_id == fake.calls[1].messages[1].tool_calls[0].id


def test_respond_via_tool_answers_with_the_result_by_default(ai: AIManager) -> None:
    with ai.fake(strict=True) as fake:
        fake.respond_via_tool("weather", {"city": "Oslo"})
        assert ask(ai, "Oslo?") == "4 C and snow"


def test_respond_via_tool_fails_when_the_result_is_not_sent(ai: AIManager) -> None:
    with ai.fake() as fake:
        fake.respond_via_tool("weather", {"city": "Paris"})
        conversation = ai.conversation().tools(weather).message("Paris?")
        conversation.send()  # the application forgets to run the tool
        with pytest.raises(AssertionError, match="should send the result of the 'weather'"):
            conversation.message("well?").send()


def test_strict_mode_fails_on_a_loop_that_stopped_early(ai: AIManager) -> None:
    with pytest.raises(AssertionError, match="1 scripted reply was not used"), \
            ai.fake(strict=True) as fake:
        fake.respond_via_tool("weather", {"city": "Paris"})
        ai.conversation().tools(weather).message("Paris?").send()  # no run(): one call only


def test_a_reply_function_can_play_the_model(ai: AIManager) -> None:
    def model(call: FakeCall) -> str | FakeReply:
        if not call.tool_results:
            city = call.prompt.split()[-1].rstrip("?")
            return FakeReply.tool_call("weather", {"city": city})
        return f"Model says: {call.tool_results[-1].text}"

    with ai.fake() as fake:
        fake.respond_with(model, times=None)
        assert ask(ai, "Weather in Oslo?") == "Model says: 4 C and snow"
        assert ask(ai, "Weather in Paris?") == "Model says: 18 C and sunny"
    assert fake.call_count == 4


def test_the_stream_variant_runs_offline_too(ai: AIManager) -> None:
    with ai.fake(strict=True) as fake:
        fake.respond_via_tool("weather", {"city": "Paris"}, answer="Sunny in Paris.")
        events = list(ai.conversation().tools(weather).message("Paris?").run_stream())
    assert [type(e).__name__ for e in events] == [
        "ToolCallRequested", "ToolResult", "TextDelta", "TextDelta", "TextDelta",
        "FinalResponse"]
    assert events[-1].response.content == "Sunny in Paris."
    assert all(call.stream for call in fake.calls)


# -- several calls at once -------------------------------------------------------------------------


def test_sync_run_with_parallel_runs_one_replys_calls_in_threads(ai: AIManager) -> None:
    barrier = threading.Barrier(3, timeout=10)  # each call waits for the other two
    threads: set[str] = set()

    def slow(city: str) -> str:
        threads.add(threading.current_thread().name)
        barrier.wait()
        return f"{city}: ok"

    with ai.fake(strict=True) as fake:
        fake.respond_tool_calls(("slow", {"city": "A"}), ("slow", {"city": "B"}),
                                ("slow", {"city": "C"}))
        fake.respond("done")
        conversation = ai.conversation().tools(slow).message("three at once")
        assert conversation.run(parallel=True).content == "done"
    assert len(threads) == 3 and threading.current_thread().name not in threads
    # the results go back in the order of the calls, whatever order they finished in
    assert [m.text for m in fake.calls[1].tool_results] == ["A: ok", "B: ok", "C: ok"]


def test_sync_run_runs_calls_one_after_another_by_default(ai: AIManager) -> None:
    order: list[str] = []

    def step(name: str) -> str:
        order.append(f"start {name}")
        time.sleep(0.01)
        order.append(f"end {name}")
        return name

    with ai.fake(strict=True) as fake:
        fake.respond_tool_calls(("step", {"name": "a"}), ("step", {"name": "b"}))
        fake.respond("done")
        ai.conversation().tools(step).message("go").run()
    assert order == ["start a", "end a", "start b", "end b"]


def test_arun_awaits_async_calls_concurrently(ai: AIManager) -> None:
    async def scenario() -> tuple[str, list[str]]:
        barrier = asyncio.Barrier(2)
        seen: list[str] = []

        async def fetch(url: str) -> str:
            seen.append(url)
            async with asyncio.timeout(10):
                await barrier.wait()  # both calls are in flight at once
            return f"<{url}>"

        with ai.fake(strict=True) as fake:
            fake.respond_tool_calls(("fetch", {"url": "a"}), ("fetch", {"url": "b"}))
            fake.respond_with(lambda call: " ".join(m.text for m in call.tool_results))
            reply = await ai.conversation().tools(fetch).message("both").arun()
        return reply.content, seen

    content, seen = asyncio.run(scenario())
    assert content == "<a> <b>" and sorted(seen) == ["a", "b"]


def test_on_tool_error_raise_stops_before_the_next_call(ai: AIManager) -> None:
    ran: list[str] = []

    def risky(name: str) -> str:
        ran.append(name)
        raise ValueError(f"{name} failed")

    with ai.fake() as fake:
        fake.respond_tool_calls(("risky", {"name": "first"}), ("risky", {"name": "second"}))
        with pytest.raises(ToolError, match="first failed"):
            ai.conversation().tools(risky).message("go").run(on_tool_error="raise")
    assert ran == ["first"]


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("way", ["run", "arun", "run_stream"])
def test_a_run_resumed_after_tool_error_runs_only_the_unanswered_calls(
        ai: AIManager, way: str, parallel: bool) -> None:
    ran: list[str] = []
    warehouse_down = [True]

    def charge(amount: int) -> str:
        ran.append("charge")  # a side effect that must happen once
        return "charged"

    def ship(item: str) -> str:
        ran.append("ship")
        if warehouse_down[0]:
            raise RuntimeError("warehouse down")
        return "shipped"

    def go(conversation: Any) -> Any:
        if way == "run":
            return conversation.run(on_tool_error="raise", parallel=parallel)
        if way == "arun":
            return asyncio.run(conversation.arun(on_tool_error="raise", parallel=parallel))
        return list(conversation.run_stream(on_tool_error="raise", parallel=parallel))

    with ai.fake(strict=True) as fake:
        fake.respond_tool_calls(("charge", {"amount": 5}), ("ship", {"item": "book"}))
        fake.respond_with(lambda call: " ".join(m.text for m in call.tool_results))
        conversation = ai.conversation().tools(charge, ship).message("buy")
        with pytest.raises(ToolError, match="warehouse down") as info:
            go(conversation)
        assert info.value.tool == "ship"
        # the finished call's result is kept; the failed call stays unanswered
        assert [m.role.value for m in conversation.history] == ["user", "assistant", "tool"]
        assert conversation.history[-1].text == "charged"
        warehouse_down[0] = False
        go(conversation)
    assert ran == ["charge", "ship", "ship"]
    assert [m.text for m in fake.calls[1].tool_results] == ["charged", "shipped"]
    assert conversation.last_response.content == "charged shipped"


def test_calls_the_application_cannot_serve_are_errors_for_the_model(ai: AIManager) -> None:
    broken = ToolCall("call_x", "weather", '{"city": ')
    with ai.fake(strict=True) as fake:
        fake.respond_tool_calls(("wether", {"city": "Paris"}), broken,
                                ("weather", {"town": "Paris"}))
        fake.respond_with(lambda call: "\n".join(m.text for m in call.tool_results))
        events = list(ai.conversation().tools(weather).message("Paris?").run_stream())
    results = [e for e in events if isinstance(e, ToolResult)]
    assert all(r.is_error and r.error is None for r in results)
    assert results[0].text == ("Error: there is no tool named 'wether'; the tools are: "
                               "weather")
    assert "not valid JSON" in results[1].text
    assert results[2].text.startswith("Error: invalid arguments for tool 'weather': ")
    assert "missing required argument 'city'" in results[2].text


def test_a_model_that_never_stops_calling_ends_at_max_steps(ai: AIManager) -> None:
    with ai.fake() as fake:
        fake.respond_with(lambda call: FakeReply.tool_call("weather", {"city": "Oslo"}),
                          times=None)
        conversation = ai.conversation().tools(weather).message("Oslo?")
        with pytest.raises(MaxStepsError, match="after 3 model call"):
            conversation.run(max_steps=3)
    assert fake.call_count == 3
    assert [m.role.value for m in conversation.history] == ["user"] + ["assistant",
                                                                      "tool"] * 3


def test_the_fake_replaces_the_default_ai_too() -> None:
    with AI.fake(strict=True) as fake:
        fake.respond_via_tool("weather", {"city": "Paris"})
        reply = AI.conversation().provider("openai").model("gpt-4o-mini").tools(weather) \
            .message("Paris?").run()
    assert reply.content == "18 C and sunny"


def test_a_secret_in_a_tools_error_never_reaches_the_model(ai: AIManager) -> None:
    def fetch(url: str) -> str:
        raise ConnectionError(f"could not reach {url}?key=sk-proj-abcdefghijklmnopqrstuvwx1234")

    with ai.fake(strict=True) as fake:
        fake.respond_via_tool("fetch", {"url": "https://user:hunter2@example.test/data"})
        reply = ai.conversation().tools(fetch).message("get it").run()
    sent = fake.calls[1].tool_results[0].text
    assert reply.content == sent
    assert "hunter2" not in sent and "sk-proj-abcdefghijklmnopqrstuvwx1234" not in sent
    assert sent.startswith("Error: the tool raised ConnectionError: could not reach https://")


@dataclasses.dataclass
class Verdict:
    city: str
    sunny: bool


def test_a_run_with_structured_output_parses_the_final_reply(ai: AIManager) -> None:
    with ai.fake(strict=True) as fake:
        fake.respond_via_tool("weather", {"city": "Paris"},
                              answer='{"city": "Paris", "sunny": true}')
        reply = ai.conversation().output(Verdict).tools(weather).message("Paris?").run()
    assert reply.parsed == Verdict("Paris", True)
