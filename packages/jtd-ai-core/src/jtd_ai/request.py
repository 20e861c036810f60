"""A chat request in our terms, validated once here so no driver sends bad input.

Every option is checked before any request leaves: a wrong value raises
:class:`~jtd_ai.errors.ValidationError` naming the field and the allowed range.
Provider-specific fields travel in ``extra`` and are passed through as given, once checked
to be JSON (see :func:`check_json`). Text anywhere in a request must be encodable as UTF-8:
a lone surrogate (``"\\ud800"``, e.g. from a bad decode) is refused, naming where it is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs
from attrs import field, frozen

from jtd_ai.errors import ValidationError
from jtd_ai.messages import ImagePart, Message, Role, TextPart, Tool, ToolCall

__all__ = ["MAX_JSON_DEPTH", "OPTION_NAMES", "ChatRequest", "ResponseFormat", "check_json",
           "check_model_name", "check_text"]

#: How deeply values sent as JSON (``extra``, tool and response schemas) may nest.
MAX_JSON_DEPTH = 100
#: How many values one of them may hold in all (a guard against shared or cyclic structures).
_MAX_JSON_NODES = 1_000_000
#: Integers beyond this many bits (about 3,000 digits) cannot be written as JSON here.
_MAX_INT_BITS = 10_000
#: The highest ``max_tokens`` (2**31 - 1, what providers take) and the range of ``seed``.
MAX_TOKENS = 2**31 - 1
SEED_RANGE = (-(2**63), 2**63 - 1)
#: The longest call deadline (``timeout``) a request may ask for, in seconds: one day.
MAX_TIMEOUT = 86_400.0
_FORMAT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be sent as UTF-8 (a lone surrogate, and where), or None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"holds a lone surrogate (U+{ord(text[exc.start]):04X}) at position "
                f"{exc.start}, which UTF-8 cannot encode; decode the source text with "
                f"errors='replace' or remove it")
    return None


def check_text(value: object, field: str, *, what: str | None = None) -> str:
    """``value`` if it is a str that UTF-8 can encode, else a ValidationError naming
    ``field``."""
    what = what or field
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a str, not {type(value).__name__}", field=field)
    problem = text_problem(value)
    if problem is not None:
        raise ValidationError(f"{what} {problem}", field=field)
    return value


def _json_problem(value: Any) -> tuple[str, str] | None:
    """(path, problem) for the first part of ``value`` that JSON cannot carry, or None."""
    count = 0
    active: set[int] = set()

    def walk(item: Any, path: str, depth: int) -> tuple[str, str] | None:
        nonlocal count
        count += 1
        if count > _MAX_JSON_NODES:
            return path, f"holds more than {_MAX_JSON_NODES:,} values"
        if item is None or isinstance(item, bool):
            return None
        if isinstance(item, str):
            problem = text_problem(item)
            return (path, problem) if problem else None
        if isinstance(item, int):
            if item.bit_length() > _MAX_INT_BITS:
                return path, "is an integer too large to send (over 3,000 digits)"
            return None
        if isinstance(item, float):
            return None if math.isfinite(item) else (path, f"is {item!r}, which JSON cannot "
                                                           f"carry")
        if not isinstance(item, Mapping | list | tuple):
            return path, (f"is a {type(item).__name__}, which JSON cannot carry (use str, "
                          f"int, float, bool, None, list or dict)")
        if depth >= MAX_JSON_DEPTH:
            return path, f"nests more than {MAX_JSON_DEPTH} levels deep"
        if id(item) in active:
            return path, "contains itself (a circular reference)"
        active.add(id(item))
        try:
            if isinstance(item, Mapping):
                for key, child in item.items():
                    if not isinstance(key, str):
                        return path, f"has a key that is a {type(key).__name__}, not a str"
                    problem = text_problem(key)
                    if problem:
                        return path, f"has a key that {problem}"
                    found = walk(child, f"{path}.{key}" if key.isidentifier() else
                                 f"{path}[{key[:40]!r}]", depth + 1)
                    if found:
                        return found
            else:
                for i, child in enumerate(item):
                    found = walk(child, f"{path}[{i}]", depth + 1)
                    if found:
                        return found
        finally:
            active.discard(id(item))
        return None

    return walk(value, "", 0)


def check_json(value: Any, field: str, *, what: str | None = None) -> None:
    """Raise ValidationError, naming ``field`` and the place inside it, unless ``value`` can
    be sent as JSON: str (UTF-8 encodable), int, finite float, bool, None, lists and dicts
    with str keys, at most :data:`MAX_JSON_DEPTH` levels deep."""
    if type(value) is dict and all(
            type(k) is str and k.isascii() and (
                v is None or type(v) is bool or (type(v) is str and v.isascii())
                or (type(v) is int and -(2**63) <= v < 2**64)
                or (type(v) is float and math.isfinite(v)))
            for k, v in value.items()):
        return  # the common case: a flat dict of plain values
    found = _json_problem(value)
    if found is not None:
        path, problem = found
        raise ValidationError(f"{what or field}{path} {problem}", field=field)


@frozen
class ResponseFormat:
    """Ask for JSON: any object (``json_object``) or one matching ``schema`` (``json_schema``).

    ``strict`` asks the provider to enforce the schema where it can (OpenAI sends
    ``strict: true`` only for a schema its strict mode takes). ``output=T`` builds one from
    a type (:mod:`jtd_ai.structured`)."""

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
        if self.schema is not None:
            if not isinstance(self.schema, Mapping):
                raise ValidationError("response_format.schema must be a JSON schema (a dict)",
                                      field="response_format.schema")
            check_json(self.schema, "response_format.schema")
        if not isinstance(self.name, str) or not _FORMAT_NAME.fullmatch(self.name):
            raise ValidationError(
                "response_format.name must be 1 to 64 ASCII letters, digits, '_' or '-'",
                field="response_format.name")
        if not isinstance(self.strict, bool):
            raise ValidationError(f"response_format.strict must be True or False, not "
                                  f"{_shown(self.strict)}", field="response_format.strict")

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
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or (isinstance(value, float) and math.isnan(value))):
            raise ValidationError(f"{name} must be a number from {low} to {high}, not "
                                  f"{_shown(value)}", field=name)
        if not low <= value <= high:
            raise ValidationError(f"{name} must be from {low} to {high}, got {_shown(value)}",
                                  field=name)

    return check


def _to_float(value: Any) -> Any:
    """A whole number as the float it stands for (``temperature=1`` and ``1.0`` are one
    request, with one cache key); anything else as given, for the validator to judge."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # far out of any range: the validator names it
            return value
    return value


def _shown(value: object) -> str:
    """A short repr for an error message (a 5,000-digit int has no repr by default)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({type(value).__name__})"


def _positive_int(name: str, high: int) -> Any:
    def check(_: object, __: object, value: int | None) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise ValidationError(f"{name} must be a whole number of at least 1 and at most "
                                  f"{high}, not {_shown(value)}", field=name)

    return check


def _check_seed(_: object, __: object, value: int | None) -> None:
    if value is None:
        return
    low, high = SEED_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"seed must be a whole number from -2**63 to 2**63-1, not "
                              f"{_shown(value)}", field="seed")


def _check_timeout(_: object, __: object, value: float | None) -> None:
    if value is None:
        return
    if (isinstance(value, bool) or not isinstance(value, int | float) or not value > 0
            or value > MAX_TIMEOUT):
        raise ValidationError(f"timeout must be a number of seconds above 0 and at most "
                              f"{MAX_TIMEOUT:g} (a day), not {_shown(value)}", field="timeout")


def _to_stop(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, bytes | bytearray | Mapping) or not isinstance(value, Iterable):
        raise ValidationError(f"stop must be a string or a list of strings, not "
                              f"{type(value).__name__}", field="stop")
    return tuple(value)


def _check_stop(_: object, __: object, value: tuple[str, ...]) -> None:
    for item in value:
        if not isinstance(item, str) or not item:
            raise ValidationError(f"stop must hold non-empty strings, not {_shown(item)}",
                                  field="stop")
        check_text(item, "stop", what="a stop sequence")


def _to_format(value: ResponseFormat | str | Mapping[str, Any] | None) -> ResponseFormat | None:
    if value is None or isinstance(value, ResponseFormat):
        return value
    if value == "json":
        return ResponseFormat.json()
    if isinstance(value, str):
        return ResponseFormat(value)  # type: ignore[arg-type]
    if isinstance(value, Mapping):
        return _format_from_mapping(value)
    raise ValidationError(
        "response_format must be 'json', a ResponseFormat, or a JSON schema dict",
        field="response_format",
    )


def _format_from_mapping(value: Mapping[str, Any]) -> ResponseFormat:
    """A dict as a response format: OpenAI's ``{"type": "json_object"}`` and
    ``{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`` forms, else the
    dict itself is the JSON schema."""
    kind = value.get("type")
    if kind in ("json_object", "text") and set(value) == {"type"}:
        return ResponseFormat(kind)
    if kind == "json_schema" and "json_schema" in value:
        inner = value["json_schema"]
        if not isinstance(inner, Mapping) or not set(inner) <= {"name", "schema", "strict",
                                                                "description"}:
            raise ValidationError(
                "response_format.json_schema must be a dict of name, schema and strict",
                field="response_format")
        return ResponseFormat("json_schema", inner.get("schema"),
                              inner.get("name", "response"), inner.get("strict", True))
    return ResponseFormat.json_schema(value)


def _to_tool_choice(value: Any) -> Any:
    """OpenAI's ``{"type": "function", "function": {"name": ...}}`` as the tool's name."""
    if isinstance(value, Mapping):
        function = value.get("function")
        if (value.get("type") == "function" and isinstance(function, Mapping)
                and isinstance(function.get("name"), str)):
            return function["name"]
        raise ValidationError("tool_choice must be 'auto', 'none', 'required' or a tool name",
                              field="tool_choice")
    return value


def _check_tool_choice(instance: ChatRequest, _: object, value: str | None) -> None:
    if value is None or value in ("auto", "none", "required"):
        return
    if not isinstance(value, str):
        raise ValidationError(f"tool_choice must be 'auto', 'none', 'required' or the name of "
                              f"a given tool, not {type(value).__name__}", field="tool_choice")
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
        _check_content(i, message)
        if message.role is Role.TOOL and not message.tool_call_id:
            raise ValidationError(
                f"messages[{i}] is a tool result without the tool_call_id it answers",
                field="messages",
            )
    if all(m.role is Role.SYSTEM for m in value):
        raise ValidationError("a chat request needs a message besides system prompts",
                              field="messages")


def _check_content(index: int, message: Message) -> None:
    """Every string of ``message`` is a str UTF-8 can encode (the shape of the parts was
    checked when the message was made). ASCII text, by far the most common, costs one
    ``isascii`` call per part."""
    for part in message.parts:
        if isinstance(part, TextPart):
            if not part.text.isascii():
                check_text(part.text, "messages", what=f"{_where(index, message)} text")
        elif isinstance(part, ImagePart):
            for name in ("url", "data", "media_type"):
                text = getattr(part, name)
                if text is not None and not (type(text) is str and text.isascii()):
                    check_text(text, "messages",
                               what=f"{_where(index, message)} image {name}")
        else:
            raise ValidationError(f"{_where(index, message)} holds a {type(part).__name__}, "
                                  f"not a TextPart or ImagePart", field="messages")
    for call in message.tool_calls:
        if not isinstance(call, ToolCall):
            raise ValidationError(f"{_where(index, message)} holds a tool call that is a "
                                  f"{type(call).__name__}, not a ToolCall", field="messages")
        for name in ("id", "name", "arguments"):
            text = getattr(call, name)
            if not (type(text) is str and text.isascii()):
                check_text(text, "messages",
                           what=f"{_where(index, message)} tool call {name}")
    for text, name in ((message.tool_call_id, "tool_call_id"), (message.name, "name")):
        if text is not None and not (type(text) is str and text.isascii()):
            check_text(text, "messages", what=f"{_where(index, message)} {name}")


def _where(index: int, message: Message) -> str:
    return f"messages[{index}] ({message.role.value})"


def _messages(value: Iterable[Message]) -> tuple[Message, ...]:
    if type(value) is tuple:
        return value
    if type(value) is list:
        return tuple(value)
    if isinstance(value, Message):
        return (value,)
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ValidationError(f"messages must be a list of Message, not "
                              f"{type(value).__name__}", field="messages")
    return tuple(value)


def _tools(value: Iterable[Tool | Mapping[str, Any]]) -> tuple[Tool, ...]:
    if not value and type(value) in (tuple, list):
        return ()
    if type(value) not in (tuple, list) and (
            isinstance(value, str | bytes | Mapping | Tool) or not isinstance(value, Iterable)):
        hint = " (wrap one tool in a list: tools=[...])" if isinstance(
            value, Mapping | Tool) else ""
        raise ValidationError(
            f"tools must be a list of tools (jtd_ai.Tool values, functions or tool dicts), not "
            f"{type(value).__name__}{hint}; leave it out for no tools", field="tools")
    tools = tuple(item if type(item) is Tool else Tool.coerce(item, where=f"tools[{i}]")
                  for i, item in enumerate(value))
    if len(tools) < 2:
        return tools
    seen: set[str] = set()
    for tool in tools:
        if tool.name in seen:
            raise ValidationError(f"two tools are named {tool.name!r}; tool names must be "
                                  f"unique", field="tools")
        seen.add(tool.name)
    return tools


def _to_extra(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(f"extra must be a dict of provider-specific fields, not "
                              f"{type(value).__name__}", field="extra")
    check_json(value, "extra")
    return value


def _check_model(_: object, __: object, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            "no model given: pass model=..., call .model(...), or set default_model "
            "for the provider",
            field="model",
        )
    check_model_name(value)


def check_model_name(value: str) -> None:
    """Raise ValidationError for a model name no provider can take: control characters,
    a lone surrogate, more than 512 characters."""
    if len(value) > 512:
        raise ValidationError(f"the model name is {len(value)} characters long; 512 at most",
                              field="model")
    check_text(value, "model", what="the model name")
    if not value.isprintable():
        raise ValidationError("the model name holds a control character (a newline or tab?)",
                              field="model")


@frozen(kw_only=True)
class ChatRequest:
    """Everything one chat call needs, validated on construction."""

    messages: tuple[Message, ...] = field(converter=_messages, validator=_check_messages)
    model: str = field(validator=_check_model)
    temperature: float | None = field(default=None, converter=_to_float,
                                      validator=_range("temperature", 0, 2))
    top_p: float | None = field(default=None, converter=_to_float,
                                validator=_range("top_p", 0, 1))
    max_tokens: int | None = field(default=None,
                                   validator=_positive_int("max_tokens", MAX_TOKENS))
    stop: tuple[str, ...] = field(default=(), converter=_to_stop, validator=_check_stop)
    seed: int | None = field(default=None, validator=_check_seed)
    tools: tuple[Tool, ...] = field(default=(), converter=_tools)
    tool_choice: str | None = field(default=None, converter=_to_tool_choice,
                                    validator=_check_tool_choice)
    response_format: ResponseFormat | None = field(default=None, converter=_to_format)
    timeout: float | None = field(default=None, converter=_to_float,
                                  validator=_check_timeout)
    #: Provider-specific request fields, passed through as given (checked to be JSON).
    extra: Mapping[str, Any] = field(factory=dict, converter=_to_extra)

    @classmethod
    def build(cls, messages: Iterable[Message], model: str, **options: Any) -> ChatRequest:
        """A request from keyword options, rejecting unknown option names clearly."""
        if not options and cls is ChatRequest and type(model) is str:
            return _plain(messages, model)  # anything else: the constructor says what is wrong
        unknown = sorted(set(options) - OPTION_NAMES)
        if unknown:
            raise ValidationError(
                f"unknown option(s) {', '.join(unknown)}; known options are "
                f"{', '.join(sorted(OPTION_NAMES))}; pass provider-specific fields "
                f"in extra={{...}}",
                field=unknown[0],
            )
        return cls(messages=tuple(messages), model=model, **options)


#: A request with every option at its default, per model name: ``_plain`` copies it.
_PLAIN: dict[str, ChatRequest] = {}
#: The fields ``_plain`` copies from its template (``messages`` and ``extra`` are per call).
_PLAIN_FIELDS: tuple[str, ...] = ()


def _plain(messages: Iterable[Message], model: str) -> ChatRequest:
    """What ``ChatRequest(messages=messages, model=model)`` builds, for the most common call
    (a prompt, no options): the defaults' converters and validators, and the model's, ran
    once when the model's template was built; only the messages are converted and checked
    here, by the same functions the constructor runs."""
    global _PLAIN_FIELDS
    template = _PLAIN.get(model)
    if template is None:
        template = ChatRequest(messages=(Message.user("-"),), model=model)  # checks model
        if len(_PLAIN) >= 64:  # model names come from callers: keep a few, not all
            _PLAIN.clear()
        _PLAIN[model] = template
        _PLAIN_FIELDS = tuple(a.name for a in attrs.fields(ChatRequest)
                              if a.name not in ("messages", "extra"))
    value = _messages(messages)
    _check_messages(None, None, value)
    request = object.__new__(ChatRequest)
    put = object.__setattr__  # frozen: as the constructor attrs generates sets fields
    put(request, "messages", value)
    for name in _PLAIN_FIELDS:
        put(request, name, getattr(template, name))
    put(request, "extra", {})  # the default's factory: a dict of this request's own
    return request


OPTION_NAMES = frozenset(
    {"temperature", "top_p", "max_tokens", "stop", "seed", "tools", "tool_choice",
     "response_format", "timeout", "extra"}
)
