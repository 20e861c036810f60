"""The client side of the hostile-reply tests, run by test_hostile.py in a subprocess so that
the memory measured is the client's alone, under an address-space limit (a client that did
buffer a 10 GiB gzip bomb fails here with MemoryError instead of taking the machine down).

Usage: ``python hostile_client.py SPEC`` where SPEC is JSON: ``{"base_url": ..., "mode":
"sync"|"async"|"async-httpx", "cases": [{"id", "kind", "prompt", "settings", "trace"}]}``.
For each case: a warm-up call of the same kind (imports, pools, first-use costs, all outside
the measurement), then the hostile call with tracemalloc tracing (unless ``trace`` is false)
the peak RSS (VmHWM, reset just before) compared with the RSS before. One JSON line per case on stdout.
"""

from __future__ import annotations

import json
import resource
import sys
import traceback
import tracemalloc
from typing import Any

from netcalls import Calls

#: The address space the client may use: far above what a capped client needs (a few
#: hundred MiB with its threads' reservations), far below a bomb's 10 GiB.
ADDRESS_SPACE = 4 << 30


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(field)


def reset_peak_rss() -> bool:
    """Restart the kernel's high-water mark of this process's RSS (VmHWM) from its current
    RSS; False where that cannot be done (then no RSS growth is reported)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def run_case(calls: Calls, base_url: str, mode: str,
             case: dict[str, Any]) -> dict[str, Any]:
    driver = calls.driver("openai", base_url, mode, **case["settings"])
    warm = calls.call(driver, mode, case["kind"], prompt="mode:warmup")
    if warm.error is not None:
        return {"id": case["id"], "warmup_error": f"{type(warm.error).__name__}: {warm.error}"}
    trace = case.get("trace", True)
    rss_before = _status("VmRSS")
    measured_rss = reset_peak_rss()
    if trace:
        tracemalloc.start()
    try:
        outcome = calls.call(driver, mode, case["kind"], prompt=case["prompt"])
        peak = tracemalloc.get_traced_memory()[1] if trace else None
    finally:
        if trace:
            tracemalloc.stop()
    error = outcome.error
    partial = getattr(error, "partial", None) if error is not None else None
    text = outcome.response.content if outcome.response is not None else None
    return {
        "id": case["id"],
        "error": type(error).__name__ if error is not None else None,
        "message": str(error) if error is not None else None,
        "retryable": getattr(error, "retryable", None),
        "partial": partial.content if partial is not None else None,
        "deltas": "".join(outcome.deltas),
        "text_length": len(text) if text is not None else None,
        "text_head": text[:40] if text is not None else None,
        "elapsed": outcome.elapsed,
        "attempts": outcome.attempts,
        "peak": peak,
        # how far the peak RSS during the call rose above the RSS before it
        "rss_growth": _status("VmHWM") - rss_before if measured_rss else None,
    }


def main() -> None:
    spec = json.loads(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    calls = Calls()
    try:
        for case in spec["cases"]:
            try:
                result = run_case(calls, spec["base_url"], spec["mode"], case)
            except BaseException as exc:  # report it, go on with the next case
                result = {"id": case["id"], "crash": "".join(
                    traceback.format_exception(exc))[-3000:]}
            sys.stdout.write(json.dumps(result) + "\n")
            sys.stdout.flush()
            calls.close()
    finally:
        calls.close()


if __name__ == "__main__":
    main()
