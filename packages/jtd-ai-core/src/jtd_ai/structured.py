"""Structured output: a reply parsed into the caller's own type (``output=T``).

The JSON schema of ``T`` is derived once per type (:func:`output_spec`, cached) and sent as
the request's ``json_schema`` response format, shaped so strict providers can enforce it
(every property required, no unknown keys, an object at the root: other roots travel
wrapped as ``{"result": ...}``). The reply's text is decoded and converted into ``T``
(:func:`jtd_ai.schema.convert`), or, for a JSON schema given as a dict, checked against it
with jsonschema (:mod:`jtd_ai.schema_validator`); a reply that is not JSON or does not match
is an :class:`~jtd_ai.errors.OutputValidationError`. With ``output_retries=N`` the problem is sent
back to the model as a user message and it is asked again, up to N more times, each attempt
its own call (its own ledger row). The exchange is one sans-I/O generator
(:func:`exchange`) that the sync and async sends both drive.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic

import attrs

from jtd_ai.calls import REPLY_CHECK
from jtd_ai.driver import AsyncLazyChunks, LazyChunks
from jtd_ai.errors import OutputValidationError, ValidationError
from jtd_ai.messages import Message
from jtd_ai.request import ChatRequest, ResponseFormat, check_json

if TYPE_CHECKING:
    from typing_extensions import TypeVar

    from jtd_ai.driver import AsyncChatStream, ChatStream, Driver, Prompt
    from jtd_ai.responses import Response, StreamChunk
    from jtd_ai.schema_validator import SchemaValidator

    #: What ``output=`` asked for; ``Any`` when nothing was.
    OutputT = TypeVar("OutputT", default=Any)
else:
    from typing import TypeVar

    OutputT = TypeVar("OutputT")

__all__ = ["AsyncParsedChatStream", "OutputSpec", "OutputT", "ParsedChatStream", "exchange",
           "output_spec"]

#: The most ``output_retries`` a call may ask for (each retry is a paid call).
MAX_OUTPUT_RETRIES = 10
#: The key a non-object result travels under (strict providers want an object at the root).
RESULT_KEY = "result"
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_FENCE = re.compile(r"\A\s*```[A-Za-z0-9_-]*[ \t]*\n(?P<body>.*?)\n?```\s*\Z", re.DOTALL)
_specs: dict[Any, OutputSpec[Any]] = {}
_MAX_CACHED = 1024


@attrs.frozen
class OutputSpec(Generic[OutputT]):
    """How one output type travels: the response format sent, and how a reply's text
    becomes the value (``target`` is the type, or None for a raw JSON schema, whose
    reply is checked by ``validator`` and returned as decoded JSON)."""

    target: Any
    response_format: ResponseFormat
    #: Whether the value travels wrapped as ``{"result": value}``.
    wrapped: bool
    #: A raw JSON schema's checker (None for a type: :func:`jtd_ai.schema.convert` checks).
    validator: SchemaValidator | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def label(self) -> str:
        """The type's name as errors show it."""
        if self.target is None:
            return f"the JSON schema {self.response_format.name!r}"
        from jtd_ai.schema import type_name

        return type_name(self.target)

    def value(self, text: str) -> OutputT:
        """The value a reply's text holds; raises ValueError saying what is wrong."""
        try:
            data = json.loads(_unfenced(text))
        except (json.JSONDecodeError, RecursionError) as exc:
            where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(
                exc, json.JSONDecodeError) else ""
            raise ValueError(f"the reply is not JSON{where}"
                             f"{': it is empty' if not text.strip() else ''}") from None
        if self.wrapped:
            if not isinstance(data, dict) or set(data) != {RESULT_KEY}:
                raise ValueError(f'the reply is not an object holding only "{RESULT_KEY}"')
            data = data[RESULT_KEY]
        if self.target is None:  # a raw schema: decoded JSON as is, once it matches
            problems = self.validator.problems(data) if self.validator is not None else []
            if problems:
                raise ValueError("; ".join(problems))
            return data  # type: ignore[no-any-return]
        from jtd_ai.schema import convert

        try:
            value: OutputT = convert(self.target, data)
        except ValidationError as exc:
            raise ValueError(exc.message.removeprefix("the value does not match ")
                             .removeprefix(f"{self.label}: ")) from None
        return value

    def parse(self, response: Response[Any], *, attempts: int = 1) -> Response[OutputT]:
        """``response`` with :attr:`~jtd_ai.Response.parsed` set; raises
        OutputValidationError (holding the reply as ``partial``) when it cannot be."""
        try:
            if response.refusal:
                raise ValueError(f"the model refused: {response.refusal}")
            if not response.content and response.tool_calls:
                raise ValueError("the reply is tool calls, not JSON (run the tools first: "
                                 "see Conversation.run)")
            value = self.value(response.content)
        except ValueError as exc:
            problem = str(exc)
            cut = " (the reply was cut at max_tokens)" if str(
                response.finish_reason) == "length" else ""
            raise OutputValidationError(
                f"the reply does not match {self.label}: {problem}{cut}", text=response.content,
                problem=problem, attempts=attempts, provider=response.provider,
                request_id=response.request_id, partial=response) from None
        return attrs.evolve(response, parsed=value)


def output_spec(output: type[OutputT] | Mapping[str, Any] | Any) -> OutputSpec[OutputT]:
    """The spec for ``output``: a type (derived once, then cached) or a JSON schema dict
    (sent as given; its reply is checked against it and decoded). Raises ValidationError
    for a type with no JSON schema, naming it, and for a dict that is not a valid JSON
    schema (or when jsonschema, which checks its replies, is not installed)."""
    if isinstance(output, Mapping):
        return _schema_spec(output)
    try:
        cached = _specs.get(output)
    except TypeError:  # unhashable (Annotated with a list in it): derived every time
        return _type_spec(output)
    if cached is None:
        if len(_specs) >= _MAX_CACHED:  # classes made on the fly must not pile up for ever
            _specs.clear()
        cached = _specs[output] = _type_spec(output)
    return cached


def _type_spec(output: Any) -> OutputSpec[Any]:
    from jtd_ai.schema import type_name, type_schema

    if output is None or isinstance(output, str | bytes | int | float):
        raise ValidationError(f"output must be a type (an attrs class, a dataclass, a "
                              f"TypedDict, a pydantic model, list[...], ...), not "
                              f"{output!r}", field="output")
    schema = _for_output(type_schema(output))
    schema, wrapped = _rooted(schema)
    name = _NAME_CHARS.sub("_", type_name(output)).strip("_")[:64] or "response"
    return OutputSpec(output, ResponseFormat.json_schema(schema, name=name), wrapped)


def _schema_spec(schema: Mapping[str, Any]) -> OutputSpec[Any]:
    from jtd_ai.schema_validator import schema_validator

    check_json(schema, "output", what="the output schema")
    validator = schema_validator(schema)  # refused here, before sending, if not valid
    title = schema.get("title")
    name = (_NAME_CHARS.sub("_", title).strip("_")[:64] if isinstance(title, str) else "")
    rooted, wrapped = _rooted(dict(schema))
    return OutputSpec(None, ResponseFormat.json_schema(rooted, name=name or "response"),
                      wrapped, validator)


def _rooted(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """An object at the root, as strict providers want: a root ``$ref`` to a local
    definition is replaced by that definition; any other non-object root is wrapped as
    ``{"result": ...}`` (True in the pair)."""
    ref = schema.get("$ref")
    defs = schema.get("$defs")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and isinstance(defs, Mapping):
        target = defs.get(ref.removeprefix("#/$defs/"))
        if isinstance(target, Mapping) and set(schema) == {"$ref", "$defs"}:
            return {**target, "$defs": defs}, False
    if schema.get("type") == "object":
        return schema, False
    inner = {key: value for key, value in schema.items() if key != "$defs"}
    wrapper: dict[str, Any] = {"type": "object", "properties": {RESULT_KEY: inner},
                               "required": [RESULT_KEY], "additionalProperties": False}
    if defs is not None:
        wrapper["$defs"] = defs
    return wrapper, True


def _for_output(schema: Any) -> Any:
    """``schema`` shaped for a reply: every property required (the model fills in what has a
    default), no ``default`` keywords, objects with properties closed to unknown keys."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "default":
            continue
        if key in ("properties", "$defs", "definitions", "patternProperties") and isinstance(
                value, dict):
            out[key] = {name: _for_output(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not", "contains"):
            out[key] = _for_output(value)
        elif key in ("anyOf", "oneOf", "allOf", "prefixItems") and isinstance(value, list):
            out[key] = [_for_output(sub) for sub in value]
        else:
            out[key] = value
    properties = out.get("properties")
    if isinstance(properties, dict) and out.get("type", "object") == "object":
        out["required"] = list(properties)
        out.setdefault("additionalProperties", False)
    return out


def _unfenced(text: str) -> str:
    """``text`` without a Markdown code fence around it (models asked for JSON without a
    schema the provider enforces sometimes add one)."""
    match = _FENCE.match(text)
    return match.group("body") if match else text


def check_retries(value: object) -> int:
    """``output_retries`` as given, or a ValidationError naming the allowed range."""
    if isinstance(value, bool) or not isinstance(value, int) or not (
            0 <= value <= MAX_OUTPUT_RETRIES):
        raise ValidationError(f"output_retries must be a whole number from 0 to "
                              f"{MAX_OUTPUT_RETRIES}, not {value!r}", field="output_retries")
    return value


def feedback(error: OutputValidationError) -> Message:
    """The user turn that tells the model what was wrong with its last reply."""
    return Message.user(
        f"Your reply did not match the required JSON schema: {error.problem}. Reply again "
        f"with only the JSON value, matching the schema.")


def exchange(spec: OutputSpec[OutputT], request: ChatRequest, retries: int,
             ) -> Generator[ChatRequest, Response[Any], Response[OutputT]]:
    """The structured call, without I/O: yields each request to send, is sent its reply,
    returns the parsed reply. After a reply that does not match, asks again with the
    problem appended to the conversation, at most ``retries`` more times. A reply that calls
    tools the request offered is returned unparsed (``parsed`` None): the tool loop
    (:meth:`jtd_ai.Conversation.run`) runs them, and its final reply is parsed."""
    attempt = 1
    while True:
        response = yield request
        if response.tool_calls and request.tools:
            return response  # tools to run first (Conversation.run): parsed is None
        try:
            return spec.parse(response, attempts=attempt)
        except OutputValidationError as error:
            if attempt > retries:
                raise
            attempt += 1
            request = attrs.evolve(request, messages=(*request.messages,
                                                      response.to_message(), feedback(error)))


@contextlib.contextmanager
def judged(spec: OutputSpec[Any], request: ChatRequest) -> Iterator[None]:
    """The calls made meanwhile carry whether their reply would parse
    (``CallInfo.reply_check``), so the reply cache never keeps nor serves one that does not."""
    token = REPLY_CHECK.set(functools.partial(_accepted, spec, request))
    try:
        yield
    finally:
        REPLY_CHECK.reset(token)


def _accepted(spec: OutputSpec[Any], request: ChatRequest, response: Response[Any]) -> bool:
    """Whether :func:`exchange` would take ``response`` as the end of the call."""
    if response.tool_calls and request.tools:
        return True
    try:
        spec.parse(response)
    except OutputValidationError:
        return False
    return True


def _prepare(driver: Driver, prompt: Prompt | ChatRequest, model: str | None, output: Any,
             options: Mapping[str, Any],
             ) -> tuple[OutputSpec[Any], ChatRequest, dict[str, Any]]:
    """The spec, the request carrying its response format, and the per-call options each
    attempt is sent with (``tags``, ``fallbacks``). ValidationError for a type with no
    schema, or a response format asked for besides ``output``."""
    from jtd_ai.request import OPTION_NAMES

    if output is None:
        raise ValidationError("output_retries needs output=... (the type to parse the reply "
                              "into)", field="output_retries")
    spec = output_spec(output)
    given = options.get("response_format")
    if given is None and isinstance(prompt, ChatRequest):
        given = prompt.response_format
    if given is not None and given != spec.response_format:
        raise ValidationError("output=... sets the response format itself; leave "
                              "response_format out", field="response_format")
    request_options = {k: v for k, v in options.items() if k in OPTION_NAMES}
    call_options = {k: v for k, v in options.items() if k not in OPTION_NAMES}
    request = driver.build_request(prompt, model=model, **{
        **request_options, "response_format": spec.response_format})
    return spec, request, call_options


def send(driver: Driver, prompt: Prompt | ChatRequest, *, model: str | None,
         output: type[OutputT] | Any, output_retries: int,
         options: Mapping[str, Any]) -> Response[OutputT]:
    """``driver.send_message(prompt, output=T, output_retries=N)``."""
    retries = check_retries(output_retries)
    spec, request, call_options = _prepare(driver, prompt, model, output, options)
    steps = exchange(spec, request, retries)
    request = next(steps)
    while True:
        with judged(spec, request):
            reply = driver.send_message(request, **call_options)
        try:
            request = steps.send(reply)
        except StopIteration as done:
            result: Response[OutputT] = done.value
            return result


async def asend(driver: Driver, prompt: Prompt | ChatRequest, *, model: str | None,
                output: type[OutputT] | Any, output_retries: int,
                options: Mapping[str, Any]) -> Response[OutputT]:
    """``driver.asend_message(prompt, output=T, output_retries=N)``."""
    retries = check_retries(output_retries)
    spec, request, call_options = _prepare(driver, prompt, model, output, options)
    steps = exchange(spec, request, retries)
    request = next(steps)
    while True:
        with judged(spec, request):
            reply = await driver.asend_message(request, **call_options)
        try:
            request = steps.send(reply)
        except StopIteration as done:
            result: Response[OutputT] = done.value
            return result


def _stream_parts(driver: Driver, prompt: Prompt | ChatRequest, model: str | None,
                  output: Any, output_retries: int, options: Mapping[str, Any],
                  ) -> tuple[OutputSpec[Any], ChatRequest, dict[str, Any]]:
    if check_retries(output_retries):
        raise ValidationError("output_retries does not apply to a stream (its chunks are "
                              "already shown when the reply is checked); use send_message "
                              "to retry", field="output_retries")
    return _prepare(driver, prompt, model, output, options)


def stream(driver: Driver, prompt: Prompt | ChatRequest, *, model: str | None,
           output: type[OutputT] | Any, output_retries: int,
           options: Mapping[str, Any]) -> ParsedChatStream[OutputT]:
    """``driver.stream(prompt, output=T)``: chunks as they come, the end parsed."""
    spec, request, call_options = _stream_parts(driver, prompt, model, output,
                                                output_retries, options)
    with judged(spec, request):
        made = driver.stream(request, **call_options)
    return ParsedChatStream(made, spec)


def astream(driver: Driver, prompt: Prompt | ChatRequest, *, model: str | None,
            output: type[OutputT] | Any, output_retries: int,
            options: Mapping[str, Any]) -> AsyncParsedChatStream[OutputT]:
    spec, request, call_options = _stream_parts(driver, prompt, model, output,
                                                output_retries, options)
    with judged(spec, request):
        made = driver.astream(request, **call_options)
    return AsyncParsedChatStream(made, spec)


def split_batch_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A batch's options without ``output``/``output_retries`` but with the response format
    they set, and the keyword arguments each item's send then takes (empty without them)."""
    output = options.get("output")
    retries = options.get("output_retries", 0)
    rest = {k: v for k, v in options.items() if k not in ("output", "output_retries")}
    if output is None:
        if retries:
            raise ValidationError("output_retries needs output=...", field="output_retries")
        return rest, {}
    check_retries(retries)
    spec = output_spec(output)
    if rest.get("response_format") not in (None, spec.response_format):
        raise ValidationError("output=... sets the response format itself; leave "
                              "response_format out", field="response_format")
    return {**rest, "response_format": spec.response_format}, {
        "output": output, "output_retries": retries}


class _ParsedStreamBase(Generic[OutputT]):
    stream: ChatStream | AsyncChatStream

    def __init__(self, spec: OutputSpec[OutputT]) -> None:
        self.spec = spec
        self._response: Response[OutputT] | None = None
        #: Called with the parsed Response when the stream ends and its reply matches.
        self.on_complete: Callable[[Response[OutputT]], Any] | None = None

    @property
    def request(self) -> ChatRequest:
        return self.stream.request

    @property
    def text(self) -> str:
        """The content received so far."""
        return self.stream.text

    @property
    def response(self) -> Response[OutputT] | None:
        """The whole reply, parsed, once the stream has ended; else None."""
        return self._response

    def _finish(self) -> None:
        response, request = self.stream.response, self.stream.request
        if response is None:  # pragma: no cover - a stream that ended cleanly has one
            return
        if response.tool_calls and request.tools:
            self._response = response  # tools to run first (Conversation.run_stream)
        else:
            self._response = self.spec.parse(response)
        if self.on_complete is not None:
            self.on_complete(self._response)


class ParsedChatStream(_ParsedStreamBase[OutputT], LazyChunks):
    """A :class:`~jtd_ai.ChatStream` whose final reply is parsed into the output type:
    iterating ends with OutputValidationError when the reply does not match."""

    stream: ChatStream

    def __init__(self, stream: ChatStream, spec: OutputSpec[OutputT]) -> None:
        super().__init__(spec)
        self.stream = stream

    def _chunks(self) -> Iterator[StreamChunk]:
        yield from self.stream
        self._finish()

    def close(self) -> None:
        super().close()
        self.stream.close()


class AsyncParsedChatStream(_ParsedStreamBase[OutputT], AsyncLazyChunks):
    """The async form of :class:`ParsedChatStream`."""

    stream: AsyncChatStream

    def __init__(self, stream: AsyncChatStream, spec: OutputSpec[OutputT]) -> None:
        super().__init__(spec)
        self.stream = stream

    async def _chunks(self) -> AsyncIterator[StreamChunk]:
        async for chunk in self.stream:
            yield chunk
        self._finish()

    async def aclose(self) -> None:
        await super().aclose()
        await self.stream.aclose()
