"""What every client process shares: arguments, the clock, the checks, one JSON line out.

A client module subclasses :class:`Client` with the scenarios its library can run and ends
with ``main(TheClient)``. The harness times sequential requests and batches itself, so every
client is timed the same way (streams time themselves: only the client sees its first
chunk), checks every reply against payloads.py, and asks the server for its CPU time around
the measured part only, so the server's share of that window can be reported.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

from clients import by_name
from payloads import REPLY, STREAM_CHUNKS, WrongReply, batch_prompts, stream_text

__all__ = ["Client", "StreamRun", "import_time", "main"]

#: httpx imports its command-line client (click, rich, pygments) whenever those happen to
#: be installed, which jtd-ai's own ``cli`` extra does. Whether a benchmark environment has
#: them must not change any client's numbers, so every client process blocks that one
#: optional import, for every client alike (httpx then skips it, as it does without them).
BLOCK_HTTPX_CLI = "import sys; sys.modules['httpx._main'] = None"

_TIMER = ("{block}; import time; _t = time.perf_counter(); {code}; "
          "_t = time.perf_counter() - _t; print(repr(_t))")


@dataclass(frozen=True)
class StreamRun:
    """One consumed stream: the content, when its first piece and its end arrived."""

    text: str
    started: float
    first_chunk: float
    finished: float
    completion_tokens: int | None


class Client:
    """One library driving the fake server. Override the scenarios it supports."""

    name: ClassVar[str] = "?"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def send(self) -> str:
        """One non-streaming request (sync); returns the reply's content."""
        raise NotImplementedError

    def stream(self, chunks: int) -> StreamRun:
        """Consume one stream of ``chunks`` content chunks (sync), timing it."""
        raise NotImplementedError

    def batch(self, prompts: list[str], concurrency: int) -> list[str]:
        """Send every prompt, ``concurrency`` at a time; the contents in prompt order."""
        raise NotImplementedError

    def check(self) -> None:
        """After the measured part: anything the client must have done besides replying
        (jtd-ai: one ledger row per call). Raise WrongReply if it did not."""

    def close(self) -> None:
        """Release connections and files."""


def import_time(code: str) -> float:
    """Seconds ``code`` takes in a fresh interpreter (start-up left out, as it is the same
    for every client)."""
    out = subprocess.run([sys.executable, "-c", _TIMER.format(block=BLOCK_HTTPX_CLI, code=code)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{code!r} failed: {out.stderr.strip()[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def server_cpu(base_url: str) -> float | None:
    """The server's CPU seconds so far, or None if it is not the benchmark server."""
    parts = urlsplit(base_url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80),
                                      timeout=5) as sock:
            sock.sendall(b"GET /_bench/stats HTTP/1.1\r\nHost: bench\r\n"
                         b"Connection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        value = json.loads(data.split(b"\r\n\r\n", 1)[1])["cpu_s"]
    except (OSError, ValueError, KeyError, IndexError):
        return None
    return float(value)


class Window:
    """The measured part: wall time and the server's CPU time over it, and the profiler
    running over exactly that part when ``--profile`` asked for one."""

    #: A pyinstrument Profiler (``--profile``), else None.
    profiler: ClassVar[Any] = None

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def __enter__(self) -> Window:
        self.cpu = server_cpu(self.base_url)
        if self.profiler is not None:
            self.profiler.start()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.started
        if self.profiler is not None:
            self.profiler.stop()
        after = server_cpu(self.base_url)
        self.server_share = (None if self.cpu is None or after is None or self.elapsed <= 0
                             else round((after - self.cpu) / self.elapsed, 3))


def expect(what: str, got: object, wanted: object) -> None:
    if got != wanted:
        shown = repr(got) if len(repr(got)) < 200 else repr(got)[:200] + "..."
        raise WrongReply(f"{what}: got {shown}, expected {str(wanted)[:200]!r}")


def run_sequential(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    send = client.send
    for _ in range(args.warmup):
        expect("warm-up reply", send(), REPLY)
    timings: list[float] = []
    clock = time.perf_counter
    with Window(client.base_url) as window:
        for _ in range(args.requests):
            started = clock()
            content = send()
            timings.append(clock() - started)
            if content != REPLY:
                expect("reply", content, REPLY)
    client.check()
    return {"requests": args.requests, "us": statistics.median(timings) * 1e6,
            "mean_us": statistics.fmean(timings) * 1e6, "server_cpu": window.server_share}


def run_stream(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    wanted = stream_text(args.chunks)
    for _ in range(args.warmup):
        expect("warm-up stream", client.stream(args.chunks).text, wanted)
    totals: list[float] = []
    firsts: list[float] = []
    with Window(client.base_url) as window:
        for _ in range(args.repeats):
            run = client.stream(args.chunks)
            expect("streamed text", run.text, wanted)
            if run.completion_tokens is not None:
                expect("streamed usage", run.completion_tokens, args.chunks)
            totals.append(run.finished - run.started)
            firsts.append(run.first_chunk - run.started)
    client.check()
    return {"chunks": args.chunks, "repeats": args.repeats,
            "ms": statistics.median(totals) * 1e3,
            "first_chunk_ms": statistics.median(firsts) * 1e3, "server_cpu": window.server_share}


def run_batch(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    def checked(prompts: list[str]) -> None:
        results = client.batch(prompts, args.concurrency)
        expect("number of batch results", len(results), len(prompts))
        wrong = [i for i, content in enumerate(results) if content != REPLY]
        if wrong:
            expect(f"batch item {wrong[0]} ({len(wrong)} wrong)", results[wrong[0]], REPLY)

    checked(batch_prompts(args.warmup))
    prompts = batch_prompts(args.requests)
    with Window(client.base_url) as window:
        checked(prompts)
    client.check()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mb = peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB
    return {"requests": args.requests, "concurrency": args.concurrency,
            "rps": args.requests / window.elapsed, "seconds": window.elapsed,
            "rss_mb": peak_mb, "server_cpu": window.server_share}


RUNNERS: dict[str, Callable[[Client, argparse.Namespace], dict[str, Any]]] = {
    "sequential": run_sequential, "stream": run_stream, "batch": run_batch,
}


def parse(argv: Sequence[str] | None, name: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m clients.{name}",
                                     description="Run one benchmark scenario, print one "
                                                 "JSON line.")
    parser.add_argument("scenario", choices=["import", *RUNNERS])
    parser.add_argument("base_url", nargs="?", default="",
                        help="the fake server, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--requests", type=int, default=1000,
                        help="sequential requests, or batch items")
    parser.add_argument("--warmup", type=int, default=50,
                        help="warm-up requests, streams or batch items before measuring")
    parser.add_argument("--chunks", type=int, default=STREAM_CHUNKS)
    parser.add_argument("--repeats", type=int, default=3, help="streams measured")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--samples", type=int, default=1, help="import: fresh processes")
    parser.add_argument("--profile", metavar="PATH",
                        help="profile the measured part with pyinstrument, write PATH.html, "
                             "PATH.txt and PATH.json (profile_summary.py's areas)")
    return parser.parse_args(argv)


def main(client_class: type[Client], argv: Sequence[str] | None = None) -> None:
    """Run the scenario the command line names and print its result as one JSON line."""
    args = parse(argv, client_class.__module__.rsplit(".", 1)[-1])
    result: dict[str, Any] = {"client": client_class.name, "scenario": args.scenario}
    if args.scenario == "import":
        code = by_name(client_class.name).import_code
        samples = [import_time(code) * 1e3 for _ in range(args.samples)]
        result.update(ms=statistics.median(samples), samples=samples)
    else:
        if not args.base_url:
            raise SystemExit("the base URL of the fake server is required")
        sys.modules["httpx._main"] = None  # type: ignore[assignment]  # BLOCK_HTTPX_CLI
        client = client_class(args.base_url)
        try:
            result.update(profiled(args, lambda: RUNNERS[args.scenario](client, args)))
        finally:
            client.close()
    result["pid"] = os.getpid()
    print(json.dumps(result), flush=True)


def profiled(args: argparse.Namespace,
             work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work``; with ``--profile``, pyinstrument watches its measured part (warm-up and
    imports left out) and its reports are written next to PATH: PATH.html, PATH.txt and
    PATH.json (where the time went per request, batch item or stream event, as
    profile_summary.py counts it)."""
    if not args.profile:
        return work()
    from pyinstrument import Profiler

    import profile_summary

    Window.profiler = profiler = Profiler(interval=0.0002)
    result = work()
    with open(f"{args.profile}.html", "w") as html:
        html.write(profiler.output_html())
    with open(f"{args.profile}.txt", "w") as text:
        text.write(profiler.output_text(unicode=True, show_all=False))
    calls, unit = ((args.repeats * args.chunks, "stream event") if args.scenario == "stream"
                   else (args.requests, "batch item" if args.scenario == "batch"
                         else "request"))
    areas = profile_summary.summarize(profiler.last_session, calls, unit)
    with open(f"{args.profile}.json", "w") as summary:
        json.dump(areas, summary, indent=1)
    result["profile"] = f"{args.profile}.html"
    return result
