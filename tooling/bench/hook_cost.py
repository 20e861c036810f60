"""What the ``wrap_call`` hook costs a call when no plugin implements it: one small case, one
process, interleaved, medians.

    python tooling/bench/hook_cost.py [--rounds 10] [--calls 200] [--chunks 50] [--out FILE]

The benchmark's fake server (server.py) runs in its own process; this process makes the same
call three ways, in turn, round after round, the order rotated each round:

* ``before``: the chat path as it was before the hook: build the request and its CallInfo,
  then the provider call itself (``Driver._chat_once``, which is the old ``send_message`` body);
* ``no plugin``: ``send_message`` as it is, no ``wrap_call`` implementation registered;
* ``pass-through``: ``send_message`` with one plugin whose wrapper only calls through
  (what the machinery costs once a plugin is on).

The three take turns call by call (the order rotated each turn), and each call is timed on
its own; the medians over every call make bursts of load on a shared machine matter little.

Streams likewise (``stream`` of ``--chunks`` chunks). Every installed call plugin is turned
off (``[plugins.NAME] enabled = false``) and the store is off, so only the hook differs.
Each call's CPU time on this thread is measured (what the client spends on it, which other
processes on a busy machine barely disturb) beside its wall time. Prints the medians (µs per
call) and writes the samples as JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import timeit
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

from jtd_ai import AIManager, CallInfo, ChatRequest, Response, hookimpl
from jtd_ai.driver import ChatStream
from jtd_ai.plugins import plugin_listings

from payloads import API_KEY, MODEL, PROMPT, REPLY, stream_text
from run import fake_server, pin_cores


class PassThrough:
    """A plugin whose wrapper calls through and gives the reply back unchanged."""

    @hookimpl
    def wrap_call(self, call: CallInfo) -> Generator[ChatRequest, Response, Response]:
        def wrapper() -> Generator[ChatRequest, Response, Response]:
            assert call.request is not None
            return (yield call.request)
        return wrapper()


def manager(base_url: str) -> AIManager:
    off = {p.name: {"enabled": False} for p in plugin_listings() if p.distribution}
    return AIManager(
        providers={"bench": {"driver": "openai", "base_url": base_url, "api_key": API_KEY,
                             "default_model": MODEL}},
        default="bench", config_file=False, env={}, store={"enabled": False}, plugins=off)


def variants(plain: AIManager, wrapped: AIManager,
             chunks: int) -> dict[str, Callable[[], str]]:
    """Each way of making the call: a function that makes one and returns its text."""
    driver = plain.driver()
    other = wrapped.driver()

    def before_send() -> str:
        request = driver.build_request(PROMPT)
        call = CallInfo(provider=driver.config.name, driver=driver.get_name(),
                        operation="chat", model=request.model, request=request)
        return driver._chat_once(request, call).content

    def before_stream() -> str:
        request = driver.build_request(PROMPT, max_tokens=chunks)
        call = CallInfo(provider=driver.config.name, driver=driver.get_name(),
                        operation="stream", model=request.model, request=request)
        stream = ChatStream(driver, request, driver.protocol.chat_request(request, stream=True),
                            call)
        return "".join(c.delta for c in stream)

    def stream_of(d: Any) -> Callable[[], str]:
        return lambda: "".join(c.delta for c in d.stream(PROMPT, max_tokens=chunks))

    return {
        "send: before": before_send,
        "send: no plugin": lambda: driver.send_message(PROMPT).content,
        "send: pass-through": lambda: other.send_message(PROMPT).content,
        "stream: before": before_stream,
        "stream: no plugin": stream_of(driver),
        "stream: pass-through": stream_of(other),
    }


def rounds(cases: dict[str, Callable[[], str]], count: int, calls: int,
           chunks: int) -> Iterator[tuple[int, str, float, float]]:
    """(round, case, CPU µs, wall µs) of every single call: the cases take turns call by
    call, in an order rotated after each turn, so drift and bursts of load hit them all
    alike."""
    names = list(cases)
    turn = 0
    for number in range(count):
        for _ in range(calls):
            shift = turn % len(names)
            turn += 1
            for name in names[shift:] + names[:shift]:
                cpu = time.thread_time()
                started = time.perf_counter()
                text = cases[name]()
                wall = (time.perf_counter() - started) * 1e6
                used = (time.thread_time() - cpu) * 1e6
                wanted = REPLY if name.startswith("send") else stream_text(chunks)
                if text != wanted:
                    raise SystemExit(f"{name}: wrong reply {text[:80]!r}")
                yield number, name, used, wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=200, help="calls per case per round")
    parser.add_argument("--chunks", type=int, default=50, help="chunks per stream")
    parser.add_argument("--warmup", type=int, default=2, help="rounds not counted")
    parser.add_argument("--out", type=Path, help="write the samples and medians as JSON")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    args = parser.parse_args(argv)
    server_cpu, client_cpus = pin_cores(not args.no_pin)
    with fake_server(server_cpu, client_cpus, uvloop=True) as server:
        plain, wrapped = manager(server.base_url), manager(server.base_url)
        wrapped.hooks.register(PassThrough())
        cases = variants(plain, wrapped, args.chunks)
        samples: dict[str, list[float]] = {name: [] for name in cases}
        walls: dict[str, list[float]] = {name: [] for name in cases}
        for number, name, used, wall in rounds(cases, args.rounds + args.warmup, args.calls,
                                               args.chunks):
            if number >= args.warmup:
                samples[name].append(used)
                walls[name].append(wall)
        # The check a call makes to find no wrapper, on its own (ns per call).
        check = min(timeit.repeat(plain.driver()._wrapped, number=100_000, repeat=5)) * 1e4
        plain.close()
        wrapped.close()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    wall_medians = {name: statistics.median(values) for name, values in walls.items()}
    print(f"{args.rounds * args.calls} calls per case; CPU time of this thread per call "
          f"(what the client spends), and wall time (noisier on a shared machine)")
    print(f"{'case':<22} {'CPU µs':>8} {'vs before':>10} {'CPU quartiles':>17} "
          f"{'wall µs':>9} {'vs before':>10}")
    for name, value in medians.items():
        base = name.split(":")[0] + ": before"
        low, _, high = statistics.quantiles(samples[name], n=4)
        wall = wall_medians[name]
        print(f"{name:<22} {value:>8.1f} {value / medians[base] - 1:>+10.2%} "
              f"{f'{low:.1f}-{high:.1f}':>17} {wall:>9.1f} "
              f"{wall / wall_medians[base] - 1:>+10.2%}")
    print(f"the check a call makes to find no wrapper, alone: {check:.0f} ns per call")
    if args.out:
        args.out.write_text(json.dumps({"cpu_medians_us": medians, "check_ns": check,
                                        "wall_medians_us": wall_medians,
                                        "cpu_samples_us": samples, "wall_samples_us": walls,
                                        "rounds": args.rounds, "calls": args.calls,
                                        "chunks": args.chunks}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
