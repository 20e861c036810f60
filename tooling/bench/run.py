"""The benchmark, in one command: jtd-ai and the baselines, interleaved, medians, ratios.

    python tooling/bench/run.py                 # full run, writes results/latest.json
    python tooling/bench/run.py --quick         # under two minutes, writes results/quick.json
    python tooling/bench/run.py --write-docs    # also regenerate docs/performance.md + chart
    python tooling/bench/run.py --from tooling/bench/results/latest.json --write-docs
    python tooling/bench/run.py --profile batch # jtd-ai's batch under pyinstrument

The fake server (server.py) runs in its own process, pinned to one core when there are two
or more, the clients on the others. Each round runs every scenario for every installed
client, each in a fresh process, the client order rotated every round so drift and position
hit all alike; the table shows medians over rounds and ratios measured in this same run.
Clients that are not installed are reported as such; a client that fails or gets a wrong
reply makes the run exit 1 (targets missed do not: benchmarks are not tests).

jtd-ai runs on httpx (sync calls, streams) and aiohttp (async calls, ``send_batch``), the
same libraries as the bare baselines it is compared with (clients/__init__.py lists every
client). ``--write-docs`` also profiles jtd-ai's sequential, stream and batch scenarios once
after the rounds (profile_summary.py: where the per-call time goes) and writes the whole of
docs/performance.md from the run (docs_page.py), keeping only the hand-written notes between
its ``notes`` markers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import selectors
import shlex
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from clients import CLIENTS, SCENARIOS, ClientInfo, by_name
from machine import describe
from profile_summary import text as profile_text
from report import FIELDS, summarize, targets, text_report

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parents[1]
RESULTS = BENCH / "results"


@dataclass(frozen=True)
class Settings:
    """How much of everything a run does, per client per round."""

    quick: bool
    rounds: int
    import_samples: int
    sequential_requests: int
    sequential_warmup: int
    chunks: int
    stream_repeats: int
    stream_warmup: int
    batch_requests: int
    batch_warmup: int
    concurrency: int
    #: Seconds one client process may take before it counts as failed.
    timeout: float


FULL = Settings(quick=False, rounds=5, import_samples=5, sequential_requests=1000,
                sequential_warmup=100, chunks=5000, stream_repeats=5, stream_warmup=1,
                batch_requests=2000, batch_warmup=128, concurrency=64, timeout=600)
QUICK = replace(FULL, quick=True, rounds=2, import_samples=3, sequential_requests=200,
                sequential_warmup=30, stream_repeats=2, batch_requests=500, batch_warmup=64,
                timeout=120)


class RunFailed(Exception):
    """A client process failed, timed out or printed no result."""


@dataclass
class ServerInfo:
    base_url: str
    loop: str
    pid: int
    cpu: int | None
    client_cpus: list[int]


def pin_cores(enabled: bool) -> tuple[int | None, list[int]]:
    """Give the server the last usable core and keep this process (so every client it
    starts) on the others; nothing on one core or without sched_setaffinity."""
    if not enabled or not hasattr(os, "sched_setaffinity"):
        return None, []
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, []
    os.sched_setaffinity(0, cpus[:-1])
    return cpus[-1], cpus[:-1]


@contextmanager
def fake_server(cpu: int | None, client_cpus: list[int], uvloop: bool) -> Iterator[ServerInfo]:
    command = [sys.executable, str(BENCH / "server.py"), "--port", "0"]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    if not uvloop:
        command.append("--no-uvloop")
    proc = subprocess.Popen(command, cwd=BENCH, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout=30)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("listening on "):
            raise SystemExit(f"the fake server did not start: {line!r}")
        url, _, loop = line.removeprefix("listening on ").strip().partition(" loop=")
        yield ServerInfo(url, loop, proc.pid, cpu, client_cpus)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def scenario_args(scenario: str, settings: Settings) -> list[str]:
    if scenario == "import":
        return ["--samples", str(settings.import_samples)]
    if scenario == "sequential":
        return ["--requests", str(settings.sequential_requests),
                "--warmup", str(settings.sequential_warmup)]
    if scenario == "stream":
        return ["--chunks", str(settings.chunks), "--repeats", str(settings.stream_repeats),
                "--warmup", str(settings.stream_warmup)]
    return ["--requests", str(settings.batch_requests), "--warmup", str(settings.batch_warmup),
            "--concurrency", str(settings.concurrency)]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # no price-map download at import
    env["NO_PROXY"] = ",".join(filter(None, [env.get("NO_PROXY"), "127.0.0.1", "localhost"]))
    return env


def run_client(client: ClientInfo, scenario: str, base_url: str, settings: Settings,
               extra: Sequence[str] = ()) -> dict[str, Any]:
    """One fresh client process; its JSON result line."""
    command = [sys.executable, "-m", client.module, scenario, base_url,
               *scenario_args(scenario, settings), *extra]
    try:
        done = subprocess.run(command, cwd=BENCH, env=child_env(), capture_output=True,
                              text=True, timeout=settings.timeout, check=False)
    except subprocess.TimeoutExpired as timeout:
        raise RunFailed(f"timed out after {settings.timeout:.0f} s") from timeout
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{") and done.returncode == 0:
            result: dict[str, Any] = json.loads(line)
            return result
    tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-12:]
    raise RunFailed("\n".join(tail) or f"exit status {done.returncode}")


def short(scenario: str, result: dict[str, Any]) -> str:
    """One progress line's worth of a result."""
    cpu = result.get("server_cpu")
    server = f" (server CPU {cpu:.0%})" if cpu is not None else ""
    if scenario == "import":
        return f"{result['ms']:.1f} ms"
    if scenario == "sequential":
        return f"{result['us']:.0f} µs/request{server}"
    if scenario == "stream":
        return f"{result['ms']:.1f} ms, first chunk {result['first_chunk_ms']:.2f} ms{server}"
    return f"{result['rps']:.0f} req/s, peak RSS {result['rss_mb']:.1f} MB{server}"


class Run:
    """Every value measured so far, by client and metric; and what failed."""

    def __init__(self, clients: list[ClientInfo], scenarios: list[str], settings: Settings,
                 server: ServerInfo, quiet: bool) -> None:
        self.clients = clients
        self.scenarios = scenarios
        self.settings = settings
        self.server = server
        self.quiet = quiet
        self.samples: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        self.server_cpu: dict[str, dict[str, list[float]]] = defaultdict(
            lambda: defaultdict(list))
        self.errors: dict[str, dict[str, str]] = defaultdict(dict)

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def warm_up(self) -> None:
        """Import every client once, untimed: compiles the bytecode caches."""
        for client in self.clients:
            try:
                run_client(client, "import", self.server.base_url,
                           replace(self.settings, import_samples=1))
            except RunFailed as failure:
                self.errors[client.name]["import"] = str(failure).splitlines()[-1]

    def all_rounds(self) -> None:
        for number in range(self.settings.rounds):
            shift = number % len(self.clients)
            order = self.clients[shift:] + self.clients[:shift]
            for scenario in self.scenarios:
                for client in order:
                    if scenario in client.scenarios and scenario not in self.errors[client.name]:
                        self.one(number, client, scenario)

    def one(self, number: int, client: ClientInfo, scenario: str) -> None:
        where = f"[{number + 1}/{self.settings.rounds}] {scenario:<10} {client.name:<16}"
        try:
            result = run_client(client, scenario, self.server.base_url, self.settings)
        except RunFailed as failure:
            self.errors[client.name][scenario] = str(failure).splitlines()[-1]
            self.say(f"{where} FAILED\n{failure}")
            return
        for metric, field in FIELDS[scenario]:
            value = result[field]
            self.samples[client.name][metric] += value if isinstance(value, list) else [value]
        if result.get("server_cpu") is not None:
            self.server_cpu[client.name][scenario].append(result["server_cpu"])
        self.say(f"{where} {short(scenario, result)}")


def client_rows(chosen: list[ClientInfo], skipped: list[ClientInfo],
                run: Run | None) -> list[dict[str, Any]]:
    rows = []
    for client in CLIENTS:
        if client in skipped:
            rows.append({"name": client.name, "label": client.label, "note": client.note,
                         "status": "not installed", "errors": {},
                         "missing": client.missing()})
        elif client in chosen:
            errors = dict(run.errors[client.name]) if run else {}
            rows.append({"name": client.name, "label": client.label, "note": client.note,
                         "status": "error" if errors else "ok", "errors": errors})
    return rows


def pick_clients(names: str | None) -> tuple[list[ClientInfo], list[ClientInfo]]:
    """(installed clients to run, clients skipped as not installed). A client named
    explicitly must be installed."""
    wanted = [by_name(n.strip()) for n in names.split(",")] if names else list(CLIENTS)
    chosen = [c for c in wanted if not c.missing()]
    skipped = [c for c in wanted if c.missing()]
    if names and skipped:
        raise SystemExit("not installed: " + ", ".join(
            f"{c.name} (needs {', '.join(c.missing())})" for c in skipped))
    return chosen, skipped


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="clients: " + ", ".join(c.name for c in CLIENTS) + "; scenarios: "
               + ", ".join(SCENARIOS) + " (the batch also reports peak RSS)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds and requests: under two minutes")
    parser.add_argument("--clients", help="comma-separated clients (default: all installed)")
    parser.add_argument("--scenarios", help="comma-separated scenarios (default: all)")
    parser.add_argument("--rounds", type=int, help="rounds (default 5, quick 2)")
    parser.add_argument("--out", type=Path,
                        help="JSON results (default results/latest.json, quick: quick.json)")
    parser.add_argument("--write-docs", action="store_true",
                        help="then profile jtd-ai once per scenario and rewrite "
                             "docs/performance.md and docs/performance.svg")
    parser.add_argument("--from", dest="source", type=Path, metavar="JSON",
                        help="report a saved run instead of running")
    parser.add_argument("--profile", choices=["sequential", "stream", "batch"],
                        help="profile one scenario of jtd-ai (or the one --clients names) "
                             "with pyinstrument instead of benchmarking")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument("--no-uvloop", action="store_true", help="server on asyncio's loop")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    settings = QUICK if args.quick else FULL
    return replace(settings, rounds=args.rounds) if args.rounds else settings


def profile_once(client: ClientInfo, scenario: str, base_url: str,
                 settings: Settings) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """One profiled run of ``scenario``: (the report files' path stem, the scenario's
    result, where the time went as profile_summary.py counts it)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"profile-{client.name}-{scenario}"
    result = run_client(client, scenario, base_url, settings, ["--profile", str(path)])
    areas: dict[str, Any] = json.loads(Path(f"{path}.json").read_text())
    return path, result, areas


def profile(args: argparse.Namespace, settings: Settings) -> int:
    chosen, _ = pick_clients(args.clients or "jtd-ai")
    client = chosen[0]
    server_cpu, client_cpus = pin_cores(not args.no_pin)
    with fake_server(server_cpu, client_cpus, not args.no_uvloop) as server:
        path, result, areas = profile_once(client, args.profile, server.base_url, settings)
    print(Path(f"{path}.txt").read_text())
    print(profile_text(areas))
    print(f"\n{client.name} {args.profile}: {short(args.profile, result)}")
    print(f"profile: {path}.html, {path}.txt and {path}.json")
    return 0


def docs_profiles(run: Run) -> dict[str, Any]:
    """For the docs page: jtd-ai's sequential and batch scenarios (and the stream) once
    more each, under the profiler, after the measured rounds."""
    found: dict[str, Any] = {}
    subject = next((c for c in run.clients if c.name == "jtd-ai"), None)
    if subject is None or importlib.util.find_spec("pyinstrument") is None:
        return found
    for scenario in ("sequential", "stream", "batch"):
        if scenario not in run.scenarios:
            continue
        try:
            _, _, found[scenario] = profile_once(subject, scenario, run.server.base_url,
                                                 run.settings)
        except RunFailed as failure:
            run.say(f"profile of jtd-ai {scenario} FAILED\n{failure}")
        else:
            run.say(f"profiled jtd-ai {scenario}")
    return found


def write_outputs(summary: dict[str, Any], out: Path, docs: bool) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    print(f"\nresults: {out}")
    if docs:
        from docs_page import write_docs

        try:
            shown = str(out.resolve().relative_to(ROOT))
        except ValueError:
            shown = str(out)
        write_docs(summary, ROOT / "docs" / "performance.md",
                   ROOT / "docs" / "performance.svg", shown)
        print("docs: docs/performance.md, docs/performance.svg")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    settings = settings_from(args)
    if args.source:
        saved = json.loads(args.source.read_text())
        saved["targets"] = targets(saved["clients"])  # today's targets, from its medians
        print(text_report(saved))
        if args.write_docs:
            write_outputs(saved, args.source, docs=True)
        return 0
    if args.profile:
        return profile(args, settings)
    scenarios = ([s.strip() for s in args.scenarios.split(",")] if args.scenarios
                 else list(SCENARIOS))
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
    chosen, skipped = pick_clients(args.clients)
    if not chosen:
        raise SystemExit("no client is installed")
    started = time.perf_counter()
    machine = describe(ROOT)
    server_cpu, client_cpus = pin_cores(not args.no_pin)
    with fake_server(server_cpu, client_cpus, not args.no_uvloop) as server:
        run = Run(chosen, scenarios, settings, server, args.quiet)
        run.say(f"server {server.base_url} ({server.loop}); clients: "
                + ", ".join(c.name for c in chosen)
                + (f"; not installed: {', '.join(c.name for c in skipped)}" if skipped else ""))
        run.warm_up()
        run.all_rounds()
        profiles = docs_profiles(run) if args.write_docs else {}
    summary: dict[str, Any] = {
        "schema": 1,
        "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join(["python", "tooling/bench/run.py",
                               *(sys.argv[1:] if argv is None else argv)]),
        "duration_s": round(time.perf_counter() - started, 1),
        "settings": asdict(settings), "scenarios": scenarios, "machine": machine,
        "server": {"loop": server.loop, "cpu": server.cpu, "client_cpus": server.client_cpus},
        **summarize(client_rows(chosen, skipped, run), run.samples, run.server_cpu),
        "profiles": profiles,
    }
    print(text_report(summary))
    out = args.out or RESULTS / ("quick.json" if settings.quick else "latest.json")
    write_outputs(summary, out, args.write_docs)
    failed = {name: errors for name, errors in run.errors.items() if errors}
    if failed:
        print(f"\nFAILED: {json.dumps(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
