"""The Chat Completions payloads we read, as attrs classes that cattrs fills in.

Only the fields we use are declared; unknown fields are ignored, and a missing required
one (``model``, ``choices``, a usage count) raises a MalformedResponseError naming it.
Every ``*_details`` field is optional: older replies and compatible servers leave them out.
"""

# No `from __future__ import annotations` here: cattrs reads these annotations at runtime.

from attrs import Factory, define

__all__ = [
    "ChatChunk",
    "ChatCompletion",
    "Choice",
    "CompletionDetails",
    "DeltaChoice",
    "FunctionCall",
    "MessageBody",
    "ModelEntry",
    "ModelList",
    "PromptDetails",
    "ToolCallBody",
    "Usage",
]


@define
class FunctionCall:
    name: str | None = None
    arguments: str | None = None


@define
class ToolCallBody:
    id: str | None = None
    index: int | None = None
    function: FunctionCall | None = None


@define
class MessageBody:
    """A reply's ``message``, or one stream chunk's ``delta``."""

    content: str | None = None
    refusal: str | None = None
    #: Thinking text, sent by xAI, DeepSeek and others (not by OpenAI)...
    reasoning_content: str | None = None
    #: ...or under this name by Ollama's and other servers' OpenAI-compatible endpoints.
    reasoning: str | None = None

    @property
    def thinking(self) -> str | None:
        """The thinking text under either name."""
        return self.reasoning_content or self.reasoning
    tool_calls: list[ToolCallBody] | None = None


@define
class Choice:
    message: MessageBody
    index: int = 0
    finish_reason: str | None = None


@define
class DeltaChoice:
    delta: MessageBody = Factory(MessageBody)
    index: int = 0
    finish_reason: str | None = None


@define
class PromptDetails:
    cached_tokens: int | None = None
    #: Prompt tokens written to the cache, where the provider bills writes apart.
    cache_write_tokens: int | None = None


@define
class CompletionDetails:
    reasoning_tokens: int | None = None


@define
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int | None = None
    prompt_tokens_details: PromptDetails | None = None
    completion_tokens_details: CompletionDetails | None = None


@define
class ChatCompletion:
    model: str
    choices: list[Choice]
    usage: Usage | None = None


@define
class ChatChunk:
    choices: list[DeltaChoice] = Factory(list)
    model: str | None = None
    usage: Usage | None = None


@define
class ModelEntry:
    id: str
    created: int | None = None
    owned_by: str | None = None


@define
class ModelList:
    data: list[ModelEntry]
    has_more: bool | None = None
    last_id: str | None = None


# -- the common shape, read directly -------------------------------------------------------------
# cattrs checks and converts every field, which costs more than the rest of a call's parsing.
# Replies in the documented shape, with exactly the JSON types it names, are read here
# instead; anything else (tool calls, a missing field, an odd type) returns None and goes
# through cattrs, whose errors name the field. Both give equal objects
# (tests/test_wire_fast_path.py).


def _text(value: object) -> bool:
    return value is None or type(value) is str


def _count(value: object) -> bool:
    return value is None or type(value) is int


def _details(value: object, key: str) -> tuple[bool, int | None]:
    if value is None:
        return True, None
    if type(value) is not dict:
        return False, None
    count = value.get(key)
    return _count(count), count


def read_usage(data: object) -> tuple[bool, Usage | None]:
    """(True, usage) when ``data`` is a usage object (or null) in the documented shape."""
    if data is None:
        return True, None
    if type(data) is not dict:
        return False, None
    prompt = data.get("prompt_tokens")
    completion = data.get("completion_tokens")
    total = data.get("total_tokens")
    if type(prompt) is not int or type(completion) is not int or not _count(total):
        return False, None
    raw_prompt = data.get("prompt_tokens_details")
    raw_completion = data.get("completion_tokens_details")
    ok_prompt, cached = _details(raw_prompt, "cached_tokens")
    ok_written, written = _details(raw_prompt, "cache_write_tokens")
    ok_completion, reasoning = _details(raw_completion, "reasoning_tokens")
    if not (ok_prompt and ok_written and ok_completion):
        return False, None
    return True, Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=total,
        prompt_tokens_details=None if raw_prompt is None else PromptDetails(cached, written),
        completion_tokens_details=None if raw_completion is None else CompletionDetails(
            reasoning),
    )


def _body(data: object) -> MessageBody | None:
    """A message without tool calls, with text (or null) in every field we read."""
    if type(data) is not dict or data.get("tool_calls") is not None:
        return None
    content = data.get("content")
    refusal = data.get("refusal")
    reasoning_content = data.get("reasoning_content")
    reasoning = data.get("reasoning")
    if not (_text(content) and _text(refusal) and _text(reasoning_content)
            and _text(reasoning)):
        return None
    return MessageBody(content=content, refusal=refusal, reasoning_content=reasoning_content,
                       reasoning=reasoning)


def _choice(data: object) -> Choice | None:
    if type(data) is not dict:
        return None
    index = data.get("index", 0)
    finish = data.get("finish_reason")
    if type(index) is not int or not _text(finish):
        return None
    body = _body(data.get("message"))
    return None if body is None else Choice(message=body, index=index, finish_reason=finish)


def read_completion(data: object) -> ChatCompletion | None:
    """``data`` as a ChatCompletion when it has the common shape, else None (use cattrs)."""
    if type(data) is not dict:
        return None
    model = data.get("model")
    raw_choices = data.get("choices")
    if type(model) is not str or type(raw_choices) is not list:
        return None
    choices = []
    for raw in raw_choices:
        choice = _choice(raw)
        if choice is None:
            return None
        choices.append(choice)
    ok, usage = read_usage(data.get("usage"))
    if not ok:
        return None
    return ChatCompletion(model=model, choices=choices, usage=usage)
