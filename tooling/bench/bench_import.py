"""Import cost: ``import jtd_ai`` plus listing the installed drivers, against ``import httpx``.

Each case runs in a fresh interpreter that times only its own imports (interpreter start-up
is the same for every case and left out). Cases run interleaved, and we report medians and
the ratio to the httpx baseline measured in the same run. Target (issue #2): at most 1.3.

    python tooling/bench/bench_import.py [--runs 40] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

TIMER = "import time; t = time.perf_counter(); {body}; print(time.perf_counter() - t)"

CASES = {
    "httpx (baseline)": "import httpx",
    "import jtd_ai + list drivers": "import jtd_ai; jtd_ai.list_drivers()",
    "from jtd_ai import AI, Message + AI.drivers()":
        "from jtd_ai import AI, Message; AI.drivers()",
    "... + first driver built (echo)": (
        "from jtd_ai import AI, Message; AI.drivers(); "
        "AI.driver('echo')"
    ),
}


def run_once(body: str) -> float:
    out = subprocess.run([sys.executable, "-c", TIMER.format(body=body)], capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for body in CASES.values():  # warm the bytecode caches once
        run_once(body)
    for _ in range(args.runs):
        for name, body in CASES.items():
            samples[name].append(run_once(body))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["httpx (baseline)"]
    report = {name: {"median_ms": round(m * 1000, 2), "ratio": round(m / base, 2)}
              for name, m in medians.items()}
    if args.json:
        print(json.dumps({"runs": args.runs, "cases": report}, indent=2))
        return
    print(f"{'case':50} {'median':>10} {'vs httpx':>9}   ({args.runs} fresh processes each)")
    for name, row in report.items():
        print(f"{name:50} {row['median_ms']:>8.2f}ms {row['ratio']:>8.2f}x")


if __name__ == "__main__":
    main()
