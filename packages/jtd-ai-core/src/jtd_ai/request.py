"""A chat request in our terms, validated once here so no driver sends bad input.

Every option is checked before any request leaves: a wrong value raises
:class:`~jtd_ai.errors.ValidationError` naming the field and the allowed range.
Provider-specific fields travel in ``extra`` and are passed through as given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from attrs import field, frozen

from jtd_ai.errors import ValidationError
from jtd_ai.messages import Message, Role, Tool

__all__ = ["OPTION_NAMES", "ChatRequest", "ResponseFormat"]


@frozen
class ResponseFormat:
    """Ask for JSON: any object (``json_object``) or one matching ``schema`` (``json_schema``)."""

    type: Literal["text", "json_object", "json_schema"] = "json_object"
    schema: Mapping[str, Any] | None = None
    name: str = "response"
    strict: bool = True

    def __attrs_post_init__(self) -> None:
        if self.type not in ("text", "json_object", "json_schema"):
            raise ValidationError(
                f"response_format.type must be 'text', 'json_object' or 'json_schema', "
                f"not {self.type!r}",
                field="response_format.type",
            )
        if self.type == "json_schema" and not isinstance(self.schema, Mapping):
            raise ValidationError(
                "response_format of type 'json_schema' needs a schema (a JSON schema dict)",
                field="response_format.schema",
            )

    @classmethod
    def json(cls) -> ResponseFormat:
        return cls("json_object")

    @classmethod
    def json_schema(cls, schema: Mapping[str, Any], *, name: str = "response",
                    strict: bool = True) -> ResponseFormat:
        return cls("json_schema", schema, name, strict)


def _range(name: str, low: float, high: float) -> Any:
    def check(_: object, __: object, value: float | None) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise ValidationError(f"{name} must be a number from {low} to {high}, not {value!r}",
                                  field=name)
        if not low <= value <= high:
            raise ValidationError(f"{name} must be from {low} to {high}, got {value}", field=name)

    return check


def _positive_int(name: str) -> Any:
    def check(_: object, __: object, value: int | None) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError(f"{name} must be a whole number of at least 1, not {value!r}",
                                  field=name)

    return check


def _check_seed(_: object, __: object, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValidationError(f"seed must be a whole number, not {value!r}", field="seed")


def _check_timeout(_: object, __: object, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValidationError(f"timeout must be a number of seconds above 0, not {value!r}",
                              field="timeout")


def _to_stop(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _check_stop(_: object, __: object, value: tuple[str, ...]) -> None:
    for item in value:
        if not isinstance(item, str) or not item:
            raise ValidationError(f"stop must hold non-empty strings, not {item!r}", field="stop")


def _to_format(value: ResponseFormat | str | Mapping[str, Any] | None) -> ResponseFormat | None:
    if value is None or isinstance(value, ResponseFormat):
        return value
    if value == "json":
        return ResponseFormat.json()
    if isinstance(value, str):
        return ResponseFormat(value)  # type: ignore[arg-type]
    if isinstance(value, Mapping):
        return ResponseFormat.json_schema(value)
    raise ValidationError(
        "response_format must be 'json', a ResponseFormat, or a JSON schema dict",
        field="response_format",
    )


def _check_tool_choice(instance: ChatRequest, _: object, value: str | None) -> None:
    if value is None or value in ("auto", "none", "required"):
        return
    if value not in {t.name for t in instance.tools}:
        raise ValidationError(
            f"tool_choice must be 'auto', 'none', 'required' or the name of a given tool, "
            f"not {value!r}",
            field="tool_choice",
        )


def _check_messages(_: object, __: object, value: tuple[Message, ...]) -> None:
    if not value:
        raise ValidationError("a chat request needs at least one message", field="messages")
    for i, message in enumerate(value):
        if not isinstance(message, Message):
            raise ValidationError(
                f"messages[{i}] must be a Message, not {type(message).__name__}",
                field="messages",
            )
        if message.role is Role.TOOL and not message.tool_call_id:
            raise ValidationError(
                f"messages[{i}] is a tool result without the tool_call_id it answers",
                field="messages",
            )
    if all(m.role is Role.SYSTEM for m in value):
        raise ValidationError("a chat request needs a message besides system prompts",
                              field="messages")


def _messages(value: Iterable[Message]) -> tuple[Message, ...]:
    return tuple(value)


def _tools(value: Iterable[Tool]) -> tuple[Tool, ...]:
    return tuple(value)


def _check_model(_: object, __: object, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            "no model given: pass model=..., call .model(...), or set default_model "
            "for the provider",
            field="model",
        )


@frozen(kw_only=True)
class ChatRequest:
    """Everything one chat call needs, validated on construction."""

    messages: tuple[Message, ...] = field(converter=_messages, validator=_check_messages)
    model: str = field(validator=_check_model)
    temperature: float | None = field(default=None, validator=_range("temperature", 0, 2))
    top_p: float | None = field(default=None, validator=_range("top_p", 0, 1))
    max_tokens: int | None = field(default=None, validator=_positive_int("max_tokens"))
    stop: tuple[str, ...] = field(default=(), converter=_to_stop, validator=_check_stop)
    seed: int | None = field(default=None, validator=_check_seed)
    tools: tuple[Tool, ...] = field(default=(), converter=_tools)
    tool_choice: str | None = field(default=None, validator=_check_tool_choice)
    response_format: ResponseFormat | None = field(default=None, converter=_to_format)
    timeout: float | None = field(default=None, validator=_check_timeout)
    #: Provider-specific request fields, passed through as given.
    extra: Mapping[str, Any] = field(factory=dict)

    @classmethod
    def build(cls, messages: Iterable[Message], model: str, **options: Any) -> ChatRequest:
        """A request from keyword options, rejecting unknown option names clearly."""
        unknown = sorted(set(options) - OPTION_NAMES)
        if unknown:
            raise ValidationError(
                f"unknown option(s) {', '.join(unknown)}; known options are "
                f"{', '.join(sorted(OPTION_NAMES))}; pass provider-specific fields "
                f"in extra={{...}}",
                field=unknown[0],
            )
        return cls(messages=tuple(messages), model=model, **options)


OPTION_NAMES = frozenset(
    {"temperature", "top_p", "max_tokens", "stop", "seed", "tools", "tool_choice",
     "response_format", "timeout", "extra"}
)
