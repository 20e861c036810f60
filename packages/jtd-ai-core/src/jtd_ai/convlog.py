"""The conversation log: a built-in plugin on the public ``wrap_call`` hook that keeps each
chat turn in the store (opt-in: ``[plugins.log]`` in jtd-ai.toml), and the API that reads it
back (``jtd-ai logs``, ``jtd-ai chat -c``).

A turn is one call as the caller made it: the messages it added to the conversation, the
system prompt and options, the reply (text, tool calls, reasoning), who answered it (provider,
model), tokens, cost, latency, whether it came from the reply cache, and how it ended (``ok``,
or ``error`` with the error's type and message, and what arrived before it). Turns are grouped
by conversation id: a :class:`~jtd_ai.Conversation`'s own (``CallInfo.conversation_id``); a
bare driver call and each batch item start a conversation of their own. Calls inside
``AI.fake()`` are not logged (scripted replies, as the usage ledger skips them too).

A turn keeps only the messages that are new since the conversation's previous turn
(``history_index`` says where they start), so a long conversation is not stored again on
every turn; :meth:`ConversationLog.history` puts the whole history back together. Which
messages are new is checked, not guessed from counts: each turn keeps a digest of the history
before its messages (``base_digest``) and after its reply (``state_digest``); the next turn's
history continues the one or the other (a question dropped after a failure), or else it is
stored whole. Writing a
turn never fails the call: a store failure is reported (a WARNING under ``jtd_ai.store``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from attrs import field, frozen

from jtd_ai.errors import AIError, ConfigurationError, StoreError, ValidationError
from jtd_ai.hookspecs import hookimpl
from jtd_ai.messages import Message, Role, TextPart, ToolCall
from jtd_ai.migrations import to_pico

if TYPE_CHECKING:
    from jtd_ai.calls import CallInfo
    from jtd_ai.manager import AIManager
    from jtd_ai.middleware import CallWrapper
    from jtd_ai.request import ChatRequest
    from jtd_ai.responses import Response
    from jtd_ai.store import AnyStore

__all__ = ["ConversationLog", "ConversationSummary", "LogPlugin", "Turn", "new_id", "plugin"]

#: The driver of every provider inside ``AI.fake()``, whose calls are not logged.
FAKE_DRIVER = "fake"
#: How much of a conversation's first prompt is kept as its title.
TITLE_LENGTH = 80

_TURN_FIELDS = ("id", "conversation_id", "ts", "history_index", "message_count",
                "base_digest", "state_digest", "messages",
                "prompt", "system", "options", "reply", "tool_calls", "reasoning",
                "reply_metadata",
                "finish_reason", "provider", "driver", "model", "requested_model", "operation",
                "request_id", "input_tokens", "output_tokens", "cost", "cost_pico", "latency",
                "cached", "status", "error", "batch_id")
_INSERT_TURN = (f"INSERT INTO turns ({', '.join(_TURN_FIELDS)}) "  # noqa: S608
                f"VALUES ({', '.join('?' * len(_TURN_FIELDS))})")
_SELECT_TURN = f"SELECT {', '.join(_TURN_FIELDS)} FROM turns"  # noqa: S608
_UPSERT_CONVERSATION = (
    "INSERT INTO conversations (id, started, updated, title, provider, model, system, turns) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (id) DO UPDATE SET "
    "updated = excluded.updated, provider = excluded.provider, model = excluded.model, "
    "system = excluded.system, turns = conversations.turns + 1")
_SUMMARY = ("SELECT c.id, c.started, c.updated, c.title, c.provider, c.model, c.system, "
            "c.turns, (SELECT SUM(t.cost_pico) FROM turns t WHERE t.conversation_id = c.id) "
            "FROM conversations c")


def new_id() -> str:
    """A new conversation or turn id: 32 hex digits (random)."""
    return uuid.uuid4().hex


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _dumps(data: Any) -> str:
    # Provider metadata is meant to be JSON; anything else is kept as its repr, never lost.
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=repr)


@frozen(kw_only=True)
class Turn:
    """One logged call: what it added to the conversation and what came back."""

    id: str
    conversation_id: str
    ts: dt.datetime
    #: Where this turn's ``messages`` start in the conversation's history (system prompt
    #: excluded).
    history_index: int
    #: The messages this turn added (the user's prompt, tool results, ...).
    messages: tuple[Message, ...]
    #: The text of the user messages among them.
    prompt: str
    system: str | None
    options: Mapping[str, Any] = field(factory=dict)
    reply: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: str | None = None
    #: Provider data the reply's assistant turn carries back on the next call.
    reply_metadata: Mapping[str, Any] = field(factory=dict)
    finish_reason: str | None = None
    provider: str
    driver: str | None = None
    #: The model that answered (``requested_model``: the one asked for).
    model: str | None = None
    requested_model: str | None = None
    operation: str = "chat"
    request_id: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: Decimal | None = None
    latency: float | None = None
    cached: bool = False
    #: ``ok``, or ``error`` (``error`` then says which, and why).
    status: str = "ok"
    error: str | None = None
    batch_id: str | None = None

    @property
    def reply_message(self) -> Message | None:
        """The assistant turn this reply added to the history (None when the call failed)."""
        if self.status != "ok":
            return None
        return Message("assistant", (TextPart(self.reply),) if self.reply else (),
                       self.tool_calls, reasoning=self.reasoning,
                       metadata=self.reply_metadata)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as ``jtd-ai logs --json`` prints it."""
        from jtd_ai.transcript import message_data, tool_calls_data

        return {
            "id": self.id, "conversation_id": self.conversation_id, "ts": self.ts.isoformat(),
            "history_index": self.history_index,
            "messages": [message_data(m) for m in self.messages], "prompt": self.prompt,
            "system": self.system, "options": dict(self.options), "reply": self.reply,
            "tool_calls": tool_calls_data(self.tool_calls), "reasoning": self.reasoning,
            "reply_metadata": dict(self.reply_metadata),
            "finish_reason": self.finish_reason, "provider": self.provider,
            "driver": self.driver, "model": self.model,
            "requested_model": self.requested_model, "operation": self.operation,
            "request_id": self.request_id, "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost": str(self.cost) if self.cost is not None else None,
            "latency": self.latency, "cached": self.cached, "status": self.status,
            "error": self.error, "batch_id": self.batch_id,
        }


@frozen(kw_only=True)
class ConversationSummary:
    """A logged conversation: when, with whom, how many turns, what it cost in all."""

    id: str
    started: dt.datetime
    updated: dt.datetime
    #: The start of its first prompt.
    title: str
    #: The provider and model of its latest turn.
    provider: str
    model: str | None
    system: str | None
    turns: int
    #: The sum of the known costs of its turns (None when none is known).
    cost: Decimal | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "started": self.started.isoformat(),
                "updated": self.updated.isoformat(), "title": self.title,
                "provider": self.provider, "model": self.model, "system": self.system,
                "turns": self.turns,
                "cost": str(self.cost) if self.cost is not None else None}


def _summary(row: Sequence[Any]) -> ConversationSummary:
    from jtd_ai.migrations import PICO

    return ConversationSummary(
        id=row[0], started=dt.datetime.fromisoformat(row[1]),
        updated=dt.datetime.fromisoformat(row[2]), title=row[3], provider=row[4],
        model=row[5], system=row[6], turns=int(row[7]),
        cost=(Decimal(int(row[8])) / PICO) if row[8] is not None else None)


def _turn(row: Sequence[Any]) -> Turn:
    from jtd_ai.transcript import message_from_data, tool_calls_from_data

    data = dict(zip(_TURN_FIELDS, row, strict=True))
    return Turn(
        id=data["id"], conversation_id=data["conversation_id"],
        ts=dt.datetime.fromisoformat(data["ts"]), history_index=int(data["history_index"]),
        messages=tuple(message_from_data(m) for m in json.loads(data["messages"])),
        prompt=data["prompt"], system=data["system"], options=json.loads(data["options"]),
        reply=data["reply"],
        tool_calls=tool_calls_from_data(json.loads(data["tool_calls"] or "[]")),
        reasoning=data["reasoning"],
        reply_metadata=json.loads(data["reply_metadata"] or "{}"),
        finish_reason=data["finish_reason"],
        provider=data["provider"], driver=data["driver"], model=data["model"],
        requested_model=data["requested_model"], operation=data["operation"],
        request_id=data["request_id"], input_tokens=data["input_tokens"],
        output_tokens=data["output_tokens"],
        cost=Decimal(data["cost"]) if data["cost"] is not None else None,
        latency=data["latency"], cached=bool(data["cached"]), status=data["status"],
        error=data["error"], batch_id=data["batch_id"])


def _digests(history: Sequence[Message], lengths: set[int]) -> dict[int, str]:
    """SHA-256 digests of the first ``n`` messages of ``history``, for each ``n`` in
    ``lengths`` (the fields that take part in a message's equality, so a history put back
    together from the log digests the same)."""
    from jtd_ai.transcript import canonical

    running = hashlib.sha256()
    found = {0: running.hexdigest()} if 0 in lengths else {}
    for count, message in enumerate(history, 1):
        if count > max(lengths, default=0):
            break
        running.update(json.dumps(canonical(message), sort_keys=True, ensure_ascii=False,
                                  separators=(",", ":")).encode("utf-8", "surrogatepass"))
        running.update(b"\n")
        if count in lengths:
            found[count] = running.hexdigest()
    return found


def _start(history: Sequence[Message], previous: Sequence[Any] | None) -> int:
    """Where the messages new since the ``previous`` turn (history_index, message_count,
    status, base_digest, state_digest) start in ``history``: after that turn's reply when
    ``history`` goes on from it; where that turn's own messages started when it goes on from
    before them (they were dropped: a failed question taken back); else at 0 (all new)."""
    if previous is None:
        return 0
    index, count, status, base, state = previous
    after = int(index) + int(count) + (1 if status == "ok" else 0)
    found = _digests(history, {n for n in (after, int(index)) if n <= len(history)})
    if found.get(after) == state:
        return after
    if found.get(int(index)) == base:
        return int(index)
    return 0


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ConversationLog:
    """The turns in the store's ``conversations`` and ``turns`` tables."""

    def __init__(self, store: AnyStore) -> None:
        self.store = store

    @classmethod
    def of(cls, manager: AIManager) -> ConversationLog:
        """The conversation log of ``manager``'s store (``ConversationLog.of(AI)``); raises
        StoreError when the store is off or unusable."""
        return cls(manager.storage.store())

    # -- writing -------------------------------------------------------------------------------

    def record(self, request: ChatRequest, response: Response | None, *, provider: str,
               conversation_id: str | None = None, driver: str | None = None,
               operation: str = "chat", error: AIError | None = None,
               batch_id: str | None = None, ts: dt.datetime | None = None) -> Turn:
        """Log one call of ``request`` to ``provider``: its ``response``, or the ``error`` it
        ended with (and the partial reply the error carries, if any). Returns the turn."""
        from jtd_ai.transcript import message_data, request_options, tool_calls_data

        moment = ts or dt.datetime.now(dt.UTC)
        cid = conversation_id or new_id()
        reply = response if response is not None else (
            error.partial if error is not None else None)
        history = [m for m in request.messages if m.role is not Role.SYSTEM]
        system = "\n\n".join(m.text for m in request.messages if m.role is Role.SYSTEM) or None
        options = request_options(request)
        usage = reply.usage if reply is not None else None
        status, error_text = "ok", None
        if error is not None or response is None:
            status = "error"
            error_text = f"{type(error).__name__}: {error}" if error is not None else None
        # Read the last turn and add this one under the conversation's lock: two hosts
        # appending at once (PostgreSQL's read committed) take their turns one after another.
        with self.store.write(lock=f"conversation:{cid}") as conn:
            previous = conn.execute(
                "SELECT history_index, message_count, status, base_digest, state_digest FROM "
                "turns WHERE conversation_id = ? ORDER BY ts DESC, id DESC LIMIT 1",
                (cid,)).fetchone()
            start = _start(history, previous)
            added = history[start:]
            after = [*history, response.to_message()] if response is not None else history
            digests = _digests(after, {start, len(after)})
            prompt = "\n\n".join(m.text for m in added if m.role is Role.USER)
            turn = Turn(
                id=new_id(), conversation_id=cid, ts=moment, history_index=start,
                messages=tuple(added), prompt=prompt, system=system, options=options,
                reply=reply.content if reply is not None else None,
                tool_calls=reply.tool_calls if reply is not None else (),
                reasoning=reply.reasoning if reply is not None else None,
                reply_metadata=dict(reply.metadata) if reply is not None else {},
                finish_reason=(str(reply.finish_reason.value)
                               if reply is not None and reply.finish_reason else None),
                provider=reply.provider if reply is not None else provider, driver=driver,
                model=reply.model if reply is not None else request.model,
                requested_model=request.model, operation=operation,
                request_id=reply.request_id if reply is not None else None,
                input_tokens=usage.input_tokens if usage else None,
                output_tokens=usage.output_tokens if usage else None,
                cost=reply.cost if reply is not None else None,
                latency=reply.latency if reply is not None else None,
                cached=bool(reply is not None and reply.cached), status=status,
                error=error_text, batch_id=batch_id)
            title = " ".join(prompt.split())[:TITLE_LENGTH]
            conn.execute(_UPSERT_CONVERSATION, (cid, _iso(moment), _iso(moment), title,
                                                turn.provider, turn.model, system))
            conn.execute(_INSERT_TURN, (
                turn.id, cid, _iso(moment), start, len(added), digests[start],
                digests[len(after)],
                _dumps([message_data(m) for m in added]), prompt, system, _dumps(options),
                turn.reply, _dumps(tool_calls_data(turn.tool_calls)) if turn.tool_calls
                else None, turn.reasoning,
                _dumps(dict(turn.reply_metadata)) if turn.reply_metadata else None,
                turn.finish_reason, turn.provider, driver,
                turn.model, request.model, operation, turn.request_id, turn.input_tokens,
                turn.output_tokens, str(turn.cost) if turn.cost is not None else None,
                to_pico(turn.cost), turn.latency, int(turn.cached), status, error_text,
                batch_id))
        return turn

    # -- reading -------------------------------------------------------------------------------

    def conversations(self, limit: int | None = 10) -> list[ConversationSummary]:
        """The conversations, the most recently updated first."""
        sql = f"{_SUMMARY} ORDER BY c.updated DESC, c.id DESC"
        params: list[object] = []
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_summary(row) for row in self.store.query(sql, params)]

    def conversation(self, conversation_id: str) -> ConversationSummary | None:
        rows = self.store.query(f"{_SUMMARY} WHERE c.id = ?", (conversation_id,))
        return _summary(rows[0]) if rows else None

    def latest(self) -> str | None:
        """The id of the most recently updated conversation, or None when there is none."""
        rows = self.store.query("SELECT id FROM conversations ORDER BY updated DESC, id DESC "
                                "LIMIT 1")
        return str(rows[0][0]) if rows else None

    def resolve(self, given: str) -> str:
        """The conversation id that ``given`` (a whole id or its first characters) names;
        ValidationError when none or several do."""
        text = given.strip().lower()
        if not text or not text.isalnum() or not text.isascii():
            raise ValidationError(f"{given!r} is not a conversation id", field="conversation_id")
        rows = self.store.query("SELECT id FROM conversations WHERE id LIKE ? ORDER BY id "
                                "LIMIT 2", (text + "%",))
        if not rows:
            raise ValidationError(f"no logged conversation has the id {given!r}",
                                  field="conversation_id")
        if len(rows) > 1 and rows[0][0] != text:
            raise ValidationError(f"{given!r} is the start of several conversation ids; give "
                                  f"more of it", field="conversation_id")
        return str(rows[0][0])

    def turns(self, conversation_id: str) -> list[Turn]:
        """The turns of a conversation, oldest first."""
        rows = self.store.query(f"{_SELECT_TURN} WHERE conversation_id = ? ORDER BY ts, id",
                                (conversation_id,))
        return [_turn(row) for row in rows]

    def search(self, text: str, limit: int | None = 20) -> list[Turn]:
        """Turns whose prompt, reply or system prompt holds ``text`` (any case), newest
        first."""
        pattern = _like(text)
        sql = (f"{_SELECT_TURN} WHERE LOWER(prompt) LIKE ? ESCAPE '\\' OR LOWER(reply) LIKE ? "
               f"ESCAPE '\\' OR LOWER(system) LIKE ? ESCAPE '\\' ORDER BY ts DESC, id DESC")
        params: list[object] = [pattern, pattern, pattern]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_turn(row) for row in self.store.query(sql, params)]

    def history(self, conversation_id: str) -> list[Message]:
        """The conversation's history as it stood after its last turn (system prompt
        excluded): what a :class:`~jtd_ai.Conversation` continuing it starts from. Messages
        of a last turn that failed are left out."""
        history: list[Message] = []
        turns = self.turns(conversation_id)
        for turn in turns:
            history[turn.history_index:] = turn.messages
            reply = turn.reply_message
            if reply is not None:
                history.append(reply)
        if turns and turns[-1].status != "ok":
            del history[turns[-1].history_index:]
        return history


class LogPlugin:
    """Logs every chat and stream call as a turn of its conversation. It wraps inside the
    fallbacks (``tryfirst``) and outside the reply cache (``trylast``): each provider a
    fallback tries is a turn (a failed one with its error), and a reply served from the cache
    is one too (``cached``)."""

    def __init__(self, manager: AIManager) -> None:
        self.manager = manager

    def __repr__(self) -> str:
        return "<LogPlugin>"

    def log(self) -> ConversationLog:
        """The log in the manager's store (raises StoreError when it is unusable)."""
        return ConversationLog.of(self.manager)

    @hookimpl
    def wrap_call(self, call: CallInfo) -> CallWrapper | None:
        if (call.operation not in ("chat", "stream") or call.request is None
                or call.driver == FAKE_DRIVER):  # AI.fake(): scripted, not a conversation
            return None
        from jtd_ai.middleware import in_thread

        return in_thread(self._wrapper(call))  # an async call writes off its loop

    def _wrapper(self, call: CallInfo) -> CallWrapper:
        request = call.request
        assert request is not None
        started = dt.datetime.now(dt.UTC)
        if call.conversation_id is None:
            # A bare driver call or a batch item: a conversation of its own, which the
            # calls a fallback makes for it (they copy the CallInfo's id) join.
            call.conversation_id = new_id()
        cid = call.conversation_id
        try:
            response = yield request
        except AIError as error:
            self._record(call, request, None, error, cid, started)
            raise
        self._record(call, request, response, None, cid, started)
        return response

    def _record(self, call: CallInfo, request: ChatRequest, response: Response | None,
                error: AIError | None, cid: str, started: dt.datetime) -> None:
        try:
            self.log().record(request, response, provider=call.provider,
                              conversation_id=cid, driver=call.driver,
                              operation=call.operation, error=error, batch_id=call.batch_id,
                              ts=started)
        except StoreError as exc:
            self.manager.storage.report(exc)


def plugin(manager: AIManager, options: Mapping[str, Any]) -> LogPlugin:
    """The ``log`` plugin's factory: it takes no options but ``enabled``."""
    unknown = sorted(set(options) - {"enabled"})
    if unknown:
        raise ConfigurationError(f"plugins.log: unknown key {unknown[0]!r} (known: enabled)")
    if not manager.storage.options.enabled:
        raise ConfigurationError("[plugins.log] keeps conversations in the jtd-ai store, "
                                 "which is turned off: set [store] enabled = true (or a "
                                 "path), or remove [plugins.log]")
    return LogPlugin(manager)
