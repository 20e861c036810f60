"""The reply cache: a built-in plugin on the public ``wrap_call`` hook that answers a chat call
from the store when the same request was answered before. Opt-in, in jtd-ai.toml::

    [plugins.cache]
    ttl = "1h"            # how long a reply is served again: 90s, 30m, 1h, 1d, 2w, 1h30m
    max_entries = 10000   # the least recently used replies go first past this many
    max_bytes = 50000000  # ... or past this many bytes of stored replies

A request is known by a digest of what changes its reply: the provider's name, the driver,
the model, the messages and every option except ``timeout`` (never an API key: the request
holds none). A hit is the stored Response marked ``cached=True`` with ``cost`` 0; the ledger
records it with no attempt; a stream is replayed from it as chunks. Failed calls are never
stored, nor replies the caller rejects (``CallInfo.reply_check``: a structured ``output=``
reply that does not parse; one stored earlier is dropped, not served), and calls inside
``AI.fake()`` neither read nor fill the cache. Store failures never fail a call: a cache that
cannot be read is a miss.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs
from attrs import frozen

from jtd_ai.errors import ConfigurationError, StoreError
from jtd_ai.hookspecs import hookimpl

if TYPE_CHECKING:
    from jtd_ai.calls import CallInfo
    from jtd_ai.manager import AIManager
    from jtd_ai.middleware import CallWrapper
    from jtd_ai.request import ChatRequest
    from jtd_ai.responses import Response
    from jtd_ai.store import AnyStore

__all__ = ["CacheOptions", "CachePlugin", "CacheStats", "ReplyCache", "bypass", "parse_duration",
           "plugin", "request_digest"]

#: Seconds a reply is served again when ``ttl`` is not given: a day.
DEFAULT_TTL = 86_400.0
#: Replies kept when ``max_entries`` is not given.
DEFAULT_MAX_ENTRIES = 10_000
#: Bumped when the digest's input changes shape, so old entries are never matched wrongly.
_DIGEST_VERSION = 1
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, "w": 604_800.0}
_DURATION = re.compile(r"(?:\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w))+\s*")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_OPTIONS = frozenset({"enabled", "ttl", "max_entries", "max_bytes"})
#: The driver of every provider inside ``AI.fake()``: its scripted replies are never served
#: from, nor stored in, the real cache (the usage ledger skips them too).
FAKE_DRIVER = "fake"

#: True while :func:`bypass` is in effect in this context.
_BYPASS: contextvars.ContextVar[bool] = contextvars.ContextVar("jtd_ai_cache_bypass",
                                                               default=False)


def parse_duration(value: object, what: str) -> float:
    """Seconds in ``value``: a number of seconds, or text such as ``"90s"``, ``"30m"``,
    ``"1h"``, ``"1d"``, ``"2w"``, ``"1h30m"``; anything else (or not above 0) is a
    ConfigurationError naming ``what``."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif _DURATION.fullmatch(text):
            seconds = sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))
    if seconds is None or not 0 < seconds < float("inf"):
        raise ConfigurationError(
            f"{what} must be a duration above 0, such as \"90s\", \"30m\", \"1h\", \"1d\", "
            f"\"2w\" or a number of seconds, not {value!r}")
    return seconds


def request_digest(provider: str, driver: str, request: ChatRequest) -> str:
    """The cache key of ``request`` sent to ``provider``: a SHA-256 of its canonical JSON,
    the call's deadline (``timeout``) left out, since it does not change the reply."""
    from jtd_ai.transcript import canonical

    data = canonical(request)
    data.pop("timeout", None)
    text = json.dumps([_DIGEST_VERSION, provider, driver, data], sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@contextlib.contextmanager
def bypass() -> Iterator[None]:
    """Calls made inside ``with bypass():`` (in this thread or task) neither read nor fill
    the reply cache."""
    token = _BYPASS.set(True)
    try:
        yield
    finally:
        _BYPASS.reset(token)


@frozen
class CacheOptions:
    """The ``[plugins.cache]`` settings, checked."""

    ttl: float = DEFAULT_TTL
    max_entries: int | None = DEFAULT_MAX_ENTRIES
    max_bytes: int | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> CacheOptions:
        unknown = sorted(set(options) - _OPTIONS)
        if unknown:
            raise ConfigurationError(f"plugins.cache: unknown key {unknown[0]!r} (known: "
                                     f"{', '.join(sorted(_OPTIONS))})")
        return cls(parse_duration(options.get("ttl", DEFAULT_TTL), "plugins.cache.ttl"),
                   _limit(options, "max_entries", DEFAULT_MAX_ENTRIES),
                   _limit(options, "max_bytes", None))


def _limit(options: Mapping[str, Any], name: str, default: int | None) -> int | None:
    value = options.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"plugins.cache.{name} must be a whole number above 0, "
                                 f"not {value!r}")
    return value


@frozen
class CacheStats:
    """What the cache holds now: live and expired entries, the bytes of their replies, and
    the hits served from them."""

    entries: int
    expired: int
    bytes: int
    hits: int


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


class ReplyCache:
    """Replies in the store's ``reply_cache`` table, by request digest."""

    def __init__(self, store: AnyStore, options: CacheOptions = CacheOptions(), *,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.store = store
        self.options = options
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    @classmethod
    def of(cls, manager: AIManager) -> ReplyCache:
        """The reply cache of ``manager``'s store, with the options of its ``cache`` plugin
        (the defaults when the plugin is off): ``ReplyCache.of(AI).stats()``, ``.clear()``.
        Raises StoreError when the store is off or unusable."""
        found = manager.load_plugins().get("cache")
        options = found.options if isinstance(found, CachePlugin) else CacheOptions()
        return cls(manager.storage.store(), options)

    def get(self, digest: str) -> Response | None:
        """The stored reply of ``digest`` while it is fresh, marked ``cached`` and costing
        nothing (its hit counted); else None."""
        from jtd_ai.transcript import response_from_data

        now = _iso(self._clock())
        rows = self.store.query("SELECT reply FROM reply_cache WHERE digest = ? AND "
                                "expires > ?", (digest, now))
        if not rows:
            return None
        # The hit is served even when counting it fails (the database busy for too long).
        with contextlib.suppress(StoreError), self.store.write() as conn:
            conn.execute("UPDATE reply_cache SET hits = hits + 1, used = ? WHERE digest = ?",
                         (now, digest))
        response = response_from_data(json.loads(rows[0][0]))
        return attrs.evolve(response, cached=True, cost=Decimal(0))

    def put(self, digest: str, response: Response) -> bool:
        """Keep ``response`` for ``digest`` (replacing what was there), then evict what is
        expired or over the caps; False when it cannot be stored (metadata that is not
        JSON)."""
        from jtd_ai.transcript import response_data

        try:
            text = json.dumps(response_data(response), ensure_ascii=False,
                              separators=(",", ":"))
        except (TypeError, ValueError):
            return False
        moment = self._clock()
        now = _iso(moment)
        expires = _iso(moment + dt.timedelta(seconds=self.options.ttl))
        size = len(text.encode("utf-8", "surrogatepass"))
        with self.store.write() as conn:
            conn.execute(
                "INSERT INTO reply_cache (digest, provider, model, reply, size, created, "
                "expires, used, hits) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0) "
                "ON CONFLICT (digest) DO UPDATE SET provider = excluded.provider, "
                "model = excluded.model, reply = excluded.reply, size = excluded.size, "
                "created = excluded.created, expires = excluded.expires, "
                "used = excluded.used, hits = 0",
                (digest, response.provider, response.model, text, size, now, expires, now))
            self._evict(conn, now)
        return True

    def _evict(self, conn: Any, now: str) -> None:
        conn.execute("DELETE FROM reply_cache WHERE expires <= ?", (now,))
        count, total = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM reply_cache").fetchone()
        cap = self.options.max_entries
        if cap is not None and count > cap:
            conn.execute("DELETE FROM reply_cache WHERE digest IN (SELECT digest FROM "
                         "reply_cache ORDER BY used, created LIMIT ?)", (count - cap,))
            count, total = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM reply_cache").fetchone()
        limit = self.options.max_bytes
        if limit is not None and total > limit:
            kept, drop = 0, []
            for digest, size in conn.execute(
                    "SELECT digest, size FROM reply_cache ORDER BY used DESC, created DESC"):
                if kept + size <= limit:
                    kept += size
                else:
                    drop.append((digest,))
            conn.executemany("DELETE FROM reply_cache WHERE digest = ?", drop)

    def forget(self, digest: str) -> bool:
        """Drop the reply stored for ``digest``; whether there was one."""
        with self.store.write() as conn:
            count = conn.execute("DELETE FROM reply_cache WHERE digest = ?", (digest,)).rowcount
        return bool(count)

    def stats(self) -> CacheStats:
        now = _iso(self._clock())
        entries, expired, size, hits = self.store.query(
            "SELECT COALESCE(SUM(CASE WHEN expires > ? THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN expires > ? THEN 0 ELSE 1 END), 0), "
            "COALESCE(SUM(size), 0), COALESCE(SUM(hits), 0) FROM reply_cache", (now, now))[0]
        return CacheStats(int(entries), int(expired), int(size), int(hits))

    def clear(self) -> int:
        """Forget every stored reply; how many there were."""
        with self.store.write() as conn:
            count = conn.execute("DELETE FROM reply_cache").rowcount
        return int(count)


class CachePlugin:
    """Answers chat and stream calls from the :class:`ReplyCache` of the manager's store.
    The innermost wrapper (``trylast``): what outer wrappers change is part of the key, and
    each provider a fallback tries has its own entries."""

    def __init__(self, manager: AIManager, options: CacheOptions) -> None:
        self.manager = manager
        self.options = options

    def __repr__(self) -> str:
        return f"<CachePlugin ttl={self.options.ttl:g}s>"

    def cache(self) -> ReplyCache:
        """The cache in the manager's store (raises StoreError when it is unusable)."""
        return ReplyCache(self.manager.storage.store(), self.options)

    @hookimpl(trylast=True)
    def wrap_call(self, call: CallInfo) -> CallWrapper | None:
        if (call.operation not in ("chat", "stream") or call.request is None or _BYPASS.get()
                or call.tags.get("cache", True) is False or call.driver == FAKE_DRIVER):
            return None
        from jtd_ai.middleware import in_thread

        return in_thread(self._wrapper(call))  # an async call reads and writes off its loop

    def _wrapper(self, call: CallInfo) -> CallWrapper:
        request = call.request
        assert request is not None
        digest = request_digest(call.provider, call.driver, request)
        try:
            cache = self.cache()
            hit = cache.get(digest)
        except StoreError as exc:
            self.manager.storage.report(exc)
            cache, hit = None, None
        if cache is not None and hit is not None:
            if _accepted(call, hit):
                return hit
            self._write(cache.forget, digest)  # a reply this caller rejects: asked again
        response = yield request
        if (cache is not None and not response.cached and response.finish_reason != "error"
                and _accepted(call, response)):
            self._write(cache.put, digest, response)
        return response

    def _write(self, work: Callable[..., object], *args: Any) -> None:
        """A cache write; a store failure is reported, never the call's."""
        try:
            work(*args)
        except StoreError as exc:
            self.manager.storage.report(exc)


def _accepted(call: CallInfo, response: Response) -> bool:
    """Whether the caller takes ``response`` (``call.reply_check``: a structured call's reply
    parses); a reply it rejects is neither stored nor served."""
    check = call.reply_check
    if check is None:
        return True
    try:
        return check(response)
    except Exception:  # a check that fails rejects: keeping the reply is never required
        return False


def plugin(manager: AIManager, options: Mapping[str, Any]) -> CachePlugin:
    """The ``cache`` plugin's factory: options checked now, the store opened on first use."""
    checked = CacheOptions.from_options({k: v for k, v in options.items() if k != "enabled"})
    if not manager.storage.options.enabled:
        raise ConfigurationError("[plugins.cache] keeps replies in the jtd-ai store, which is "
                                 "turned off: set [store] enabled = true (or a path), or "
                                 "remove [plugins.cache]")
    return CachePlugin(manager, checked)
