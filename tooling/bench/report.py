"""From raw samples to the summary: medians, ratios to the baselines, jtd-ai's targets, tables.

The summary is a plain dict (it is what results/*.json holds), so tables and the docs page
can be rebuilt from a saved run without running anything again.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["METRICS", "Metric", "markdown_tables", "summarize", "text_report"]

#: The client every target is about.
SUBJECT = "jtd-ai"


@dataclass(frozen=True)
class Metric:
    """One number per client, compared with one baseline client's number."""

    key: str
    scenario: str
    title: str
    unit: str
    baseline: str
    higher_is_better: bool
    #: jtd-ai's target as a ratio to the baseline (at most, or at least when higher is better).
    target: float
    target_text: str
    digits: int = 0


METRICS: tuple[Metric, ...] = (
    Metric("import_ms", "import", "import", "ms", "httpx", False, 1.3,
           "`import jtd_ai` + listing drivers vs `import httpx`", 1),
    Metric("sequential_us", "sequential", "sequential request", "µs", "httpx", False, 1.08,
           "sequential request (ledger on) vs bare httpx"),
    Metric("stream_ms", "stream", "stream", "ms", "httpx", False, 1.2,
           "consuming the stream vs httpx `iter_lines` + `json.loads`", 1),
    Metric("first_chunk_ms", "stream", "first chunk", "ms", "httpx", False, 1.2,
           "time to first chunk vs bare httpx", 2),
    Metric("batch_rps", "batch", "batch", "req/s", "aiohttp", True, 0.8,
           "`send_batch` throughput vs the bare aiohttp floor"),
    Metric("rss_mb", "batch", "peak RSS", "MB", "httpx", False, 1.3,
           "peak RSS of the batch vs bare httpx's", 1),
)

#: The targets checked: (metric, the client it is about, what the line says). The issue
#: asks the sequential request with the ledger on; the batch is shown both ways.
TARGETS: tuple[tuple[Metric, str, str], ...] = (
    *((metric, SUBJECT, metric.target_text) for metric in METRICS[:4]),
    (METRICS[4], f"{SUBJECT}-noledger", f"{METRICS[4].target_text} (store off)"),
    (METRICS[4], SUBJECT, f"{METRICS[4].target_text}, usage ledger on"),
    (METRICS[5], SUBJECT, METRICS[5].target_text),
)

#: Which value of a scenario's result line feeds which metric.
FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "import": (("import_ms", "samples"),),
    "sequential": (("sequential_us", "us"),),
    "stream": (("stream_ms", "ms"), ("first_chunk_ms", "first_chunk_ms")),
    "batch": (("batch_rps", "rps"), ("rss_mb", "rss_mb")),
}


def stats(values: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def summarize(clients: Iterable[Mapping[str, Any]],
              samples: Mapping[str, Mapping[str, list[float]]],
              server_cpu: Mapping[str, Mapping[str, list[float]]]) -> dict[str, Any]:
    """``clients``: rows with name, label, status (and error); ``samples[client][metric]``
    and ``server_cpu[client][scenario]``: every value measured. Returns the summary's
    ``clients`` and ``targets`` parts."""
    rows: dict[str, Any] = {}
    for client in clients:
        name = client["name"]
        metrics = {key: stats(values) for key, values in samples.get(name, {}).items() if values}
        cpu = {scenario: statistics.median(values)
               for scenario, values in server_cpu.get(name, {}).items() if values}
        rows[name] = {**client, "metrics": metrics, "server_cpu": cpu}
    for row in rows.values():
        for metric in METRICS:
            mine = row["metrics"].get(metric.key)
            base = rows.get(metric.baseline, {}).get("metrics", {}).get(metric.key)
            if mine and base and base["median"]:
                mine["ratio"] = mine["median"] / base["median"]
    return {"clients": rows, "targets": targets(rows)}


def targets(rows: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = []
    for metric, client, text in TARGETS:
        subject = rows.get(client, {}).get("metrics", {})
        ratio = subject.get(metric.key, {}).get("ratio")
        passed = None if ratio is None else (
            ratio >= metric.target if metric.higher_is_better else ratio <= metric.target)
        found.append({"metric": metric.key, "client": client, "text": text,
                      "limit": metric.target, "at_least": metric.higher_is_better,
                      "ratio": ratio, "passed": passed})
    return found


def headers(settings: Mapping[str, Any]) -> dict[str, str]:
    """Column titles that say what each number is, with this run's sizes."""
    return {
        "import_ms": "import ms",
        "sequential_us": "sequential request µs",
        "stream_ms": f"{settings['chunks']:,}-chunk stream ms",
        "first_chunk_ms": "first chunk ms",
        "batch_rps": f"batch of {settings['batch_requests']:,} at {settings['concurrency']} "
                     f"req/s",
        "rss_mb": "batch peak RSS MB",
    }


def cell(row: Mapping[str, Any], metric: Metric) -> str:
    if row["status"] != "ok" and not row["metrics"]:
        return "-"
    value = row["metrics"].get(metric.key)
    if value is None:
        return "-"
    number = f"{value['median']:,.{metric.digits}f}"
    ratio = value.get("ratio")
    return number if ratio is None else f"{number} ({ratio:.2f}x)"


def status_note(row: Mapping[str, Any]) -> str:
    if row["status"] == "not installed":
        return "not installed"
    if row["errors"]:
        return "error: " + "; ".join(sorted(row["errors"]))
    return str(row.get("note", ""))


def _limit(target: Mapping[str, Any]) -> str:
    return f"{'≥' if target['at_least'] else '≤'} {target['limit']:.2f}x"


def _verdict(target: Mapping[str, Any]) -> str:
    return {True: "PASS", False: "FAIL", None: "not measured"}[target["passed"]]


def _grid(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows]


def measured(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The rows that ran (not-installed clients are named in one line instead)."""
    return [row for row in summary["clients"].values() if row["status"] != "not installed"]


def absent(summary: Mapping[str, Any]) -> str:
    names = [row["name"] for row in summary["clients"].values()
             if row["status"] == "not installed"]
    return f"Not installed, so not measured: {', '.join(names)}." if names else ""


def cpu_cells(row: Mapping[str, Any]) -> list[str]:
    return [f"{row['server_cpu'][s]:.0%}" if s in row["server_cpu"] else "-"
            for s in ("sequential", "stream", "batch")]


def text_report(summary: Mapping[str, Any]) -> str:
    """The tables printed at the end of a run."""
    titles = headers(summary["settings"])
    table = [["client", *(titles[m.key] for m in METRICS), ""]]
    for row in measured(summary):
        table.append([row["name"], *(cell(row, m) for m in METRICS), status_note(row)])
    lines = [f"Medians of {summary['settings']['rounds']} rounds, (ratio) to bare httpx; "
             f"batch req/s to bare aiohttp. {describe_settings(summary)}", "", *_grid(table)]
    if absent(summary):
        lines.append(absent(summary))
    cpu = [["server CPU share", "sequential", "stream", "batch"]]
    cpu += [[row["name"], *cpu_cells(row)] for row in measured(summary) if row["server_cpu"]]
    if len(cpu) > 1:
        lines += ["", *_grid(cpu)]
    goal = [[t["text"].replace("`", ""), "-" if t["ratio"] is None else f"{t['ratio']:.2f}x",
             _limit(t), _verdict(t)] for t in summary["targets"]]
    lines += ["", "jtd-ai targets:", *("  " + line for line in _grid(goal))]
    return "\n".join(lines)


def describe_settings(summary: Mapping[str, Any]) -> str:
    s = summary["settings"]
    return (f"{'Quick run' if s['quick'] else 'Full run'}: {s['sequential_requests']:,} "
            f"sequential requests, {s['stream_repeats']} streams of {s['chunks']:,} chunks, "
            f"a batch of {s['batch_requests']:,} at concurrency {s['concurrency']}, "
            f"{s['import_samples']} fresh imports, per client per round.")


def markdown_tables(summary: Mapping[str, Any]) -> str:
    """The results, targets and server CPU tables of the docs page."""
    titles = headers(summary["settings"])
    out = ["Each cell: the median, and in brackets its ratio to bare httpx (for the batch's "
           "requests per second, to bare aiohttp).", "",
           "| client | " + " | ".join(titles[m.key] for m in METRICS) + " |",
           "| --- |" + " ---: |" * len(METRICS)]
    notes = []
    for row in measured(summary):
        out.append(f"| {row['label']} | " + " | ".join(cell(row, m) for m in METRICS) + " |")
        if status_note(row):
            notes.append(f"- {row['label']}: {status_note(row)}")
    if absent(summary):
        notes.append(f"- {absent(summary)}")
    if notes:
        out += ["", *notes]
    out += ["", "**jtd-ai against its targets**", "",
            "| target | measured | limit | |", "| --- | ---: | ---: | --- |"]
    for t in summary["targets"]:
        ratio = "-" if t["ratio"] is None else f"{t['ratio']:.2f}x"
        out.append(f"| {t['text']} | {ratio} | {_limit(t)} | {_verdict(t)} |")
    out += ["", "**Server CPU share** during each measured window (100% would mean the "
            "server, not the client, was the limit)", "",
            "| client | sequential | stream | batch |", "| --- | ---: | ---: | ---: |"]
    out += [f"| {row['label']} | " + " | ".join(cpu_cells(row)) + " |"
            for row in measured(summary) if row["server_cpu"]]
    return "\n".join(out)
