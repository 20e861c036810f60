"""Where the per-call time of a profiled scenario goes, from a pyinstrument session.

Every sample is charged to one area: the HTTP library or event loop it was in (httpx,
aiohttp, asyncio and sockets, waiting on a socket), else the step of jtd-ai's own per-call
path whose code it was in or called from (building the request, parsing the reply, cost,
hooks, ledger, the batch engine, the glue around the HTTP client), else the benchmark
harness. Library code that jtd-ai calls outside the HTTP layer (json, attrs, decimal,
sqlite3) counts to the jtd-ai step that called it, so a step's time is what that step costs.

The profiler slows Python code down, so shares mean more than microseconds; and it watches
the calling thread only (the usage ledger's writer thread is not in it).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

__all__ = ["MODULE_STEPS", "STEPS", "summarize", "text"]

#: Library folders, by area, for samples outside jtd-ai's own code.
_LIBRARIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("httpx, httpcore, h11", ("httpx", "httpcore", "h11", "anyio", "idna", "sniffio")),
    ("aiohttp, yarl, multidict", ("aiohttp", "yarl", "multidict", "propcache", "frozenlist",
                                  "aiosignal", "aiohappyeyeballs")),
    ("asyncio loop, sockets, TLS", ("asyncio", "selectors.py", "socket.py", "ssl.py",
                                    "uvloop", "threading.py")),
)
#: Built-in calls that wait for the kernel or the server rather than compute.
_WAITING = re.compile(r"\b(e?poll|select|recv|recv_into|read|accept|wait|acquire)\b")
_JTD = re.compile(r"[/\\](jtd_ai(?:_\w+)?)[/\\](.+?\.py)$")
_ATTRS = re.compile(r"<attrs generated \w+ (jtd_ai(?:_\w+)?)\.([\w.]+)\.\w+>")

_Owners = tuple[tuple[str, frozenset[str] | None], ...]

#: jtd-ai's per-call steps, by the code that belongs to each: (file, function names or None
#: for every function in it). A sample goes to the step of the innermost frame on its stack
#: that names a step's entry (STEPS): Message.__init__ under ``parse_chat`` is parsing, the
#: same under ``build_request`` building the request. Samples under no entry go to the
#: step of their innermost jtd-ai module (MODULE_STEPS).
STEPS: tuple[tuple[str, _Owners], ...] = (
    ("usage ledger", (("jtd_ai/ledger.py", None), ("jtd_ai/ledger_writer.py", None),
                      ("jtd_ai/store.py", None), ("jtd_ai/storage.py", None))),
    ("cost", (("jtd_ai/pricing.py", None), ("jtd_ai/price_fallback.py", None),
              ("jtd_ai/driver.py", frozenset({"_with_cost", "pricing"})))),
    ("hooks (pluggy)", (("pluggy/", None),)),
    ("parsing the reply", (("jtd_ai_openai/protocol.py", frozenset({
                               "parse_chat", "rate_limit", "token_usage", "finish_reason",
                               "parse_error", "stream_decoder", "_usage_mapping"})),
                           ("jtd_ai_openai/wire.py", None), ("jtd_ai_openai/ratelimit.py", None),
                           ("jtd_ai_openai/stream.py", None), ("jtd_ai/wire.py", None),
                           ("jtd_ai/framing.py", None), ("jtd_ai/streaming.py", None))),
    ("building the request", (("jtd_ai/driver.py", frozenset({"build_request", "_messages"})),
                              ("jtd_ai_openai/protocol.py", frozenset({
                                  "chat_request", "chat_body", "wire_message", "check_extra",
                                  "max_tokens_field", "auth_headers", "params"})),
                              ("jtd_ai_openai/body.py", None),
                              ("jtd_ai/transport.py", frozenset({"_prepare", "_encode"})))),
)
MODULE_STEPS: tuple[tuple[str, _Owners], ...] = (
    ("building the request", (("jtd_ai/messages.py", None), ("jtd_ai/request.py", None),
                              ("jtd_ai/convert.py", None))),
    ("parsing the reply", (("jtd_ai/responses.py", None),)),
    ("hooks (pluggy)", (("jtd_ai/plugins.py", None), ("jtd_ai/hookspecs.py", None))),
    ("batch engine", (("jtd_ai/batch.py", None),)),
    ("HTTP glue (transport, backends)", (("jtd_ai/transport.py", None),
                                         ("jtd_ai/backends/", None), ("jtd_ai/retry.py", None))),
    ("driver and the rest of jtd-ai", (("jtd_ai/", None), ("jtd_ai_", None))),
)


def _where(frame: Any) -> str:
    """A frame's file as ``package/module.py`` for jtd-ai code and installed packages, else
    its path."""
    path = frame.file_path or ""
    found = _JTD.search(path)
    if found:
        return f"{found.group(1)}/{found.group(2)}".replace("\\", "/")
    found = _ATTRS.search(path)
    if found:  # attrs-made __init__/__eq__: the class's module
        return f"{found.group(1)}/{found.group(2).replace('.', '/')}.py"
    path = path.replace("\\", "/")
    return path.rsplit("/site-packages/", 1)[-1]


def _library(path: str) -> str | None:
    for area, names in _LIBRARIES:
        for name in names:
            if f"/{name}/" in path or path.endswith(f"/{name}"):
                return area
    return None


def _step(frame: Any, steps: tuple[tuple[str, _Owners], ...]) -> str | None:
    where = _where(frame)
    function = frame.function
    for step, owners in steps:
        for prefix, functions in owners:
            if where.startswith(prefix) and (functions is None or function in functions):
                return step
    return None


def _stack(frame: Any) -> Iterator[Any]:
    while frame is not None:
        yield frame
        frame = frame.parent


def _frames(root: Any) -> Iterator[Any]:
    todo = [root]
    while todo:
        frame = todo.pop()
        todo.extend(frame.children)
        if not frame.is_synthetic:
            yield frame


def _charge(frame: Any) -> tuple[str, Any | None]:
    """(area, the jtd-ai frame charged, if any) for the samples whose innermost frame is
    ``frame``."""
    path = (frame.file_path or "").replace("\\", "/")
    if path == "<built-in>" and _WAITING.search(frame.function):
        return "waiting on sockets (server, kernel)", None
    for outer in _stack(frame):
        outer_path = (outer.file_path or "").replace("\\", "/")
        if outer_path == "<built-in>":
            continue
        library = _library(outer_path)
        if library is not None:
            return library, None
        break
    for steps in (STEPS, MODULE_STEPS):
        for outer in _stack(frame):
            step = _step(outer, steps)
            if step is not None:
                return f"jtd-ai: {step}", _jtd_frame(frame) or outer
    return "benchmark harness, other", None


def _jtd_frame(frame: Any) -> Any | None:
    """The innermost frame of jtd-ai's own code on ``frame``'s stack."""
    for outer in _stack(frame):
        if _where(outer).startswith("jtd_ai"):
            return outer
    return None


def summarize(session: Any, calls: int, unit: str, top: int = 15) -> dict[str, Any]:
    """``session``: a pyinstrument Session of the measured part; ``calls``: how many
    ``unit`` (request, batch item, stream event) it holds. Seconds by area and by jtd-ai
    function, and µs per unit."""
    root = session.root_frame()
    areas: dict[str, float] = defaultdict(float)
    functions: dict[tuple[str, str, str], float] = defaultdict(float)
    total = 0.0
    if root is not None:
        total = root.time
        for frame in _frames(root):
            spent = frame.total_self_time
            if spent <= 0:
                continue
            area, owner = _charge(frame)
            areas[area] += spent
            if owner is not None:
                name = (f"{owner.class_name}.{owner.function}" if owner.class_name
                        else owner.function)
                functions[(name, _where(owner), area.removeprefix("jtd-ai: "))] += spent
    per_call = 1e6 / calls if calls else 0.0
    return {
        "calls": calls, "unit": unit, "seconds": total, "us_per_call": total * per_call,
        "areas": [{"area": area, "seconds": spent, "us_per_call": spent * per_call,
                   "share": spent / total if total else 0.0}
                  for area, spent in sorted(areas.items(), key=lambda item: -item[1])
                  if total and spent / total >= 0.0005],  # leaves out what rounds to 0.0%
        "functions": [{"function": name, "where": where, "step": step, "seconds": spent,
                       "us_per_call": spent * per_call,
                       "share": spent / total if total else 0.0}
                      for (name, where, step), spent in sorted(
                          functions.items(), key=lambda item: -item[1])[:top]],
    }


def text(summary: dict[str, Any]) -> str:
    """The summary as a few aligned lines."""
    unit = summary["unit"]
    lines = [f"{summary['calls']:,} {unit}s, {summary['us_per_call']:.1f} µs per {unit} "
             f"under the profiler; by area:"]
    lines += [f"  {a['share']:6.1%}  {a['us_per_call']:7.1f} µs  {a['area']}"
              for a in summary["areas"]]
    lines.append("jtd-ai's own code, by the function charged (callees outside the HTTP "
                 "layer included):")
    lines += [f"  {f['share']:6.1%}  {f['us_per_call']:7.1f} µs  {f['function']} "
              f"({f['where']}; {f['step']})" for f in summary["functions"]]
    return "\n".join(lines)
