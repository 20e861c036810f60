"""What a conversation is made of: messages, their content parts, tools and tool calls.

Each value checks its own shape when it is made (a ``TextPart`` holds a ``str``, a tool's
schema is JSON), raising :class:`~jtd_ai.errors.ValidationError`; what needs the whole
request (lone surrogates in any text, tool-call fields) is checked by
:class:`~jtd_ai.request.ChatRequest`, before anything is sent.
"""

from __future__ import annotations

import base64
import enum
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from attrs import field, frozen

from jtd_ai.errors import MalformedResponseError, ValidationError

__all__ = ["ImagePart", "Message", "Role", "TextPart", "Tool", "ToolCall"]


class Role(enum.StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


#: What a tool name may be: OpenAI's rule, which every provider here accepts.
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _text_only(_: object, attribute: Any, value: Any) -> None:
    if not isinstance(value, str):
        raise ValidationError(
            f"{attribute.name} must be a str, not {type(value).__name__}: convert it with "
            f"str(...) first if text is meant", field=attribute.name)


def _optional_text(owner: str) -> Any:
    def check(_: object, attribute: Any, value: object) -> None:
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"{owner}.{attribute.name} must be a str or None, not "
                                  f"{type(value).__name__}", field=f"{owner}.{attribute.name}")

    return check


@frozen
class TextPart:
    text: str = field(validator=_text_only)


@frozen
class ImagePart:
    """An image given by URL, or inline as base64 ``data`` with its ``media_type``."""

    url: str | None = field(default=None, validator=_optional_text("image"))
    data: str | None = field(default=None, validator=_optional_text("image"))
    media_type: str | None = field(default=None, validator=_optional_text("image"))

    def __attrs_post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise ValidationError("an image part needs exactly one of url or data", field="image")
        if self.data is not None and not self.media_type:
            raise ValidationError(
                "an inline image needs its media_type, e.g. 'image/png'", field="image.media_type"
            )

    @classmethod
    def from_bytes(cls, raw: bytes, media_type: str) -> ImagePart:
        if not isinstance(raw, bytes | bytearray | memoryview):
            raise ValidationError(f"ImagePart.from_bytes takes bytes, not {type(raw).__name__}",
                                  field="image.data")
        return cls(data=base64.b64encode(raw).decode("ascii"), media_type=media_type)

    def as_data_url(self) -> str:
        """The image as a URL: the URL itself, or a ``data:`` URL for inline data."""
        if self.url is not None:
            return self.url
        return f"data:{self.media_type};base64,{self.data}"


ContentPart = TextPart | ImagePart


@frozen
class ToolCall:
    """A call the model asked for. ``arguments`` stays the raw JSON text the provider sent."""

    id: str
    name: str
    arguments: str = "{}"
    #: What the provider attached to the call that must travel back with it on the next
    #: turn but is not part of the call itself: Gemini's ``thought_signature``, say. Kept
    #: out of equality and hashing: two calls with the same id, name and arguments are equal.
    metadata: Mapping[str, Any] = field(factory=dict, eq=False, repr=False)

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict; a clear error when the model produced invalid JSON."""
        try:
            value = json.loads(self.arguments or "{}")
        except json.JSONDecodeError as exc:
            raise MalformedResponseError(
                f"tool call {self.name!r} ({self.id}) has arguments that are not valid JSON: "
                f"{exc.msg} at position {exc.pos}; the raw text is in ToolCall.arguments"
            ) from None
        if not isinstance(value, dict):
            raise MalformedResponseError(
                f"tool call {self.name!r} ({self.id}) has arguments that are not a JSON object"
            )
        return value


_TOOL_KEYS = ("name", "description", "parameters")
#: Keys of OpenAI's tool forms that our Tool has no place for: ``strict`` is the driver's
#: choice, so it is dropped (as :func:`jtd_ai_openai.testing.request_from_body` does).
_DROPPED_KEYS = ("strict",)


@frozen
class Tool:
    """A function the model may call: its name, what it does, and a JSON schema of its input.

    :meth:`from_function` builds one from a Python function (its signature, type hints and
    docstring) and keeps the function, so :meth:`jtd_ai.Conversation.run` can call it.
    :meth:`coerce` also takes a tool as a dict: OpenAI's
    ``{"type": "function", "function": {"name", "description", "parameters"}}`` (or its
    Responses API form, the same keys beside ``"type"``) or a plain
    ``{"name", "description", "parameters"}``."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(factory=lambda: {"type": "object", "properties": {}})
    #: The Python callable that runs the tool (sync or async), for the tool loop
    #: (:meth:`jtd_ai.Conversation.run`); never sent. Kept out of equality.
    function: Callable[..., Any] | None = field(default=None, eq=False, repr=False,
                                                kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not TOOL_NAME.fullmatch(self.name):
            shown = repr(self.name) if isinstance(self.name, str) else type(self.name).__name__
            raise ValidationError(
                f"tool name {shown} must be 1 to 64 ASCII letters, digits, '_' or '-'",
                field="tools.name",
            )
        if not isinstance(self.description, str):
            raise ValidationError(f"tool {self.name!r}: description must be a str, not "
                                  f"{type(self.description).__name__}",
                                  field="tools.description")
        if not isinstance(self.parameters, Mapping):
            raise ValidationError(
                f"tool {self.name!r}: parameters must be a JSON schema (a dict), not "
                f"{type(self.parameters).__name__}", field="tools.parameters")
        if self.function is not None and not callable(self.function):
            raise ValidationError(f"tool {self.name!r}: function must be callable, not "
                                  f"{type(self.function).__name__}", field="tools.function")
        from jtd_ai.request import check_json

        check_json(self.parameters, "tools.parameters", what=f"tool {self.name!r}: parameters")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the tool's function directly (a ``@jtd_ai.tool`` function stays callable)."""
        if self.function is None:
            raise ValidationError(f"tool {self.name!r} has no function to call; build it with "
                                  f"Tool.from_function(fn) or Tool(..., function=fn)",
                                  field="tools.function")
        return self.function(*args, **kwargs)

    @classmethod
    def from_function(cls, function: Callable[..., Any], *, name: str | None = None,
                      description: str | None = None) -> Tool:
        """A tool from a Python function: its name (or ``name``), its docstring's text as
        the description (or ``description``), and a JSON schema of its parameters from their
        type hints, with each one's description from the docstring (Google, Sphinx or NumPy
        style) or from ``Annotated[T, "description"]``. The function is kept to be run by
        the tool loop. A parameter without a type hint, ``*args``/``**kwargs`` or a type
        with no JSON schema is a ValidationError naming the function and the parameter."""
        from jtd_ai.tools import tool_from_function

        return tool_from_function(function, name=name, description=description)

    @classmethod
    def coerce(cls, value: Tool | Mapping[str, Any] | Callable[..., Any], *,
               where: str = "tools") -> Tool:
        """``value`` as a Tool: a Tool as is, a Python function (:meth:`from_function`), or
        a tool dict (OpenAI's function form or a plain one); anything else is a
        ValidationError naming ``where``."""
        if isinstance(value, Tool):
            return value
        if not isinstance(value, Mapping):
            if callable(value) and not isinstance(value, type):
                return cls.from_function(value)
            raise ValidationError(
                f"{where} must be a jtd_ai.Tool, a function or a tool dict ({{'name': ..., "
                f"'description': ..., 'parameters': {{...}}}}), not {type(value).__name__}",
                field="tools")
        data: Mapping[str, Any] = value
        if "function" in data or "type" in data:
            kind = data.get("type", "function")
            if kind != "function":
                raise ValidationError(
                    f"{where} has type {kind!r}; only function tools are supported "
                    f"({{'type': 'function', 'function': {{...}}}})", field="tools")
            if "function" not in data and "name" in data:  # the Responses API's flat form
                data = {k: v for k, v in data.items() if k != "type"}
                return cls.coerce(data, where=where)
            extra = sorted(str(k) for k in data if k not in ("type", "function"))
            if extra:
                raise ValidationError(f"{where} has unknown key(s) {', '.join(extra)}; an "
                                      f"OpenAI-style tool is {{'type': 'function', "
                                      f"'function': {{...}}}}", field="tools")
            data = data.get("function")  # type: ignore[assignment]
            where = f"{where}.function"
            if not isinstance(data, Mapping):
                raise ValidationError(f"{where} must be a dict with name, description and "
                                      f"parameters", field="tools")
        unknown = sorted(str(k) for k in data if k not in _TOOL_KEYS + _DROPPED_KEYS)
        if unknown:
            raise ValidationError(
                f"{where} has unknown key(s) {', '.join(unknown)}; a tool has name, "
                f"description and parameters (a JSON schema)", field="tools")
        if "name" not in data:
            raise ValidationError(f"{where} needs a name", field="tools.name")
        parameters = data.get("parameters")
        return cls(data["name"], data.get("description") or "",
                   {"type": "object", "properties": {}} if parameters is None else parameters)


def _role(value: Any) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ValidationError(
            f"a message role is one of {', '.join(r.value for r in Role)}, not "
            f"{value!r}"[:200], field="role") from None


def _parts(value: Iterable[ContentPart] | str) -> tuple[ContentPart, ...]:
    if isinstance(value, str):
        return (TextPart(value),) if value else ()
    if isinstance(value, TextPart | ImagePart):
        return (value,)
    if isinstance(value, bytes | bytearray | Mapping) or not isinstance(value, Iterable):
        raise ValidationError(f"message parts are a list of TextPart and ImagePart, not "
                              f"{type(value).__name__}", field="parts")
    parts: list[ContentPart] = []
    for i, part in enumerate(value):
        if isinstance(part, str):
            part = TextPart(part)
        elif not isinstance(part, TextPart | ImagePart):
            raise ValidationError(f"message part {i} must be a TextPart, an ImagePart or a "
                                  f"str, not {type(part).__name__}", field="parts")
        parts.append(part)
    return tuple(parts)


def _calls(value: Iterable[ToolCall]) -> tuple[ToolCall, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ValidationError(f"tool_calls must be a list of ToolCall, not "
                              f"{type(value).__name__}", field="tool_calls")
    calls = tuple(value)
    for i, call in enumerate(calls):
        if not isinstance(call, ToolCall):
            raise ValidationError(f"tool_calls[{i}] must be a ToolCall, not "
                                  f"{type(call).__name__}", field="tool_calls")
    return calls


def _images(value: Iterable[ImagePart]) -> list[ImagePart]:
    if isinstance(value, ImagePart):
        return [value]
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ValidationError(f"images must be a list of ImagePart, not "
                              f"{type(value).__name__}", field="images")
    images = list(value)
    for i, image in enumerate(images):
        if not isinstance(image, ImagePart):
            raise ValidationError(f"images[{i}] must be an ImagePart (ImagePart(url=...) or "
                                  f"ImagePart.from_bytes(...)), not {type(image).__name__}",
                                  field="images")
    return images


@frozen
class Message:
    """One turn. Build with :meth:`system`, :meth:`user`, :meth:`assistant`, :meth:`tool`."""

    role: Role = field(converter=_role)
    parts: tuple[ContentPart, ...] = field(default=(), converter=_parts)
    tool_calls: tuple[ToolCall, ...] = field(default=(), converter=_calls)
    #: For ``Role.TOOL``: which call this message answers.
    tool_call_id: str | None = field(default=None, validator=_optional_text("message"))
    #: For ``Role.TOOL``: the name of the tool that produced the result.
    name: str | None = field(default=None, validator=_optional_text("message"))
    #: For ``Role.ASSISTANT``: the model's reasoning (thinking) text for this turn, for
    #: drivers that must send it back (DeepSeek's thinking-mode tool loops). Kept out of
    #: equality, like ``metadata``: two turns that say and call the same are equal.
    reasoning: str | None = field(default=None, eq=False, repr=False)
    #: Provider data this turn must carry back, which is not text or a call (Anthropic's
    #: thinking-block signature, say). Kept out of equality.
    metadata: Mapping[str, Any] = field(factory=dict, eq=False, repr=False)

    @property
    def text(self) -> str:
        """All text parts joined; images are left out."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def images(self) -> tuple[ImagePart, ...]:
        return tuple(p for p in self.parts if isinstance(p, ImagePart))

    @classmethod
    def system(cls, text: str) -> Message:
        return cls(Role.SYSTEM, (TextPart(text),))

    @classmethod
    def user(cls, text: str = "", *, images: Iterable[ImagePart] = ()) -> Message:
        parts: list[ContentPart] = [TextPart(text)] if text != "" else []
        parts.extend(_images(images))
        return cls(Role.USER, tuple(parts))

    @classmethod
    def assistant(cls, text: str = "", *, tool_calls: Iterable[ToolCall] = ()) -> Message:
        return cls(Role.ASSISTANT, (TextPart(text),) if text != "" else (), _calls(tool_calls))

    @classmethod
    def tool(cls, result: str | Mapping[str, Any], *, call_id: str,
             name: str | None = None) -> Message:
        """The result of a tool call, answering the call with id ``call_id``; a dict result
        is sent as its JSON text."""
        if not isinstance(call_id, str) or not call_id:
            raise ValidationError("a tool result needs call_id: the id of the call it answers "
                                  "(ToolCall.id)", field="tool_call_id")
        if isinstance(result, str):
            text = result
        elif isinstance(result, Mapping | list):
            from jtd_ai.request import check_json

            check_json(result, "tool_result", what="the tool result")
            text = json.dumps(result)
        else:
            raise ValidationError(f"a tool result is a str or a JSON object (dict), not "
                                  f"{type(result).__name__}", field="tool_result")
        return cls(Role.TOOL, (TextPart(text),), tool_call_id=call_id, name=name)
