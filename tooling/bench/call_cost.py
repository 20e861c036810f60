"""jtd-ai's own CPU time per call, for two (or more) versions of the code side by side.

    python tooling/bench/call_cost.py base=/tmp/perf-base now=. [--rounds 12] [--calls 200]
    python tooling/bench/call_cost.py off=. otel=.+otel       # a plugin installed vs not

Each ``NAME=TREE`` is a checkout of this repository (``git worktree add`` gives an older
commit): a worker process imports jtd-ai from that tree's ``packages/*/src`` and keeps running,
so imports and connections are warm. ``+otel`` leaves the jtd-ai-otel plugin on (no
OpenTelemetry SDK is configured, so its ``wrap_call`` stays out of the call); otherwise every
plugin from another distribution is off, as in the benchmark's jtd-ai client. The benchmark's
fake server runs in its own process, pinned to its own core.

A round asks every worker in turn, the order rotated each round, for ``--calls`` sends, then
for ``--calls`` streams of ``--chunks`` chunks; the worker times each call alone with the CPU
time of its thread (what the client spends, which other processes on a busy machine barely
disturb). Prints the medians over every call (µs) and each version's ratio to the first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
CASES = ("send", "stream")


def worker(base_url: str, otel: bool, ledger: bool) -> int:
    """Answer ``CASE COUNT CHUNKS`` lines with the CPU µs of each call, as a JSON list."""
    from jtd_ai import AIManager
    from jtd_ai.plugins import plugin_listings

    from payloads import API_KEY, MODEL, PROMPT, REPLY, stream_text

    home = tempfile.mkdtemp(prefix="jtd-ai-call-cost-")
    plugins = {p.name: {"enabled": False} for p in plugin_listings()
               if p.distribution and not (otel and p.name == "otel")}
    store: dict[str, Any] = ({"path": os.path.join(home, "jtd-ai.db")} if ledger
                             else {"enabled": False})
    ai = AIManager(providers={"bench": {"driver": "openai", "base_url": base_url,
                                        "api_key": API_KEY, "default_model": MODEL}},
                   default="bench", config_file=False, env={}, store=store, plugins=plugins)
    driver = ai.driver("bench")
    clock = time.thread_time
    for line in sys.stdin:
        case, count, chunks = line.split()
        samples: list[float] = []
        for _ in range(int(count)):
            if case == "send":
                started = clock()
                text = driver.send_message(PROMPT).content
                samples.append((clock() - started) * 1e6)
                wanted = REPLY
            else:
                started = clock()
                text = "".join(c.delta for c in driver.stream(PROMPT, max_tokens=int(chunks)))
                samples.append((clock() - started) * 1e6)
                wanted = stream_text(int(chunks))
            if text != wanted:
                raise SystemExit(f"{case}: wrong reply {text[:80]!r}")
        print(json.dumps(samples), flush=True)
    ai.close()
    return 0


def start(tree: Path, base_url: str, otel: bool, ledger: bool,
          cpus: list[int]) -> subprocess.Popen[str]:
    sources = [str(p) for p in sorted((tree / "packages").glob("*/src"))]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*sources, str(BENCH)]))
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", base_url]
    command += ["--otel"] if otel else []
    command += [] if ledger else ["--no-ledger"]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=env, cwd=BENCH)
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(proc.pid, cpus)
    return proc


def ask(proc: subprocess.Popen[str], case: str, count: int, chunks: int) -> list[float]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(f"{case} {count} {chunks}\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"a worker stopped (exit {proc.wait()})")
    samples: list[float] = json.loads(line)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("versions", nargs="*", help="NAME=TREE, TREE+otel for the plugin on")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=1, help="rounds not counted")
    parser.add_argument("--calls", type=int, default=200, help="calls per case per round")
    parser.add_argument("--chunks", type=int, default=50, help="chunks per stream")
    parser.add_argument("--no-ledger", action="store_true", help="store off (no ledger row)")
    parser.add_argument("--out", type=Path, help="write the medians and samples as JSON")
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--otel", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.otel, not args.no_ledger)
    if not args.versions:
        parser.error("name at least one NAME=TREE")
    sys.path.insert(0, str(BENCH))
    from run import fake_server, pin_cores

    server_cpu, client_cpus = pin_cores(True)
    samples: dict[str, dict[str, list[float]]] = {}
    with fake_server(server_cpu, client_cpus, uvloop=True) as server:
        workers = {}
        for spec in args.versions:
            name, _, tree = spec.partition("=")
            otel = tree.endswith("+otel")
            workers[name] = start(Path(tree.removesuffix("+otel")).resolve(), server.base_url,
                                  otel, not args.no_ledger, client_cpus)
            samples[name] = {case: [] for case in CASES}
        names = list(workers)
        try:
            for number in range(args.rounds + args.warmup):
                shift = number % len(names)
                for case in CASES:
                    for name in names[shift:] + names[:shift]:
                        got = ask(workers[name], case, args.calls, args.chunks)
                        if number >= args.warmup:
                            samples[name][case].extend(got)
        finally:
            for proc in workers.values():
                assert proc.stdin is not None
                proc.stdin.close()
                proc.wait(30)
    first = names[0]
    print(f"{args.rounds} rounds x {args.calls} calls per case; CPU time of the calling "
          f"thread per call, median (quartiles); streams of {args.chunks} chunks; "
          f"store {'off' if args.no_ledger else 'on (usage ledger)'}")
    medians = {name: {case: statistics.median(values) for case, values in cases.items()}
               for name, cases in samples.items()}
    for case in CASES:
        for name in names:
            low, _, high = statistics.quantiles(samples[name][case], n=4)
            value = medians[name][case]
            print(f"{case:<7} {name:<10} {value:>9.1f} µs ({low:.1f}-{high:.1f})  "
                  f"{value / medians[first][case]:.3f}x {first}")
    if args.out:
        args.out.write_text(json.dumps({"medians_us": medians, "samples_us": samples,
                                        "rounds": args.rounds, "calls": args.calls,
                                        "chunks": args.chunks}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
