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
from jtd_ai.request import ChatRequest, ResponseFormat, check_text

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
        """Send to provider ``name``: a configured provider, an installed driver, or a preset
        (``"groq"``). Without it the manager's default is used when the conversation is sent
        (:meth:`jtd_ai.AIManager.default_provider`: the configured default, else the only
        configured or keyed provider)."""
        if not isinstance(name, str) or not name:
            raise ValidationError("provider must be a provider name (a non-empty str)",
                                  field="provider")
        self._provider = name
        return self

    def model(self, name: str) -> Conversation:
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("model must be a non-empty model id", field="model")
        from jtd_ai.request import check_model_name

        check_model_name(name)
        self._model = name
        return self

    def system(self, text: str) -> Conversation:
        """Set (or replace) the system prompt."""
        self._system = check_text(text, "system", what="the system prompt")
        return self

    def message(self, content: str | Message, *, images: Iterable[ImagePart] = ()) -> Conversation:
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

    def messages(self, messages: Iterable[Message]) -> Conversation:
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
        return {"model": self._model, **self._options, **batch_options}

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
