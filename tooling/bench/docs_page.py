"""docs/performance.md and its chart, written from a run's summary.

The whole page is generated: the method, the clients, the targets (from report.py's
TARGETS, so the page cannot drift from what the run checks), the results and where jtd-ai's
per-call time goes (from the profiles ``--write-docs`` takes after the rounds). Only the
hand-written notes between ``<!-- notes:start -->`` and ``<!-- notes:end -->`` (what was
tried, what a number means) are kept from the page as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chart import svg_chart
from clients import CLIENTS
from report import TARGETS, describe_settings, markdown_tables

__all__ = ["write_docs"]

NOTES_START = "<!-- notes:start -->"
NOTES_END = "<!-- notes:end -->"
NO_NOTES = ("<!-- Hand-written: what was tried, and what the numbers above mean. "
            "run.py --write-docs keeps what is between these markers and rewrites the rest. -->")

INTRO = """\
# Performance

How fast jtd-ai's calls are next to the HTTP clients it runs on and the official openai SDK,
measured by the benchmark in `tooling/bench` against a local fake server, every client in the
same run on the same machine. This page, its chart and its tables are written by
`python tooling/bench/run.py --write-docs` from a full run (edit
`tooling/bench/docs_page.py`, or the notes at the end, not the generated text).
"""

METHOD = """\
## How it is measured

- **What jtd-ai runs on.** jtd-ai's sync calls and streams go through httpx (an
  `httpx.Client` the core builds for the provider) and its async calls and `send_batch`
  through aiohttp (a `ClientSession` per event loop). Around that exchange jtd-ai does its own
  per-call work: it builds and validates the request, the OpenAI driver writes the body and
  reads the reply into a typed `Response` with usage, the core prices the call, runs the
  `after_response` hooks and, with the store on, queues the usage-ledger row (written by the
  ledger's own thread). The baselines below are those same libraries used bare, and the
  official openai SDK, all measured in the same run against the same server, so every ratio
  compares numbers taken side by side.
- **A fake server that is never the limit.** `tooling/bench/server.py` is an
  OpenAI-compatible server on raw asyncio (uvloop when installed) with every reply built
  once as bytes: a chat completion with the usage details OpenAI sends, and streams as SSE
  events in chunked encoding (content chunks, the finish chunk, the usage chunk, `[DONE]`).
  It runs in its own process, pinned to its own core; the clients get the other core(s).
  Its CPU share during each measured window is in the results: far below 100% means the
  client, not the server, set the pace.
- **Fresh processes.** Every scenario of every client runs in a new interpreter
  (`python -m clients.<module> <scenario> <url>`), so no client profits from another's
  imports, caches or connections. The import scenario times the import statement alone in a
  fresh interpreter (start-up is the same for all and left out).
- **Interleaved rounds, medians, ratios.** A round runs every scenario for every client, the
  client order rotated each round so drift hits all alike. The tables show the median over
  rounds, and ratios between medians of the same run, so the machine cancels out of the
  ratios (not out of the absolute numbers).
- **Warm-up first.** Each process sends warm-up requests, one stream or a small batch before
  it measures.
- **Checked replies.** Every reply is compared with what the server sent: the content of
  every request and batch item, the whole text and token count of every stream, and for
  jtd-ai one usage-ledger row per call. A client that gets anything wrong fails the run, so
  a broken client cannot look fast.
- **The same work for all.** The same prompt and model, `stream_options.include_usage` on
  every stream, each library's default settings, except that the bare httpx and aiohttp
  batches size their connection pool to the concurrency, as anyone writing that loop would.
- **httpx's command line left out.** httpx imports its own CLI (click, rich, pygments)
  whenever those are installed, which jtd-ai's `cli` extra does. Every client process
  blocks that one optional import, so whether the environment has them changes no number.
"""

#: What each client row runs (a client missing here is described by its note).
CLIENT_TEXT: dict[str, str] = {
    "httpx": "one `httpx.Client` posting JSON and reading `.json()`; streams with "
             "`client.stream(...)` + `iter_lines()` + strip `data: ` + `json.loads`; the "
             "batch on one `httpx.AsyncClient` (pool sized to the concurrency) driven by as "
             "many tasks. The baseline of the sync scenarios, the import and the memory.",
    "aiohttp": "one `ClientSession` (connector limit = the concurrency) driven by as many "
               "tasks, posting JSON and reading `.json()`: the async floor of the batch. "
               "aiohttp has no sync API, so it runs the import and the batch only.",
    "jtd-ai": "the OpenAI driver through `AIManager` with the store on, as an application "
              "runs it: `send_message`, iterating `driver.stream`, `send_batch` at the "
              "concurrency; a fresh SQLite store per process, one usage-ledger row checked "
              "per call.",
    "jtd-ai-noledger": "the same calls with the store off (`[store] enabled = false`: no "
                       "catalog, no usage ledger): the difference to the jtd-ai row is what "
                       "the ledger costs.",
    "openai": "the official SDK as most applications use it: `OpenAI` for sequential calls "
              "and streams, `AsyncOpenAI` with its default HTTP client driven by tasks for "
              "the batch.",
    "openai-aiohttp": "the official SDK's fastest async setup, "
                      "`AsyncOpenAI(http_client=DefaultAioHttpClient())` (`openai[aiohttp]`), "
                      "driven by tasks for the batch; async only, so the import and the batch.",
    "litellm": "`completion` for sequential calls and streams, `acompletion` driven by tasks "
               "for the batch; measured when installed (`pip install litellm`; it is large, "
               "so it is not in `requirements-bench.txt` and CI does not install it).",
}

#: The scenarios: (name, what is timed, baseline).
SCENARIOS: tuple[tuple[str, str, str], ...] = (
    ("import", "`import jtd_ai` + `jtd_ai.AI.drivers()` (listing drivers); each client's own "
               "import", "`import httpx`"),
    ("sequential request", "one sync non-streaming request after another, median per request",
     "bare httpx"),
    ("stream", "consuming a 5,000-chunk stream, whole and to its first content chunk",
     "bare httpx `iter_lines` + `json.loads`"),
    ("batch", "2,000 requests at concurrency 64, requests per second",
     "bare aiohttp; the openai SDK on aiohttp"),
    ("peak RSS", "the batch process's peak resident memory (`ru_maxrss`)",
     "bare httpx's batch"),
)

RERUN = """\
## Rerun it

```bash
bash tooling/setup-dev.sh                              # ./.venv with every package
.venv/bin/pip install -r tooling/requirements-bench.txt  # aiohttp, uvloop, openai, ...
.venv/bin/python tooling/bench/run.py                  # the full run: results/latest.json
.venv/bin/python tooling/bench/run.py --quick          # under two minutes: results/quick.json
.venv/bin/python tooling/bench/run.py --write-docs     # the full run and profiles, then this page
```

`--clients jtd-ai,httpx` and `--scenarios sequential,stream` narrow a run; `--rounds N`
changes the number of rounds; `--out PATH` writes the JSON elsewhere; `--from PATH
--write-docs` rebuilds this page from a saved run. `--profile batch` (or `sequential`,
`stream`) runs jtd-ai's scenario once under pyinstrument and saves the report in
`tooling/bench/results/`. With Hatch: `hatch run bench:run`, `bench:quick`, `bench:docs`,
`bench:profile`.

The pieces run alone too, from `tooling/bench`: `python server.py` prints the base URL it
listens on, and `python -m clients.jtd_ai_client sequential <base URL>` (or `stream`,
`batch`, `import`; `clients/` has one module per client) prints one JSON line.

Benchmarks are not tests: CI runs the quick benchmark once to prove every client still runs
and gets the right replies, and times nothing against a threshold. On a shared or virtual
machine single runs move by tens of percent; read the ratios, and rerun before concluding.
"""


def machine_line(summary: Mapping[str, Any]) -> str:
    m = summary["machine"]
    server = summary["server"]
    memory = f", {m['memory_gb']} GB" if m.get("memory_gb") else ""
    pinning = (f"server pinned to CPU {server['cpu']}, clients on CPU "
               f"{', '.join(map(str, server['client_cpus']))}" if server.get("cpu") is not None
               else "processes not pinned")
    commit = f"; commit `{m['commit']}`" if m.get("commit") else ""
    return (f"{m['cpu']}, {m['cores']} cores{memory}; {m['os']}; {m['python']}; "
            f"server loop {server['loop']}, {pinning}{commit}")


def clients_section() -> str:
    lines = ["## The clients", ""]
    for client in CLIENTS:
        text = CLIENT_TEXT.get(client.name, client.note)
        lines.append(f"- **{client.label}** (`{client.name}`): {text}")
    return "\n".join(lines) + "\n"


def targets_section() -> str:
    lines = ["## Scenarios and targets", "", "| scenario | what is timed | baseline |",
             "| --- | --- | --- |", *(f"| {' | '.join(row)} |" for row in SCENARIOS), "",
             "jtd-ai's targets (issue 14), as ratios of medians measured in one run:", "",
             "| target | limit |", "| --- | ---: |"]
    for target in TARGETS:
        if target.beside:
            continue
        limit = f"{'≥' if target.at_least else '≤'} {target.limit:.2f}x"
        lines.append(f"| {target.text} | {limit} |")
    beside = [t for t in TARGETS if t.beside]
    if beside:
        lines += ["", "Shown beside them, not targets: "
                  + "; ".join(t.text for t in beside) + "."]
    return "\n".join(lines) + "\n"


def results_section(summary: Mapping[str, Any], chart: str, results: str) -> str:
    packages = ", ".join(f"{k} {v}" for k, v in summary["machine"]["packages"].items())
    minutes, seconds = divmod(round(summary["duration_s"]), 60)
    return "\n".join([
        "## Latest results",
        "",
        f"Run: {summary['created']}, `{summary['command']}` "
        f"({minutes} min {seconds} s). {describe_settings(summary)}",
        "",
        f"- **Machine:** {machine_line(summary)}",
        f"- **Packages:** {packages}",
        f"- **Results:** [{results}](../{results})",
        "",
        f"![Ratios to the baselines, per scenario]({chart})",
        "",
        markdown_tables(summary),
    ]) + "\n"


def _missed(summary: Mapping[str, Any]) -> str:
    missed = [t for t in summary["targets"] if t["passed"] is False and not t.get("beside")]
    if not missed:
        return "Every target measured in this run was met."
    return "Missed in this run: " + "; ".join(
        f"{t['text']} ({t['ratio']:.2f}x, limit {'≥' if t['at_least'] else '≤'} "
        f"{t['limit']:.2f}x)" for t in missed) + "."


def _profile_tables(scenario: str, profile: Mapping[str, Any]) -> list[str]:
    unit = profile["unit"]
    out = [f"### {scenario.capitalize()}", "",
           f"{profile['calls']:,} {unit}s under the profiler, {profile['us_per_call']:.1f} µs "
           f"per {unit} (the profiler slows Python code down: read the shares).", "",
           "| where | share | µs per " + unit + " |", "| --- | ---: | ---: |"]
    out += [f"| {a['area']} | {a['share']:.1%} | {a['us_per_call']:.1f} |"
            for a in profile["areas"]]
    if profile["functions"]:
        out += ["", "jtd-ai's own code, by function (with the library calls it makes outside "
                    "the HTTP layer, such as `json`, `attrs`, `decimal`):", "",
                "| function | file | step | share | µs per " + unit + " |",
                "| --- | --- | --- | ---: | ---: |"]
        out += [f"| `{f['function']}` | `{f['where']}` | {f['step']} | {f['share']:.1%} | "
                f"{f['us_per_call']:.1f} |" for f in profile["functions"]]
    return out


def time_section(summary: Mapping[str, Any]) -> str:
    lines = ["## Where the time goes", "", _missed(summary), ""]
    profiles: Mapping[str, Any] = summary.get("profiles") or {}
    if not profiles:
        lines.append("This run was not profiled (`run.py --write-docs` profiles jtd-ai's "
                     "scenarios after the rounds when pyinstrument is installed).")
        return "\n".join(lines) + "\n"
    lines += ["jtd-ai's scenarios once more each under pyinstrument, after the measured rounds "
              "(`tooling/bench/profile_summary.py`). Every sample is charged to the HTTP "
              "library or event loop it was in, else to the step of jtd-ai's per-call path "
              "whose code it was in or called from. The profiler watches the calling thread "
              "only: the usage ledger's writer thread is not in these tables, though the "
              "time it takes from the calling thread is.", ""]
    for scenario in ("sequential", "stream", "batch"):
        if scenario in profiles:
            lines += [*_profile_tables(scenario, profiles[scenario]), ""]
    return "\n".join(lines)


def notes_of(text: str) -> str:
    """The hand-written notes of an existing page, markers included, or the empty block."""
    if NOTES_START in text and NOTES_END in text:
        inside = text.split(NOTES_START, 1)[1].split(NOTES_END, 1)[0]
        return f"{NOTES_START}{inside}{NOTES_END}"
    return f"{NOTES_START}\n{NO_NOTES}\n{NOTES_END}"


def page(summary: Mapping[str, Any], chart: str, results: str, notes: str) -> str:
    generated = (f"<!-- Generated by tooling/bench/run.py --write-docs from {results} "
                 f"(tooling/bench/docs_page.py); only the notes block is kept by hand. -->")
    return "\n".join([
        INTRO, generated, "", METHOD, clients_section(), targets_section(), RERUN,
        results_section(summary, chart, results), time_section(summary),
        "## Notes", "", notes, "",
    ])


def write_docs(summary: Mapping[str, Any], page_path: Path, chart: Path, results: str) -> None:
    """Write the chart and the page (the notes of the page as it was are kept)."""
    chart.write_text(svg_chart(summary))
    notes = notes_of(page_path.read_text() if page_path.exists() else "")
    page_path.write_text(page(summary, chart.name, results, notes))
