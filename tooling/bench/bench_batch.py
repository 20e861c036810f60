"""Batch throughput: jtd-ai's ``asend_batch`` against a bare httpx loop and the openai SDK.

Every case sends the same N chat requests (default 2,000) at the same concurrency (64) to
the fake provider server (OpenAI dialect), which runs in its own process so it does not
share a GIL with the clients. Cases run interleaved, a few repeats each after a warm-up;
we report the median requests per second, the ratio to the bare httpx loop measured in the
same run, and the server process's CPU use (near 100% would mean the server is the limit).

Targets (issue #7): jtd-ai >= 0.9 of bare httpx, and ahead of the openai SDK. The baseline is
a plain ``httpx.AsyncClient()`` (default pool) driven by 64 workers. One more row runs that
same loop on jtd-ai's sharded pool (jtd_ai/pool.py), which isolates jtd-ai's own cost per
request from the pool's.

    python tooling/bench/bench_batch.py [--requests 2000] [--concurrency 64] [--repeats 5]
                                        [--json] [--profile]

The openai SDK comes from tooling/requirements-bench.txt; without it that row is reported
as missing. ``--profile`` runs the jtd-ai case once under cProfile and prints where the
client's time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx

API_KEY = "sk-bench-0123456789"
MODEL = "gpt-4o-mini"


def prompts(n: int) -> list[str]:
    return [f"benchmark prompt number {i}" for i in range(n)]


def expected(prompt: str) -> str:
    return f"echo: {prompt}"


# -- the fake server, in its own process -----------------------------------------------------


@contextlib.contextmanager
def server_process() -> Iterator[tuple[str, int]]:
    """The fake provider server on a free loopback port: (OpenAI base URL, pid)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "jtd_ai.testing.server", "--port", str(port),
         "--api-key", API_KEY], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "fake provider server" not in line:
            raise RuntimeError(f"the fake server did not start: {line!r}")
        yield f"http://127.0.0.1:{port}/v1", proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the cases: each sends every prompt and checks every reply ---------------------------------


async def workers(items: list[str], concurrency: int,
                  one: Callable[[str], Awaitable[str]]) -> list[str]:
    """``concurrency`` workers pulling from one iterator: the leanest bounded loop."""
    results: dict[int, str] = {}
    queue = iter(enumerate(items))

    async def worker() -> None:
        for index, item in queue:
            results[index] = await one(item)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [results[i] for i in range(len(items))]


async def bare_httpx(base_url: str, items: list[str], concurrency: int,
                     transport: httpx.AsyncBaseTransport | None = None) -> list[str]:
    """A plain ``httpx.AsyncClient`` with its default pool (or ``transport``)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60, transport=transport,
                                 headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        async def one(prompt: str) -> str:
            response = await client.post("/chat/completions", json={
                "model": MODEL, "messages": [{"role": "user", "content": prompt}]})
            response.raise_for_status()
            content: str = response.json()["choices"][0]["message"]["content"]
            return content

        return await workers(items, concurrency, one)


async def openai_sdk(base_url: str, items: list[str], concurrency: int) -> list[str]:
    from openai import AsyncOpenAI

    async with AsyncOpenAI(base_url=base_url, api_key=API_KEY) as client:
        async def one(prompt: str) -> str:
            reply = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": prompt}])
            return reply.choices[0].message.content or ""

        return await workers(items, concurrency, one)


def jtd_ai_case(store: dict[str, Any]) -> Callable[[str, list[str], int], Awaitable[list[str]]]:
    async def run(base_url: str, items: list[str], concurrency: int) -> list[str]:
        from jtd_ai import AIError, AIManager

        with AIManager(config_file=False, env={}, store=store,
                       providers={"openai": {"base_url": base_url, "api_key": API_KEY}}) as ai:
            driver = ai.driver("openai")
            results = await driver.asend_batch(items, concurrency=concurrency, model=MODEL)
            await driver.aclose()
        return [str(r) if isinstance(r, AIError) else r.content for r in results]

    return run


async def httpx_sharded(base_url: str, items: list[str], concurrency: int) -> list[str]:
    """The bare loop on jtd-ai's sharded pool: isolates jtd-ai's own per-request cost."""
    from jtd_ai.pool import ShardedAsyncTransport
    from jtd_ai.transport import _LIMITS

    return await bare_httpx(base_url, items, concurrency, ShardedAsyncTransport(_LIMITS))


def cases(ledger_dir: str) -> dict[str, Callable[[str, list[str], int], Awaitable[list[str]]]]:
    found: dict[str, Callable[[str, list[str], int], Awaitable[list[str]]]] = {
        "httpx.AsyncClient loop (baseline)": bare_httpx,
        "jtd-ai asend_batch (store off)": jtd_ai_case({"enabled": False}),
        "jtd-ai asend_batch (usage ledger on)": jtd_ai_case(
            {"path": os.path.join(ledger_dir, "bench.db")}),
        "httpx loop on jtd-ai's sharded pool": httpx_sharded,
    }
    try:
        import openai  # noqa: F401
    except ImportError:
        pass
    else:
        found["openai SDK AsyncOpenAI"] = openai_sdk
    return found


def run_case(case: Callable[[str, list[str], int], Awaitable[list[str]]], base_url: str,
             items: list[str], concurrency: int, pid: int) -> tuple[float, float | None]:
    """(requests per second, server CPU share) of one complete run in a fresh event loop."""
    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    results = asyncio.run(case(base_url, items, concurrency))
    elapsed = time.perf_counter() - started
    cpu_after = cpu_seconds(pid)
    wrong = sum(1 for p, r in zip(items, results, strict=True) if r != expected(p))
    if wrong:
        raise RuntimeError(f"{wrong} replies were wrong, e.g. {results[0]!r}")
    share = (cpu_after - cpu_before) / elapsed if cpu_before is not None and cpu_after else None
    return len(items) / elapsed, share


def profile(base_url: str, items: list[str], concurrency: int) -> None:
    import cProfile
    import pstats

    case = jtd_ai_case({"enabled": False})
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(case(base_url, items, concurrency))
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="profile the jtd-ai case with cProfile instead of timing")
    args = parser.parse_args()
    items = prompts(args.requests)
    with server_process() as (base_url, pid), tempfile.TemporaryDirectory() as ledger_dir:
        if args.profile:
            profile(base_url, items, args.concurrency)
            return
        chosen = cases(ledger_dir)
        for case in chosen.values():  # warm up: imports, code paths, the server
            run_case(case, base_url, items[:200], args.concurrency, pid)
        rates: dict[str, list[float]] = {name: [] for name in chosen}
        server: dict[str, list[float]] = {name: [] for name in chosen}
        names = list(chosen)
        for repeat in range(args.repeats):
            shift = repeat % len(names)  # rotate the order so no case always goes first
            for name in names[shift:] + names[:shift]:
                rate, share = run_case(chosen[name], base_url, items, args.concurrency, pid)
                rates[name].append(rate)
                if share is not None:
                    server[name].append(share)
    base = statistics.median(rates["httpx.AsyncClient loop (baseline)"])
    report: dict[str, Any] = {}
    for name in names:
        median = statistics.median(rates[name])
        report[name] = {
            "median_rps": round(median, 1), "min_rps": round(min(rates[name]), 1),
            "max_rps": round(max(rates[name]), 1), "ratio_to_httpx": round(median / base, 3),
            "server_cpu": round(statistics.median(server[name]), 2) if server[name] else None,
        }
    if "openai SDK AsyncOpenAI" not in report:
        report["openai SDK AsyncOpenAI"] = {"missing": "pip install -r "
                                                       "tooling/requirements-bench.txt"}
    sdk = report["openai SDK AsyncOpenAI"].get("median_rps")
    ours = report["jtd-ai asend_batch (store off)"]["median_rps"]
    summary = {"requests": args.requests, "concurrency": args.concurrency,
               "repeats": args.repeats, "python": sys.version.split()[0], "cases": report,
               "jtd_ai_vs_openai_sdk": round(ours / sdk, 3) if sdk else None}
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"{args.requests} requests, concurrency {args.concurrency}, median of "
          f"{args.repeats} runs each (fake server in its own process)")
    print(f"{'case':40} {'req/s':>8} {'min':>8} {'max':>8} {'vs httpx':>9} {'server cpu':>11}")
    for name, row in report.items():
        if "missing" in row:
            print(f"{name:40} missing: {row['missing']}")
            continue
        cpu = f"{row['server_cpu'] * 100:.0f}%" if row["server_cpu"] is not None else "-"
        print(f"{name:40} {row['median_rps']:>8.0f} {row['min_rps']:>8.0f} "
              f"{row['max_rps']:>8.0f} {row['ratio_to_httpx']:>8.2f}x {cpu:>11}")
    if sdk:
        print(f"jtd-ai (store off) / openai SDK: {summary['jtd_ai_vs_openai_sdk']:.2f}x")


if __name__ == "__main__":
    main()
