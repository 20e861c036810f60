"""Memory of a batch of any size: peak RSS of a 10,000-item and a 1,000,000-item batch.

    python tooling/bench/batch_memory.py                      # 10k and 1M, astream_batch
    python tooling/bench/batch_memory.py --sizes 10000,200000 --form stream
    python tooling/bench/batch_memory.py --json results/batch_memory.json

Each size runs in a fresh process against the fake server (server.py, in its own process,
pinned to its own core as run.py does), feeding jtd-ai's streaming batch engine from a
generator of distinct prompts and checking every reply. The parent reads the child's peak
RSS from the kernel (``os.wait4``: ``ru_maxrss`` of that child alone) and prints one line per
size, the ratio of the largest to the smallest, and whether it is within ``--limit`` (1.5x:
the engine keeps a bounded window of items, so memory must not grow with the batch). The
usage ledger is off (``store = false``), so what is measured is the engine, not SQLite.

Forms: ``astream`` (``Driver.astream_batch``, the default), ``stream`` (the sync iterator
``Driver.stream_batch``), ``collect`` (``send_batch`` on a list: keeps every result, for
contrast; it grows with the batch by design).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from payloads import API_KEY, MODEL, PROMPT, REPLY, WrongReply
from run import BENCH, child_env, fake_server, pin_cores

FORMS = ("astream", "stream", "collect")


def _manager(base_url: str) -> Any:
    from jtd_ai import AIManager

    return AIManager(
        providers={"bench": {"driver": "openai", "base_url": base_url, "api_key": API_KEY,
                             "default_model": MODEL}},
        default="bench", config_file=False, env={}, store={"enabled": False})


def _check(index: int, result: Any) -> None:
    from jtd_ai import AIError

    if isinstance(result, AIError):
        raise WrongReply(f"item {index} failed: {result!r}")
    if result.content != REPLY:
        raise WrongReply(f"item {index}: unexpected reply {result.content!r}")


def child(base_url: str, items: int, concurrency: int, form: str) -> dict[str, Any]:
    """One batch of ``items`` prompts; every reply checked; the time it took."""
    ai = _manager(base_url)
    driver = ai.driver("bench")
    prompts = (f"{PROMPT} (item {i})" for i in range(items))
    count = 0
    started = time.perf_counter()
    if form == "astream":
        async def run() -> int:
            done = 0
            try:
                async for index, result in driver.astream_batch(prompts,
                                                                concurrency=concurrency):
                    _check(index, result)
                    done += 1
            finally:
                await driver.aclose()
            return done

        count = asyncio.run(run())
    elif form == "stream":
        with driver.stream_batch(prompts, concurrency=concurrency) as results:
            for index, result in results:
                _check(index, result)
                count += 1
    else:
        for index, result in enumerate(driver.send_batch(list(prompts),
                                                         concurrency=concurrency)):
            _check(index, result)
            count += 1
    seconds = time.perf_counter() - started
    ai.close()
    if count != items:
        raise WrongReply(f"{count} results for {items} items")
    return {"items": items, "seconds": round(seconds, 2), "rps": round(items / seconds, 1)}


def measure(base_url: str, items: int, concurrency: int, form: str,
            timeout: float) -> dict[str, Any]:
    """One size in a fresh process: its result line and its peak RSS (from the kernel)."""
    command = [sys.executable, str(BENCH / "batch_memory.py"), "--child", base_url,
               "--items", str(items), "--concurrency", str(concurrency), "--form", form]
    proc = subprocess.Popen(command, cwd=BENCH, env=child_env(), stdout=subprocess.PIPE,
                            text=True)
    started = time.monotonic()
    assert proc.stdout is not None
    out = proc.stdout.read()  # the child prints one line at its end
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or not out.strip():
        raise SystemExit(f"the {items}-item batch failed (exit {proc.returncode})")
    if time.monotonic() - started > timeout:
        print(f"warning: the {items}-item batch took longer than {timeout:.0f} s",
              file=sys.stderr)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)  # Linux reports KiB
    result["form"] = form
    result["concurrency"] = concurrency
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,1000000",
                        help="comma-separated batch sizes (default: 10000,1000000)")
    parser.add_argument("--form", choices=FORMS, default="astream")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--limit", type=float, default=1.5,
                        help="largest peak RSS over smallest must be at most this")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the server")
    parser.add_argument("--child", metavar="BASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--items", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.items, args.concurrency, args.form)),
              flush=True)
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    server_cpu, client_cpus = pin_cores(not args.no_pin)
    rows = []
    with fake_server(server_cpu, client_cpus, uvloop=True) as server:
        for items in sizes:
            row = measure(server.base_url, items, args.concurrency, args.form, args.timeout)
            rows.append(row)
            print(f"{items:>9,} items ({args.form}, concurrency {args.concurrency}): "
                  f"{row['seconds']:.1f} s, {row['rps']:,.0f} items/s, peak RSS "
                  f"{row['peak_rss_mb']:.1f} MB", flush=True)
    smallest = min(rows, key=lambda r: r["items"])
    largest = max(rows, key=lambda r: r["items"])
    ratio = largest["peak_rss_mb"] / smallest["peak_rss_mb"]
    within = ratio <= args.limit
    print(f"peak RSS {largest['items']:,} / {smallest['items']:,} items: {ratio:.2f}x "
          f"({'within' if within else 'OVER'} the {args.limit}x limit)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "ratio": round(ratio, 3),
                                         "limit": args.limit, "within": within,
                                         "python": sys.version.split()[0]}, indent=2) + "\n")
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
