"""Tools from Python functions, and the loop that runs them.

:func:`tool_from_function` (``Tool.from_function``, ``@jtd_ai.tool``) reads a function's
signature, type hints and docstring into a :class:`~jtd_ai.messages.Tool` that keeps the
function. :func:`run` and friends (``Conversation.run``/``arun``/``run_stream``/
``arun_stream``) send the conversation, call the tools the model asks for, send their
results back, and repeat until the model answers without calling a tool.

The loop's logic is written once, as a generator of actions (:class:`_Send`,
:class:`_Execute`, :class:`_Emit`) in the sans-I/O style of the drivers; the four runners
only carry the actions out, sync or async, streamed or not.
"""

from __future__ import annotations

import inspect
import json
import logging
import typing
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from attrs import field, frozen

from jtd_ai.errors import AIError, MalformedResponseError, ValidationError
from jtd_ai.messages import TOOL_NAME, Message, Role, Tool, ToolCall

if TYPE_CHECKING:
    from jtd_ai.conversation import Conversation
    from jtd_ai.responses import Response

__all__ = ["FinalResponse", "MaxStepsError", "RunEvent", "TextDelta", "ToolCallRequested",
           "ToolError", "ToolResult", "as_tools", "tool", "tool_from_function"]

log = logging.getLogger("jtd_ai.tools")

#: What happens when a tool function raises: ``"model"`` sends the error to the model as the
#: tool's result (it may retry or explain); ``"raise"`` ends the loop with :class:`ToolError`.
ToolErrorPolicy = Literal["model", "raise"]
_POLICIES = ("model", "raise")
#: Model calls one run may make unless told otherwise.
DEFAULT_MAX_STEPS = 10
#: Threads a sync run uses for one step's calls with ``parallel=True``.
_MAX_THREADS = 16


# -- errors ----------------------------------------------------------------------------------


class ToolError(AIError):
    """A tool function raised and the run's ``on_tool_error`` is ``"raise"``. The function's
    exception is ``__cause__``; ``conversation`` holds every turn up to the model's call
    (answer it with ``tool_result`` and ``run()`` again to go on)."""

    def __init__(self, message: str, *, tool: str, call: ToolCall,
                 conversation: Conversation) -> None:
        self.tool = tool
        self.call = call
        self.conversation = conversation
        super().__init__(message)


class MaxStepsError(AIError):
    """The model still called tools after ``max_steps`` model calls. The calls of the last
    step were run and their results are in ``conversation``'s history, so ``run()`` again
    continues where this stopped; ``response`` is the model's last reply."""

    def __init__(self, message: str, *, steps: int, response: Response,
                 conversation: Conversation) -> None:
        self.steps = steps
        self.conversation = conversation
        super().__init__(message, partial=response)

    @property
    def response(self) -> Response:
        assert self.partial is not None
        return self.partial


# -- tools from functions ---------------------------------------------------------------------


def tool_from_function(function: Callable[..., Any], *, name: str | None = None,
                       description: str | None = None) -> Tool:
    """See :meth:`jtd_ai.Tool.from_function`."""
    label = _label(function)
    if not callable(function):
        raise ValidationError(f"a tool function must be callable, not "
                              f"{type(function).__name__}", field="tools")
    chosen = name if name is not None else getattr(function, "__name__", None)
    if not isinstance(chosen, str) or not TOOL_NAME.fullmatch(chosen):
        raise ValidationError(
            f"tool function {label}: {chosen!r} cannot be a tool name (1 to 64 ASCII letters, "
            f"digits, '_' or '-'); give one with Tool.from_function(fn, name=...)",
            field="tools.name")
    signature = _signature(function, label)
    summary, documented = _docstring(function)
    properties: dict[str, Any] = {}
    required: list[str] = []
    definitions: dict[str, Any] = {}
    for parameter in signature.parameters.values():
        where = f"tool function {label}: parameter {parameter.name!r}"
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            star = "*" if parameter.kind is parameter.VAR_POSITIONAL else "**"
            raise ValidationError(f"{where} ({star}{parameter.name}) cannot be a tool "
                                  f"parameter: the model sends named arguments; list them",
                                  field=f"tools.{chosen}.{parameter.name}")
        if parameter.annotation is parameter.empty:
            raise ValidationError(f"{where} has no type hint; the model needs its type "
                                  f"(e.g. {parameter.name}: str)",
                                  field=f"tools.{chosen}.{parameter.name}")
        schema = _parameter_schema(parameter, where, chosen)
        for key, value in schema.pop("$defs", {}).items():
            if definitions.get(key, value) != value:
                raise ValidationError(f"{where}: two different types are both named {key!r}; "
                                      f"rename one", field=f"tools.{chosen}.{parameter.name}")
            definitions[key] = value
        text = _annotated_description(parameter.annotation) or documented.get(parameter.name)
        if text:
            schema["description"] = text
        if parameter.default is parameter.empty:
            required.append(parameter.name)
        else:
            from jtd_ai.schema import with_default

            schema = with_default(schema, parameter.default)
        properties[parameter.name] = schema
    parameters: dict[str, Any] = {"type": "object", "properties": properties,
                                  "required": required, "additionalProperties": False}
    if definitions:
        parameters["$defs"] = definitions
    return Tool(chosen, summary if description is None else description, parameters,
                function=function)


@typing.overload
def tool(function: Callable[..., Any], /) -> Tool: ...
@typing.overload
def tool(*, name: str | None = None,
         description: str | None = None) -> Callable[[Callable[..., Any]], Tool]: ...
def tool(function: Callable[..., Any] | None = None, /, *, name: str | None = None,
         description: str | None = None) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """``@jtd_ai.tool`` (or ``@jtd_ai.tool(name=..., description=...)``): the function as a
    :class:`~jtd_ai.Tool`, still callable as before."""
    if function is not None:
        return tool_from_function(function, name=name, description=description)

    def decorate(fn: Callable[..., Any]) -> Tool:
        return tool_from_function(fn, name=name, description=description)

    return decorate


def as_tools(items: Iterable[Any]) -> tuple[Tool, ...]:
    """Tools given as Tools, functions or tool dicts (or one list of them), as Tools; two
    with one name are a ValidationError naming both."""
    values = list(items)
    if len(values) == 1 and isinstance(values[0], list | tuple):
        values = list(values[0])
    tools = tuple(Tool.coerce(v, where=f"tools[{i}]") for i, v in enumerate(values))
    seen: dict[str, Tool] = {}
    for item in tools:
        other = seen.get(item.name)
        if other is not None:
            raise ValidationError(
                f"two tools are named {item.name!r} ({_origin(other)} and {_origin(item)}); "
                f"tool names must be unique: rename one (Tool.from_function(fn, name=...))",
                field="tools")
        seen[item.name] = item
    return tools


def _origin(item: Tool) -> str:
    return f"function {_label(item.function)}" if item.function is not None else "a tool dict"


def _label(function: Any) -> str:
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None) or type(function).__qualname__
    return f"{module}.{qualname}" if module else qualname


def _signature(function: Callable[..., Any], label: str) -> inspect.Signature:
    try:
        return inspect.signature(function, eval_str=True)
    except (NameError, SyntaxError, TypeError, AttributeError) as exc:
        raise ValidationError(f"tool function {label}: its type hints could not be resolved "
                              f"({type(exc).__name__}: {exc}); define the names they use at "
                              f"module level", field="tools") from None
    except ValueError as exc:  # a builtin without a signature
        raise ValidationError(f"tool function {label} has no readable signature ({exc}); "
                              f"wrap it in a function with typed parameters",
                              field="tools") from None


def _docstring(function: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """The docstring's text (summary and the paragraphs after it) and the description of
    each parameter it documents, in Google, Sphinx (reST), NumPy or Epydoc style."""
    doc = inspect.getdoc(function)
    if not doc:
        return "", {}
    import docstring_parser

    try:
        parsed = docstring_parser.parse(doc)
    except docstring_parser.ParseError:  # a docstring in no style it knows: its text only
        return doc.strip(), {}
    text = "\n\n".join(part for part in (parsed.short_description, parsed.long_description)
                       if part)
    params = {p.arg_name: " ".join(p.description.split())
              for p in parsed.params if p.description}
    return text, params


def _bare(annotation: Any) -> Any:
    """``T`` for ``Annotated[T, ...]``."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _annotated_description(annotation: Any) -> str | None:
    """The description an ``Annotated[T, ...]`` carries: a str, or an object's
    ``description`` (pydantic's ``Field(description=...)``)."""
    if typing.get_origin(annotation) is not typing.Annotated:
        return None
    for extra in reversed(typing.get_args(annotation)[1:]):
        if isinstance(extra, str):
            return extra
        text = getattr(extra, "description", None)
        if isinstance(text, str):
            return text
    return None


def _parameter_schema(parameter: inspect.Parameter, where: str, tool_name: str) -> dict[str, Any]:
    from jtd_ai.schema import type_schema

    try:
        return type_schema(_bare(parameter.annotation))
    except ValidationError as error:
        raise ValidationError(f"{where}: {error.message}",
                              field=f"tools.{tool_name}.{parameter.name}") from None


# -- calling a tool ---------------------------------------------------------------------------


@frozen
class _Planned:
    """One call the model asked for, ready to run: the function and its converted
    arguments, or ``problem`` (unknown tool, bad arguments) to send back instead."""

    call: ToolCall
    function: Callable[..., Any] | None = None
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(factory=dict)
    problem: str | None = None


@frozen
class _Outcome:
    call: ToolCall
    text: str
    error: BaseException | None = None
    is_error: bool = False


def _plan(call: ToolCall, tools: Mapping[str, Tool]) -> _Planned:
    found = tools.get(call.name)
    if found is None or found.function is None:
        names = ", ".join(sorted(tools)) or "none"
        return _Planned(call, problem=f"there is no tool named {call.name!r}; the tools are: "
                                      f"{names}")
    try:
        arguments = call.parsed_arguments()
    except MalformedResponseError as error:
        return _Planned(call, problem=f"{error.message}; call it again with a JSON object")
    try:
        args, kwargs = _bind(found.function, arguments)
    except ValidationError as error:
        return _Planned(call, problem=f"invalid arguments for tool {call.name!r}: "
                                      f"{error.message}; call it again with arguments that "
                                      f"match its schema")
    return _Planned(call, found.function, args, kwargs)


def _bind(function: Callable[..., Any], arguments: dict[str, Any],
          ) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``arguments`` (decoded JSON) as the function's arguments, each converted to its
    parameter's type hint (a parameter without one gets the JSON value as it is)."""
    from jtd_ai.schema import convert

    signature = _signature(function, _label(function))
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    rest = dict(arguments)
    takes_any = False
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            takes_any = True
            continue
        if parameter.kind is parameter.VAR_POSITIONAL:
            continue
        if parameter.name not in rest:
            if parameter.default is parameter.empty:
                raise ValidationError(f"missing required argument {parameter.name!r}",
                                      field=parameter.name)
            if parameter.kind is parameter.POSITIONAL_ONLY:
                args.append(parameter.default)  # so a later one can still be passed
            continue
        value = rest.pop(parameter.name)
        if parameter.annotation is not parameter.empty:
            try:
                value = convert(_bare(parameter.annotation), value)
            except ValidationError as error:
                raise ValidationError(f"argument {parameter.name!r}: {error.message}",
                                      field=parameter.name) from None
        if parameter.kind is parameter.POSITIONAL_ONLY:
            args.append(value)
        else:
            kwargs[parameter.name] = value
    if rest:
        if not takes_any:
            raise ValidationError(f"unknown argument(s) {', '.join(map(repr, sorted(rest)))}",
                                  field="arguments")
        kwargs.update(rest)
    return tuple(args), kwargs


def result_text(value: Any) -> str:
    """A tool function's return value as the text of its result: a str as it is, anything
    else as JSON (attrs classes, dataclasses and pydantic models as objects)."""
    if isinstance(value, str):
        return value
    return json.dumps(_jsonable(value), ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    """What JSON has no type for: sets as lists, anything else as its text."""
    if isinstance(value, set | frozenset):
        return list(value)
    return str(value)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    dump = getattr(value, "model_dump", None)  # a pydantic model
    if callable(dump):
        return dump(mode="json")
    from jtd_ai.convert import unstructure

    return unstructure(value)


def _failure_text(error: BaseException) -> str:
    """What the model is told when a tool raised; known secrets and key-shaped text are
    masked, as in every error jtd-ai shows."""
    from jtd_ai.secret import redact

    return redact(f"Error: the tool raised {type(error).__name__}: {error}")


def _finished(planned: _Planned, value: Any) -> _Outcome:
    return _Outcome(planned.call, result_text(value))


def _failed(planned: _Planned, error: Exception) -> _Outcome:
    log.debug("tool %s (%s) raised %s", planned.call.name, planned.call.id,
              type(error).__name__)
    return _Outcome(planned.call, _failure_text(error), error, is_error=True)


def _is_async(function: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        type(function).__call__)  # an object whose __call__ is async


def _call_sync(planned: _Planned) -> _Outcome:
    """Run one planned call in this thread (an async function with ``run_sync``)."""
    if planned.problem is not None:
        return _Outcome(planned.call, f"Error: {planned.problem}", is_error=True)
    assert planned.function is not None
    try:
        value = planned.function(*planned.args, **planned.kwargs)
        if inspect.isawaitable(value):
            from jtd_ai.driver import run_sync

            value = run_sync(value)
        return _finished(planned, value)
    except Exception as error:
        return _failed(planned, error)


async def _call_async(planned: _Planned) -> _Outcome:
    """Run one planned call: an async function awaited, a sync one in a worker thread."""
    if planned.problem is not None:
        return _Outcome(planned.call, f"Error: {planned.problem}", is_error=True)
    assert planned.function is not None
    try:
        if _is_async(planned.function):
            value = await planned.function(*planned.args, **planned.kwargs)
        else:
            import asyncio

            value = await asyncio.to_thread(planned.function, *planned.args, **planned.kwargs)
            if inspect.isawaitable(value):
                value = await value
        return _finished(planned, value)
    except Exception as error:
        return _failed(planned, error)


# -- events of a streamed run -------------------------------------------------------------------


@frozen
class TextDelta:
    """A piece of the model's text, as it arrives, in model call ``step`` (from 1)."""

    text: str
    step: int


@frozen
class ToolCallRequested:
    """The model asked for a tool call (the reply of ``step`` is complete)."""

    call: ToolCall
    step: int


@frozen
class ToolResult:
    """A tool call's result, as sent back to the model. ``is_error``: the text reports a
    failure (the function raised, or the call named no tool or had bad arguments);
    ``error`` is the exception the function raised, if it did."""

    call: ToolCall
    text: str
    step: int
    is_error: bool = False
    error: BaseException | None = field(default=None, eq=False)


@frozen
class FinalResponse:
    """The model's final reply: the run is over."""

    response: Response
    step: int


#: What ``run_stream()`` / ``arun_stream()`` yield.
RunEvent: TypeAlias = TextDelta | ToolCallRequested | ToolResult | FinalResponse


# -- the loop, as a generator of actions ----------------------------------------------------------


@frozen
class _Send:
    """Send the conversation (model call ``step``); the runner sends back the Response."""

    step: int


@frozen
class _Execute:
    """Run these calls; the runner sends back their outcomes, in the same order (with
    ``stop_early``, it may stop after the first failure and send back fewer)."""

    calls: tuple[_Planned, ...]
    stop_early: bool


@frozen
class _Emit:
    """An event for a streaming runner; the others ignore it. The runner sends back None."""

    event: RunEvent


_Action: TypeAlias = _Send | _Execute | _Emit


@frozen
class RunSettings:
    """A run's limits and policies, checked before anything is sent."""

    max_steps: int = DEFAULT_MAX_STEPS
    parallel: bool | int = False
    on_tool_error: ToolErrorPolicy = "model"

    def __attrs_post_init__(self) -> None:
        steps = self.max_steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValidationError(f"max_steps must be a whole number of model calls, at least "
                                  f"1, not {steps!r}", field="max_steps")
        parallel = self.parallel
        if not isinstance(parallel, bool) and (not isinstance(parallel, int) or parallel < 1):
            raise ValidationError(f"parallel must be True, False or a number of threads (1 or "
                                  f"more), not {parallel!r}", field="parallel")
        if self.on_tool_error not in _POLICIES:
            raise ValidationError(f"on_tool_error must be 'model' (the error is the tool's "
                                  f"result) or 'raise' (the run ends with ToolError), not "
                                  f"{self.on_tool_error!r}", field="on_tool_error")

    def threads(self, calls: int) -> int:
        if self.parallel is False or calls < 2:
            return 1
        if self.parallel is True:
            return min(calls, _MAX_THREADS)
        return min(calls, int(self.parallel))


def runnable_tools(items: Iterable[Any]) -> dict[str, Tool]:
    """The conversation's tools by name; each must have a function to run."""
    tools = as_tools(items)
    for item in tools:
        if item.function is None:
            raise ValidationError(
                f"tool {item.name!r} has no function to run; give the conversation Python "
                f"functions (.tools(fn)) or Tool(..., function=fn), or send and answer the "
                f"calls yourself (send() and tool_result())", field="tools")
    return {t.name: t for t in tools}


def _pending_calls(conversation: Conversation) -> tuple[ToolCall, ...]:
    """Calls of the last assistant turn that no tool result after it answers yet (a run
    stopped by ToolError keeps the results of the calls that finished)."""
    history = conversation.history
    answered: set[str | None] = set()
    for message in reversed(history):
        if message.role is Role.ASSISTANT:
            return tuple(call for call in message.tool_calls if call.id not in answered)
        if message.role is not Role.TOOL:
            return ()
        answered.add(message.tool_call_id)
    return ()


def _loop(conversation: Conversation, tools: Mapping[str, Tool],
          settings: RunSettings) -> Generator[_Action, Any, Response]:
    """The tool loop's steps; the runner carries out each action it yields."""
    step = 0
    calls = _pending_calls(conversation)
    response: Response | None = None
    while True:
        if calls:
            planned = tuple(_plan(call, tools) for call in calls)
            stop_early = settings.on_tool_error == "raise"
            outcomes: list[_Outcome] = (yield _Execute(planned, stop_early))
            failed: _Outcome | None = None
            for outcome in outcomes:
                if stop_early and outcome.error is not None:
                    failed = failed or outcome  # stays unanswered: run() again runs it
                    continue
                conversation.history.append(Message.tool(outcome.text, call_id=outcome.call.id,
                                                         name=outcome.call.name))
                yield _Emit(ToolResult(outcome.call, outcome.text, step, outcome.is_error,
                                       outcome.error))
            if failed is not None:
                error = failed.error
                raise ToolError(
                    f"tool {failed.call.name!r} raised {type(error).__name__}: {error} "
                    f"(on_tool_error='raise'); the conversation holds the call and the "
                    f"results of the calls that finished", tool=failed.call.name,
                    call=failed.call, conversation=conversation) from error
            if step >= settings.max_steps:
                assert response is not None
                raise MaxStepsError(
                    f"the model still called tools after {step} model call(s) "
                    f"(max_steps={settings.max_steps}); the conversation holds every turn "
                    f"and tool result: run() again to continue, or allow more max_steps",
                    steps=step, response=response, conversation=conversation)
        step += 1
        response = yield _Send(step)
        assert response is not None
        if not response.tool_calls:
            yield _Emit(FinalResponse(response, step))
            return response
        calls = response.tool_calls
        for call in calls:
            yield _Emit(ToolCallRequested(call, step))


# -- runners ------------------------------------------------------------------------------------


def _execute_sync(action: _Execute, settings: RunSettings) -> list[_Outcome]:
    threads = settings.threads(len(action.calls))
    if threads == 1:
        outcomes = []
        for planned in action.calls:
            outcome = _call_sync(planned)
            outcomes.append(outcome)
            if action.stop_early and outcome.error is not None:
                break
        return outcomes
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads, thread_name_prefix="jtd-ai-tool") as pool:
        futures = [pool.submit(contextvars.copy_context().run, _call_sync, planned)
                   for planned in action.calls]
        return [future.result() for future in futures]


async def _execute_async(action: _Execute, settings: RunSettings) -> list[_Outcome]:
    if settings.parallel is False or len(action.calls) < 2:
        outcomes = []
        for planned in action.calls:
            outcome = await _call_async(planned)
            outcomes.append(outcome)
            if action.stop_early and outcome.error is not None:
                break
        return outcomes
    import asyncio

    limit = asyncio.Semaphore(len(action.calls) if settings.parallel is True
                              else int(settings.parallel))

    async def bounded(planned: _Planned) -> _Outcome:
        async with limit:
            return await _call_async(planned)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(bounded(planned)) for planned in action.calls]
    return [task.result() for task in tasks]


def run(conversation: Conversation, tools: Iterable[Any], settings: RunSettings) -> Response:
    """Run the tool loop, sync; the final Response."""
    steps = _loop(conversation, runnable_tools(tools), settings)
    reply: Any = None
    try:
        while True:
            action = steps.send(reply)
            if isinstance(action, _Send):
                reply = conversation.send()
            elif isinstance(action, _Execute):
                reply = _execute_sync(action, settings)
            else:
                reply = None
    except StopIteration as done:
        result: Response = done.value
        return result


async def arun(conversation: Conversation, tools: Iterable[Any],
               settings: RunSettings) -> Response:
    """Run the tool loop, async; the final Response."""
    steps = _loop(conversation, runnable_tools(tools), settings)
    reply: Any = None
    try:
        while True:
            action = steps.send(reply)
            if isinstance(action, _Send):
                reply = await conversation.asend()
            elif isinstance(action, _Execute):
                reply = await _execute_async(action, settings)
            else:
                reply = None
    except StopIteration as done:
        result: Response = done.value
        return result


def run_stream(conversation: Conversation, tools: Iterable[Any],
               settings: RunSettings) -> Iterator[RunEvent]:
    """Run the tool loop, streaming each model call; its events as they come. The tools
    are checked now, before the first event is asked for."""
    return _stream_events(conversation, runnable_tools(tools), settings)


def _stream_events(conversation: Conversation, tools: dict[str, Tool],
                   settings: RunSettings) -> Iterator[RunEvent]:
    steps = _loop(conversation, tools, settings)
    reply: Any = None
    while True:
        try:
            action = steps.send(reply)
        except StopIteration:
            return
        if isinstance(action, _Send):
            stream = conversation.stream()
            with stream:
                for chunk in stream:
                    if chunk.delta:
                        yield TextDelta(chunk.delta, action.step)
            reply = stream.response
        elif isinstance(action, _Execute):
            reply = _execute_sync(action, settings)
        else:
            yield action.event
            reply = None


def arun_stream(conversation: Conversation, tools: Iterable[Any],
                settings: RunSettings) -> AsyncIterator[RunEvent]:
    """Async form of :func:`run_stream`."""
    return _astream_events(conversation, runnable_tools(tools), settings)


async def _astream_events(conversation: Conversation, tools: dict[str, Tool],
                          settings: RunSettings) -> AsyncIterator[RunEvent]:
    steps = _loop(conversation, tools, settings)
    reply: Any = None
    while True:
        try:
            action = steps.send(reply)
        except StopIteration:
            return
        if isinstance(action, _Send):
            stream = conversation.astream()
            async with stream:
                async for chunk in stream:
                    if chunk.delta:
                        yield TextDelta(chunk.delta, action.step)
            reply = stream.response
        elif isinstance(action, _Execute):
            reply = await _execute_async(action, settings)
        else:
            yield action.event
            reply = None
