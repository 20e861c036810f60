"""The fluent conversation builder, sync and async, keeping its history across turns.

    reply = (AI.conversation().provider("openai").model("gpt-4o-mini")
               .system("Answer briefly.").message("Hello!").send())
    follow_up = conversation.message("And in French?").send()

Options are checked as they are set, and the whole request again before it is sent, so a
bad value raises ValidationError naming the field before any request leaves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from jtd_ai.errors import ValidationError
from jtd_ai.messages import ImagePart, Message, Role, Tool
from jtd_ai.request import ChatRequest, ResponseFormat

if TYPE_CHECKING:
    from jtd_ai.driver import AsyncChatStream, ChatStream, Driver
    from jtd_ai.errors import AIError
    from jtd_ai.manager import AIManager
    from jtd_ai.responses import Response

__all__ = ["Conversation"]

_PROBE = (Message.user("probe"),)


class Conversation:
    """A chat with one provider; each ``send`` appends the reply to :attr:`history`."""

    def __init__(self, manager: AIManager, provider: str | None = None) -> None:
        self._manager = manager
        self._provider = provider
        self._model: str | None = None
        self._system: str | None = None
        self._options: dict[str, Any] = {}
        #: Every turn so far, system prompt excluded; replies are appended after each send.
        self.history: list[Message] = []
        self.last_response: Response | None = None

    def __repr__(self) -> str:
        return (f"<Conversation provider={self._provider!r} model={self._model!r} "
                f"turns={len(self.history)}>")

    # -- who and what -------------------------------------------------------------------------

    def provider(self, name: str) -> Conversation:
        self._provider = name
        return self

    def model(self, name: str) -> Conversation:
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("model must be a non-empty model id", field="model")
        self._model = name
        return self

    def system(self, text: str) -> Conversation:
        """Set (or replace) the system prompt."""
        self._system = text
        return self

    def message(self, content: str | Message, *, images: Iterable[ImagePart] = ()) -> Conversation:
        """Add a user message (or any Message you built)."""
        if isinstance(content, Message):
            self.history.append(content)
        else:
            self.history.append(Message.user(content, images=images))
        return self

    def messages(self, messages: Iterable[Message]) -> Conversation:
        for message in messages:
            self.message(message)
        return self

    def tool_result(self, call_id: str, result: str | Mapping[str, Any], *,
                    name: str | None = None) -> Conversation:
        """Answer a tool call from the last reply."""
        self.history.append(Message.tool(result, call_id=call_id, name=name))
        return self

    # -- options ------------------------------------------------------------------------------

    def _set(self, name: str, value: Any) -> Conversation:
        trial = {**self._options, name: value}
        probe = {k: v for k, v in trial.items() if k != "tool_choice" or "tools" in trial}
        ChatRequest.build(_PROBE, "probe", **probe)  # raises ValidationError naming the field
        self._options = trial
        return self

    def temperature(self, value: float) -> Conversation:
        return self._set("temperature", value)

    def top_p(self, value: float) -> Conversation:
        return self._set("top_p", value)

    def max_tokens(self, value: int) -> Conversation:
        return self._set("max_tokens", value)

    def stop(self, *sequences: str) -> Conversation:
        return self._set("stop", sequences)

    def seed(self, value: int) -> Conversation:
        return self._set("seed", value)

    def tools(self, *tools: Tool) -> Conversation:
        return self._set("tools", tools)

    def tool_choice(self, choice: str) -> Conversation:
        return self._set("tool_choice", choice)

    def response_format(self, value: ResponseFormat | str | Mapping[str, Any]) -> Conversation:
        return self._set("response_format", value)

    def timeout(self, seconds: float) -> Conversation:
        """The whole-call deadline for each send, retries included."""
        return self._set("timeout", seconds)

    def extra(self, **fields: Any) -> Conversation:
        """Provider-specific request fields, passed through as given."""
        return self._set("extra", {**self._options.get("extra", {}), **fields})

    def options(self, **options: Any) -> Conversation:
        for name, value in options.items():
            self._set(name, value)
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

    def _record(self, response: Response) -> Response:
        self.history.append(response.to_message())
        self.last_response = response
        return response

    def send(self) -> Response:
        """Send the conversation and append the reply to the history."""
        request = self.request()
        return self._record(self._driver().send_message(request))

    async def asend(self) -> Response:
        request = self.request()
        return self._record(await self._driver().asend_message(request))

    def stream(self) -> ChatStream:
        """Stream the reply; it joins the history when the stream ends."""
        request = self.request()
        stream = self._driver().stream(request)
        stream.on_complete = self._record
        return stream

    def astream(self) -> AsyncChatStream:
        request = self.request()
        stream = self._driver().astream(request)
        stream.on_complete = self._record
        return stream

    # -- batches ----------------------------------------------------------------------------

    def _batch_requests(self, prompts: Iterable[str | Message]) -> list[ChatRequest]:
        driver = self._driver()
        base = ([Message.system(self._system)] if self._system else []) + self.history
        return [
            driver.build_request(
                [*base, p if isinstance(p, Message) else Message.user(p)],
                model=self._model, **self._options)
            for p in prompts
        ]

    def send_batch(self, prompts: Iterable[str | Message], *, concurrency: int = 8,
                   **batch_options: Any) -> list[Response | AIError]:
        """Ask each prompt separately on top of this conversation (its system prompt,
        history, model and options); the history itself is left unchanged. Results come in
        input order; see :meth:`jtd_ai.Driver.send_batch` for progress and cancellation."""
        requests = self._batch_requests(prompts)
        return self._driver().send_batch(requests, concurrency=concurrency, **batch_options)

    async def asend_batch(self, prompts: Iterable[str | Message], *, concurrency: int = 8,
                          **batch_options: Any) -> list[Response | AIError]:
        requests = self._batch_requests(prompts)
        return await self._driver().asend_batch(requests, concurrency=concurrency,
                                                **batch_options)
