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
