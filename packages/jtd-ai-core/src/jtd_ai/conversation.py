"""The fluent conversation builder, sync and async, keeping its history across turns.

    reply = (AI.conversation().provider("openai").model("gpt-4o-mini")
               .system("Answer briefly.").message("Hello!").send())
    follow_up = conversation.message("And in French?").send()

Options are checked as they are set, and the whole request again before it is sent, so a
bad value raises ValidationError naming the field before any request leaves.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, Self, overload

from jtd_ai.calls import CONVERSATION_ID
from jtd_ai.errors import ValidationError
from jtd_ai.messages import ImagePart, Message, Role, Tool
from jtd_ai.request import ChatRequest, ResponseFormat, check_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from typing_extensions import TypeVar

    from jtd_ai.driver import AsyncChatStream, ChatStream, Driver
    from jtd_ai.errors import AIError
    from jtd_ai.manager import AIManager
    from jtd_ai.responses import Response
    from jtd_ai.structured import AsyncParsedChatStream, ParsedChatStream
    from jtd_ai.sync_iter import SyncIterator
    from jtd_ai.tools import RunEvent, ToolErrorPolicy

    #: What :meth:`Conversation.output` asked its replies to be parsed into (``Any`` for a
    #: plain ``Conversation``, so it stays compatible with every parsed one).
    OutputT = TypeVar("OutputT", default=Any)
else:
    from typing import TypeVar

    OutputT = TypeVar("OutputT")
T = TypeVar("T")

__all__ = ["Conversation"]

_PROBE = (Message.user("probe"),)


class Conversation(Generic[OutputT]):
    """A chat with one provider; each ``send`` appends the reply to :attr:`history`.

    After ``.output(T)`` it is a ``Conversation[T]``: each reply is parsed into a ``T``
    (``reply.parsed``, typed ``T``), see :mod:`jtd_ai.structured`."""

    def __init__(self, manager: AIManager, provider: str | None = None) -> None:
        self._manager = manager
        self._provider = provider
        self._model: str | None = None
        self._system: str | None = None
        self._options: dict[str, Any] = {}
        #: Every turn so far, system prompt excluded; replies are appended after each send.
        self.history: list[Message] = []
        self.last_response: Response[OutputT] | None = None
        self._output: Any = None
        self._output_retries = 0
        #: Its id, which each call it sends carries (``CallInfo.conversation_id``): plugins
        #: such as the conversation log group its turns by it. Set it to continue a logged
        #: conversation.
        self.id: str = uuid.uuid4().hex

    def __repr__(self) -> str:
        return (f"<Conversation provider={self._provider!r} model={self._model!r} "
                f"turns={len(self.history)}>")

    # -- who and what -------------------------------------------------------------------------

    def provider(self, name: str) -> Self:
        """Send to provider ``name``: a configured provider, an installed driver, or a preset
        (``"groq"``). Without it the manager's default is used when the conversation is sent
        (:meth:`jtd_ai.AIManager.default_provider`: the configured default, else the only
        configured or keyed provider)."""
        if not isinstance(name, str) or not name:
            raise ValidationError("provider must be a provider name (a non-empty str)",
                                  field="provider")
        self._provider = name
        return self

    def model(self, name: str) -> Self:
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("model must be a non-empty model id", field="model")
        from jtd_ai.request import check_model_name

        check_model_name(name)
        self._model = name
        return self

    def system(self, text: str) -> Self:
        """Set (or replace) the system prompt."""
        self._system = check_text(text, "system", what="the system prompt")
        return self

    def message(self, content: str | Message, *, images: Iterable[ImagePart] = ()) -> Self:
        """Add a user message (or any Message you built)."""
        if isinstance(content, Message):
            self.history.append(content)
        elif isinstance(content, str):
            check_text(content, "message", what="the message")
            self.history.append(Message.user(content, images=images))
        else:
            raise ValidationError(f"a message is a str or a jtd_ai.Message, not "
                                  f"{type(content).__name__}", field="message")
        return self

    def messages(self, messages: Iterable[Message]) -> Self:
        if isinstance(messages, str | bytes | Message) or not isinstance(messages, Iterable):
            raise ValidationError(f"messages takes a list of Message, not "
                                  f"{type(messages).__name__}", field="messages")
        for message in messages:
            if not isinstance(message, Message):
                raise ValidationError(f"messages takes Message values, not "
                                      f"{type(message).__name__}", field="messages")
        for message in messages:
            self.message(message)
        return self

    def tool_result(self, call_id: str, result: str | Mapping[str, Any], *,
                    name: str | None = None) -> Self:
        """Answer a tool call from the last reply."""
        self.history.append(Message.tool(result, call_id=call_id, name=name))
        return self

    # -- options ------------------------------------------------------------------------------

    def _set(self, name: str, value: Any) -> Self:
        trial = {**self._options, name: value}
        probe = {k: v for k, v in trial.items() if k != "tool_choice" or "tools" in trial}
        ChatRequest.build(_PROBE, "probe", **probe)  # raises ValidationError naming the field
        self._options = trial
        return self

    def temperature(self, value: float) -> Self:
        return self._set("temperature", value)

    def top_p(self, value: float) -> Self:
        return self._set("top_p", value)

    def max_tokens(self, value: int) -> Self:
        return self._set("max_tokens", value)

    def stop(self, *sequences: str) -> Self:
        return self._set("stop", sequences)

    def seed(self, value: int) -> Self:
        return self._set("seed", value)

    def tools(self, *tools: Tool | Mapping[str, Any] | Callable[..., Any]) -> Self:
        """Offer tools: Python functions (their schema from the signature, type hints and
        docstring; :meth:`run` calls them), :class:`~jtd_ai.Tool` values or tool dicts
        (OpenAI's form or a plain one); one list of them works too."""
        from jtd_ai.tools import as_tools

        return self._set("tools", as_tools(tools))

    def tool_choice(self, choice: str) -> Self:
        return self._set("tool_choice", choice)

    def response_format(self, value: ResponseFormat | str | Mapping[str, Any]) -> Self:
        return self._set("response_format", value)

    def timeout(self, seconds: float) -> Self:
        """The whole-call deadline for each send, retries included."""
        return self._set("timeout", seconds)

    def extra(self, **fields: Any) -> Self:
        """Provider-specific request fields, passed through as given."""
        return self._set("extra", {**self._options.get("extra", {}), **fields})

    def options(self, **options: Any) -> Self:
        for name, value in options.items():
            self._set(name, value)
        return self

    #: Where each send is tried next when it fails with an error meaning "try elsewhere".
    _fallbacks: tuple[str, ...] | None = None

    def fallbacks(self, *targets: str) -> Self:
        """Try ``"provider"`` or ``"provider:model"`` targets in order when a send fails
        with an error meaning "try elsewhere" (replaces the provider's own ``fallbacks``;
        none given: no fallback). See :mod:`jtd_ai.fallbacks`."""
        from jtd_ai.fallbacks import check_targets

        self._fallbacks = check_targets(
            targets, "fallbacks", lambda message: ValidationError(message, field="fallbacks"))
        return self

    # -- sending ------------------------------------------------------------------------------

    def _driver(self) -> Driver:
        return self._manager.driver(self._provider)

    def request(self) -> ChatRequest:
        """The validated request the next send would make."""
        if not self.history or self.history[-1].role is Role.ASSISTANT:
            raise ValidationError(
                "nothing to send: add a message with .message(...) first", field="messages"
            )
        driver = self._driver()
        messages = ([Message.system(self._system)] if self._system else []) + self.history
        return driver.build_request(messages, model=self._model, **self._options)

    def _record(self, response: Response[OutputT]) -> Response[OutputT]:
        self.history.append(response.to_message())
        self.last_response = response
        return response

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """The calls made meanwhile are turns of this conversation (:data:`CONVERSATION_ID`)."""
        token = CONVERSATION_ID.set(self.id)
        try:
            yield
        finally:
            CONVERSATION_ID.reset(token)

    def output(self, tp: type[T], *, retries: int = 0) -> Conversation[T]:
        """Parse each reply into ``tp`` (an attrs class, a dataclass, a TypedDict, a pydantic
        model, ``list[...]`` of one...): its JSON schema is sent as the response format and
        ``reply.parsed`` holds the value. ``retries``: how many times a reply that does not
        match is sent back to the model to try again. See :mod:`jtd_ai.structured`."""
        from jtd_ai.structured import check_retries, output_spec

        output_spec(tp)  # a type with no JSON schema fails here, naming it
        self._output_retries = check_retries(retries)
        self._output = tp
        return self  # type: ignore[return-value]  # the same conversation, now parsing

    def _structured(self) -> dict[str, Any]:
        """``output=`` and ``output_retries=`` for the driver, when :meth:`output` was set."""
        if self._output is None:
            return {}
        return {"output": self._output, "output_retries": self._output_retries}

    def send(self) -> Response[OutputT]:
        """Send the conversation and append the reply to the history."""
        request = self.request()
        with self._turn():
            return self._record(self._driver().send_message(
                request, fallbacks=self._fallbacks, **self._structured()))

    async def asend(self) -> Response[OutputT]:
        request = self.request()
        with self._turn():
            return self._record(await self._driver().asend_message(
                request, fallbacks=self._fallbacks, **self._structured()))

    @overload
    def stream(self: Conversation[None]) -> ChatStream: ...
    @overload
    def stream(self: Conversation[T]) -> ParsedChatStream[T]: ...
    def stream(self) -> ChatStream | ParsedChatStream[Any]:
        """Stream the reply; it joins the history when the stream ends (after ``.output(T)``
        the end is parsed: ``stream.response.parsed``)."""
        request = self.request()
        with self._turn():
            stream: ChatStream | ParsedChatStream[Any] = self._driver().stream(
                request, fallbacks=self._fallbacks, **self._structured())
        stream.on_complete = self._record
        return stream

    @overload
    def astream(self: Conversation[None]) -> AsyncChatStream: ...
    @overload
    def astream(self: Conversation[T]) -> AsyncParsedChatStream[T]: ...
    def astream(self) -> AsyncChatStream | AsyncParsedChatStream[Any]:
        request = self.request()
        with self._turn():
            stream: AsyncChatStream | AsyncParsedChatStream[Any] = self._driver().astream(
                request, fallbacks=self._fallbacks, **self._structured())
        stream.on_complete = self._record
        return stream

    # -- batches ----------------------------------------------------------------------------

    def _batch_items(self, prompts: Iterable[str | Message]) -> list[list[Any]]:
        """Each prompt on top of the system prompt and history. A prompt that is neither
        text nor a Message is passed on as it is: the driver makes it that item's
        ValidationError, and the other items go on."""
        if isinstance(prompts, str | bytes | Message) or not isinstance(prompts, Iterable):
            raise ValidationError(f"send_batch takes a list of prompts (str or Message), not "
                                  f"{type(prompts).__name__}", field="prompts")
        base: list[Any] = ([Message.system(self._system)] if self._system else []) + self.history
        return [[*base, Message.user(p) if isinstance(p, str) else p] for p in prompts]

    def _batch_options(self, batch_options: dict[str, Any]) -> dict[str, Any]:
        """The conversation's model and options, under any given to the batch call."""
        return {"model": self._model, **self._options, "fallbacks": self._fallbacks,
                **self._structured(), **batch_options}

    def send_batch(self, prompts: Iterable[str | Message], *, concurrency: int = 8,
                   **batch_options: Any) -> list[Response | AIError]:
        """Ask each prompt separately on top of this conversation (its system prompt,
        history, model and options); the history itself is left unchanged. Results come in
        input order; see :meth:`jtd_ai.Driver.send_batch` for progress and cancellation."""
        items = self._batch_items(prompts)
        return self._driver().send_batch(items, concurrency=concurrency,
                                         **self._batch_options(batch_options))

    async def asend_batch(self, prompts: Iterable[str | Message], *, concurrency: int = 8,
                          **batch_options: Any) -> list[Response | AIError]:
        items = self._batch_items(prompts)
        return await self._driver().asend_batch(items, concurrency=concurrency,
                                                **self._batch_options(batch_options))

    def _batch_stream(self, prompts: Iterable[str | Message] | AsyncIterable[str | Message],
                      ) -> Iterator[list[Any]] | AsyncIterator[list[Any]]:
        """Like :meth:`_batch_items`, made lazily: each item as the batch takes it."""
        base: list[Any] = ([Message.system(self._system)] if self._system else []) + self.history

        def item(prompt: Any) -> list[Any]:
            return [*base, Message.user(prompt) if isinstance(prompt, str) else prompt]

        if isinstance(prompts, AsyncIterable):
            async def each() -> AsyncIterator[list[Any]]:
                async for prompt in prompts:
                    yield item(prompt)

            return each()
        if isinstance(prompts, str | bytes | Message) or not isinstance(prompts, Iterable):
            raise ValidationError(f"stream_batch takes an iterable of prompts (str or "
                                  f"Message), not {type(prompts).__name__}", field="prompts")
        return (item(prompt) for prompt in prompts)

    def stream_batch(self, prompts: Iterable[str | Message] | AsyncIterable[str | Message],
                     *, concurrency: int = 8, **batch_options: Any,
                     ) -> SyncIterator[tuple[int, Response | AIError]]:
        """Like :meth:`send_batch` for a batch of any size: ``(index, result)`` pairs as
        items finish (``ordered=True``: in input order), the prompts read as the batch
        goes; see :meth:`jtd_ai.Driver.stream_batch`."""
        return self._driver().stream_batch(self._batch_stream(prompts), concurrency=concurrency,
                                           **self._batch_options(batch_options))

    def astream_batch(self, prompts: Iterable[str | Message] | AsyncIterable[str | Message],
                      *, concurrency: int = 8, **batch_options: Any,
                      ) -> AsyncIterator[tuple[int, Response | AIError]]:
        """Async form of :meth:`stream_batch`; see :meth:`jtd_ai.Driver.astream_batch`."""
        return self._driver().astream_batch(self._batch_stream(prompts),
                                            concurrency=concurrency,
                                            **self._batch_options(batch_options))

    # -- tools that run (jtd_ai.tools; docs/tools.md) ---------------------------------------

    def _run_settings(self, max_steps: int, parallel: bool | int,
                      on_tool_error: ToolErrorPolicy) -> Any:
        from jtd_ai.tools import RunSettings

        return RunSettings(max_steps, parallel, on_tool_error)

    def run(self, *, max_steps: int = 10, parallel: bool | int = False,
            on_tool_error: ToolErrorPolicy = "model") -> Response[OutputT]:
        """Send, call the tools the model asks for (the functions given to :meth:`tools`),
        send their results back, and repeat until the model answers without a tool call;
        every turn joins the history and each model call is its own call (and ledger row).
        ``parallel``: run one reply's calls in threads (True, or how many threads).
        ``on_tool_error``: ``"model"`` gives the model the exception as the tool's result,
        ``"raise"`` ends the run with ToolError. A run that needs more than ``max_steps``
        model calls ends with MaxStepsError; both errors carry the conversation."""
        from jtd_ai.tools import run

        return run(self, self._options.get("tools", ()),
                   self._run_settings(max_steps, parallel, on_tool_error))

    async def arun(self, *, max_steps: int = 10, parallel: bool | int = True,
                   on_tool_error: ToolErrorPolicy = "model") -> Response[OutputT]:
        """Async form of :meth:`run`: one reply's calls run concurrently (async functions
        awaited, sync ones in worker threads) unless ``parallel=False``."""
        from jtd_ai.tools import arun

        return await arun(self, self._options.get("tools", ()),
                          self._run_settings(max_steps, parallel, on_tool_error))

    def run_stream(self, *, max_steps: int = 10, parallel: bool | int = False,
                   on_tool_error: ToolErrorPolicy = "model") -> Iterator[RunEvent]:
        """:meth:`run`, streaming each model call: yields ``TextDelta``,
        ``ToolCallRequested``, ``ToolResult`` and, last, ``FinalResponse`` events."""
        from jtd_ai.tools import run_stream

        return run_stream(self, self._options.get("tools", ()),
                          self._run_settings(max_steps, parallel, on_tool_error))

    def arun_stream(self, *, max_steps: int = 10, parallel: bool | int = True,
                    on_tool_error: ToolErrorPolicy = "model") -> AsyncIterator[RunEvent]:
        """Async form of :meth:`run_stream`."""
        from jtd_ai.tools import arun_stream

        return arun_stream(self, self._options.get("tools", ()),
                           self._run_settings(max_steps, parallel, on_tool_error))
