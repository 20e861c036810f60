"""Ledger cost per call: echo-driver calls with the usage ledger on, against ledger off.

Both managers run the whole stack (validation, transport, hooks, cost) against the echo
driver's in-process server; "on" also writes one ledger row per call to a fresh SQLite file
(WAL). Rounds alternate between the cases so drift hits both; we report the median time per
call of each case and their ratio, measured in the same run.

    python tooling/bench/bench_ledger.py [--rounds 30] [--calls 200] [--stream] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from jtd_ai import AIManager


def manager(folder: Path, *, ledger: bool) -> AIManager:
    return AIManager(providers={"echo": {}}, default="echo", config_file=False, env={},
                     store={"path": str(folder / "jtd-ai.db"), "ledger": ledger})


def per_call(ai: AIManager, calls: int, stream: bool) -> float:
    driver = ai.driver()
    started = time.perf_counter()
    for _ in range(calls):
        if stream:
            for _chunk in driver.stream("how much does the ledger cost per call"):
                pass
        else:
            driver.send_message("how much does the ledger cost per call")
    return (time.perf_counter() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--stream", action="store_true", help="stream instead of send")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cases = {"ledger off": manager(Path(tmp) / "off", ledger=False),
                 "ledger on": manager(Path(tmp) / "on", ledger=True)}
        for ai in cases.values():  # warm up: imports, connections, schema
            per_call(ai, 20, args.stream)
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, ai in cases.items():
                samples[name].append(per_call(ai, args.calls, args.stream))
        rows = cases["ledger on"].usage.total().calls
        for ai in cases.values():
            ai.close()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["ledger off"]
    report: dict[str, Any] = {
        "mode": "stream" if args.stream else "send", "rounds": args.rounds,
        "calls_per_round": args.calls, "ledger_rows_written": rows,
        "cases": {name: {"median_us_per_call": round(m * 1e6, 1), "ratio": round(m / base, 3)}
                  for name, m in medians.items()},
        "added_us_per_call": round((medians["ledger on"] - base) * 1e6, 1),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['mode']}: {args.rounds} rounds x {args.calls} calls, "
          f"{rows} ledger rows written")
    for name, row in report["cases"].items():
        print(f"{name:12} {row['median_us_per_call']:>9.1f} us/call {row['ratio']:>7.3f}x")
    print(f"ledger adds {report['added_us_per_call']} us per call")


if __name__ == "__main__":
    main()
