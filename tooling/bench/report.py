"""From raw samples to the summary: medians, ratios to the baselines, jtd-ai's targets, tables.

The summary is a plain dict (it is what results/*.json holds), so tables and the docs page
can be rebuilt from a saved run without running anything again.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["METRICS", "NO_LEDGER", "SUBJECT", "TARGETS", "Metric", "Target", "markdown_tables",
           "ratio_of", "summarize", "targets", "text_report"]

#: The client every target is about.
SUBJECT = "jtd-ai"
#: The same client with its store off.
NO_LEDGER = f"{SUBJECT}-noledger"


@dataclass(frozen=True)
class Metric:
    """One number per client; the tables show it with its ratio to one baseline client."""

    key: str
    scenario: str
    title: str
    unit: str
    baseline: str
    higher_is_better: bool
    digits: int = 0


METRICS: tuple[Metric, ...] = (
    Metric("import_ms", "import", "import", "ms", "httpx", False, 1),
    Metric("sequential_us", "sequential", "sequential request", "µs", "httpx", False),
    Metric("stream_ms", "stream", "stream", "ms", "httpx", False, 1),
    Metric("first_chunk_ms", "stream", "first chunk", "ms", "httpx", False, 2),
    Metric("batch_rps", "batch", "batch", "req/s", "aiohttp", True),
    Metric("rss_mb", "batch", "peak RSS", "MB", "httpx", False, 1),
)
_BY_KEY = {metric.key: metric for metric in METRICS}


@dataclass(frozen=True)
class Target:
    """One of jtd-ai's targets (issue 14): ``client``'s median of ``metric`` over
    ``baseline``'s median, at most ``limit`` (at least, when higher is better)."""

    metric: str
    client: str
    baseline: str
    limit: float
    text: str
    #: Shown beside a target for comparison, not a target itself.
    beside: bool = False

    @property
    def at_least(self) -> bool:
        return _BY_KEY[self.metric].higher_is_better


_BATCH = "`send_batch` of 2,000 at concurrency 64"
_OPENAI_AIOHTTP = "the openai SDK on aiohttp (`AsyncOpenAI(http_client=DefaultAioHttpClient())`)"

#: jtd-ai's targets, as issue 14 sets them: ratios of medians measured in one run.
TARGETS: tuple[Target, ...] = (
    Target("sequential_us", SUBJECT, "httpx", 1.10,
           "sequential request (usage ledger on) vs bare httpx"),
    Target("stream_ms", SUBJECT, "httpx", 1.2,
           "consuming a 5,000-chunk stream vs bare httpx `iter_lines` + `json.loads`"),
    Target("first_chunk_ms", SUBJECT, "httpx", 1.2,
           "first chunk of that stream vs bare httpx"),
    Target("batch_rps", NO_LEDGER, "aiohttp", 0.65, f"{_BATCH}, store off, vs bare aiohttp"),
    Target("batch_rps", SUBJECT, "aiohttp", 0.55,
           f"{_BATCH}, usage ledger on, vs bare aiohttp"),
    Target("batch_rps", SUBJECT, "openai-aiohttp", 1.5,
           f"{_BATCH}, usage ledger on, vs {_OPENAI_AIOHTTP}"),
    Target("batch_rps", NO_LEDGER, "openai-aiohttp", 1.5,
           f"{_BATCH}, store off, vs the openai SDK on aiohttp", beside=True),
    Target("import_ms", SUBJECT, "httpx", 1.3,
           "`import jtd_ai` + listing drivers vs `import httpx`"),
    Target("rss_mb", SUBJECT, "httpx", 1.3,
           "peak RSS of the batch (usage ledger on) vs bare httpx's batch"),
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
            if mine:
                ratio = ratio_of(rows, row["name"], metric.baseline, metric.key)
                if ratio is not None:
                    mine["ratio"] = ratio
    return {"clients": rows, "targets": targets(rows)}


def ratio_of(rows: Mapping[str, Any], client: str, baseline: str, key: str) -> float | None:
    """``client``'s median of ``key`` over ``baseline``'s, if both were measured."""
    mine = rows.get(client, {}).get("metrics", {}).get(key)
    base = rows.get(baseline, {}).get("metrics", {}).get(key)
    if not mine or not base or not base["median"]:
        return None
    ratio: float = mine["median"] / base["median"]
    return ratio


def targets(rows: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = []
    for target in TARGETS:
        ratio = ratio_of(rows, target.client, target.baseline, target.metric)
        passed = None if ratio is None else (
            ratio >= target.limit if target.at_least else ratio <= target.limit)
        found.append({"metric": target.metric, "client": target.client,
                      "baseline": target.baseline, "text": target.text,
                      "limit": target.limit, "at_least": target.at_least,
                      "beside": target.beside, "ratio": ratio, "passed": passed})
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
    verdict = {True: "PASS", False: "FAIL", None: "not measured"}[target["passed"]]
    if target.get("beside") and target["passed"] is not None:
        return f"{verdict.lower()} (shown beside, not a target)"
    return verdict


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
    if sizes_differ(summary):
        lines.append("  " + sizes_differ(summary))
    return "\n".join(lines)


def sizes_differ(summary: Mapping[str, Any]) -> str:
    """A warning when the run's sizes are not the ones the targets name."""
    s = summary["settings"]
    if (s["batch_requests"], s["concurrency"], s["chunks"]) == (2000, 64, 5000):
        return ""
    return (f"(This run's batch is {s['batch_requests']:,} at concurrency {s['concurrency']} "
            f"and its stream {s['chunks']:,} chunks, not the sizes the targets name: its "
            f"ratios only indicate.)")


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
    if sizes_differ(summary):
        out += ["", sizes_differ(summary)]
    out += ["", "**Server CPU share** during each measured window (100% would mean the "
            "server, not the client, was the limit)", "",
            "| client | sequential | stream | batch |", "| --- | ---: | ---: | ---: |"]
    out += [f"| {row['label']} | " + " | ".join(cpu_cells(row)) + " |"
            for row in measured(summary) if row["server_cpu"]]
    return "\n".join(out)
