"""Hostile replies, with memory measured: a body past ``max_response_size`` (50 MiB announced,
or endless), a gzip bomb (about 10 MB on the wire, 10 GiB inflated), a stream line that never
ends, a stream event that never ends, and one 50 MB event that is legitimate.

The client runs in a subprocess (helpers/hostile_client.py), one per mode, with its address
space limited to 4 GiB: tracemalloc's peak and the peak RSS then measure the client alone, and a
client that buffered a bomb would die there, not take the machine down. The hostile server
(helpers/netkit.py, ``HostileServer``) runs here and counts the requests of each case, so
"not retried" is what the wire saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from netcalls import MODES
from netkit import HUGE_EVENT, MIB, STREAM_TEXT, BackgroundLoop, HostileServer

HELPERS = Path(__file__).parent / "helpers"
#: The caps the capped cases set: small, so "bounded" is far from what the server sends.
CAP = 4 * MIB
#: Peak of Python allocations (tracemalloc) during one capped call: a few times the cap (the
#: body kept up to the cap, the piece that passed it, a line buffer's growth, the library's
#: read buffers; measured 4.2-7.2 MiB). Reading the 50 MiB body whole, or inflating the bomb,
#: would be 50 MiB to 10 GiB.
PEAK_BOUND = 3 * CAP
#: How far the process's peak RSS (VmHWM, reset before the call) rises above its RSS before
#: the call: also counts memory tracemalloc does not see (measured 0.7-5.9 MiB).
RSS_BOUND = 3 * CAP
#: One 50 MB event must take time linear in its size; the quadratic splitter took 28.6 s.
HUGE_EVENT_SECONDS = 5.0

CASES: dict[str, dict[str, Any]] = {
    # 50 MiB announced by Content-Length.
    "big-send": {"kind": "send", "prompt": "mode:big", "settings": {"max_response_size": CAP}},
    # Chunked, never ending.
    "endless-send": {"kind": "send", "prompt": "mode:endless",
                     "settings": {"max_response_size": CAP}},
    # gzip: ~1 KB per MiB of zeros, ~10 MB sent, 10 GiB once inflated.
    "bomb-send": {"kind": "send", "prompt": "mode:bomb",
                  "settings": {"max_response_size": CAP}},
    "bomb-stream": {"kind": "stream", "prompt": "mode:bomb", "settings": {"max_line_size": CAP}},
    # Three good events ("hello world"), then "data: aaaa..." without an end.
    "endless-line": {"kind": "stream", "prompt": "mode:endless-line",
                     "settings": {"max_line_size": CAP}},
    # Three good events, then 1 KiB "data:" lines forever, never the blank line ending the event.
    "endless-event": {"kind": "stream", "prompt": "mode:endless-event",
                      "settings": {"max_line_size": CAP}},
    # One 50 MB event, default caps: a big reply that is fine.
    "huge-event": {"kind": "stream", "prompt": "mode:huge-event", "settings": {},
                   "trace": False},
}


@pytest.fixture(scope="module")
def hostile(loop: BackgroundLoop) -> Iterator[HostileServer]:
    server = loop.run(HostileServer().start())
    yield server
    loop.run(server.stop())


Results = Callable[[str, str], dict[str, Any]]


@pytest.fixture(scope="module")
def result(hostile: HostileServer) -> Results:
    """``result(mode, case)``: what the client saw in that case. The cases of one mode run in
    one subprocess, started the first time one of them is asked for."""
    done: dict[str, dict[str, dict[str, Any]]] = {}

    def get(mode: str, case: str) -> dict[str, Any]:
        if mode not in done:
            spec = {"base_url": hostile.base_url, "mode": mode,
                    "cases": [{"id": name, **values,
                               "prompt": f"{values['prompt']} run:{mode}-{name}"}
                              for name, values in CASES.items()]}
            env = {name: value for name, value in os.environ.items()
                   if not name.lower().endswith("_proxy")
                   and name not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
            ran = subprocess.run([sys.executable, str(HELPERS / "hostile_client.py"),
                                  json.dumps(spec)], capture_output=True, text=True,
                                 timeout=150, env=env, check=False)
            hostile.settle()
            found = {}
            for line in ran.stdout.splitlines():
                if line.startswith("{"):
                    item = json.loads(line)
                    found[item["id"]] = item
            done[mode] = found
            if ran.returncode != 0:
                done[mode]["__stderr__"] = {"text": ran.stderr[-4000:]}
        found = done[mode]
        assert case in found, (f"the {mode} client did not report {case}: "
                               f"{found.get('__stderr__', {}).get('text', '')}")
        item = found[case]
        assert "crash" not in item, item["crash"]
        assert "warmup_error" not in item, item["warmup_error"]
        item["requests"] = hostile.counts[f"{mode}-{case}"]
        item["sent"] = hostile.sent[f"{mode}-{case}"]
        return item

    return get


def expect_capped(item: dict[str, Any], setting: str) -> None:
    """A typed, non-retried ResponseTooLargeError naming ``setting``, with memory bounded."""
    assert item["error"] == "ResponseTooLargeError", item
    assert setting in item["message"], item["message"]
    assert item["retryable"] is False
    assert item["attempts"] == 1
    assert item["requests"] == 1, f"the server saw {item['requests']} requests: retried"
    assert item["peak"] < PEAK_BOUND, (
        f"peak of traced memory {item['peak'] / MIB:.1f} MiB for a {CAP / MIB:.0f} MiB cap")
    if item["rss_growth"] is not None:  # None: /proc/self/clear_refs cannot be written here
        assert item["rss_growth"] < RSS_BOUND, (
            f"the peak RSS rose {item['rss_growth'] / MIB:.1f} MiB during the call")
    assert item["elapsed"] < 10, item["elapsed"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", ["big-send", "endless-send"])
def test_a_body_past_max_response_size_ends_the_call_with_bounded_memory(
        result: Results, mode: str, case: str) -> None:
    """50 MiB (or endless) against a 4 MiB cap: ResponseTooLargeError, once, memory bounded,
    and the client hangs up instead of reading the rest."""
    item = result(mode, case)
    expect_capped(item, "max_response_size")
    if case == "big-send":
        assert item["sent"] < 50 * MIB  # the server could not write it all: the client left


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", ["bomb-send", "bomb-stream"])
def test_a_gzip_bomb_ends_the_call_with_bounded_memory(result: Results, mode: str,
                                                       case: str) -> None:
    """About 10 MB of gzip that inflates to 10 GiB: the decoded size meets the cap
    (max_response_size for a reply, max_line_size for a stream's one endless line of zeros)
    while memory stays bounded."""
    item = result(mode, case)
    expect_capped(item, "max_response_size" if case == "bomb-send" else "max_line_size")
    assert item["sent"] < 10_000 * 1000  # the client left before the bomb was sent whole


@pytest.mark.parametrize("mode", MODES)
def test_an_endless_stream_line_ends_the_call_and_keeps_the_partial(result: Results,
                                                                    mode: str) -> None:
    item = result(mode, "endless-line")
    expect_capped(item, "max_line_size")
    assert item["deltas"] == STREAM_TEXT  # delivered before the endless line
    assert item["partial"] == STREAM_TEXT  # and kept on the error


@pytest.mark.parametrize("mode", MODES)
def test_an_endless_stream_event_ends_the_call_and_keeps_the_partial(result: Results,
                                                                     mode: str) -> None:
    """Short ``data:`` lines that never reach the blank line ending their event: the event's
    size is capped by max_line_size too."""
    item = result(mode, "endless-event")
    expect_capped(item, "max_line_size")
    assert item["partial"] == STREAM_TEXT


@pytest.mark.parametrize("mode", MODES)
def test_one_50_mb_event_streams_in_linear_time(result: Results, mode: str) -> None:
    """With the default caps (64 MiB) one 50 MB event is a legitimate reply: it arrives
    whole, sent in 64 KiB writes, and the line splitting stays linear (< 5 s)."""
    item = result(mode, "huge-event")
    assert item["error"] is None, item["message"]
    assert item["text_length"] == len(STREAM_TEXT) + HUGE_EVENT
    assert item["text_head"] == STREAM_TEXT + "a" * (40 - len(STREAM_TEXT))
    assert item["requests"] == 1
    assert item["elapsed"] < HUGE_EVENT_SECONDS, f"{item['elapsed']:.1f} s"
