"""The docs chart, drawn as SVG from a run's summary: no plotting library needed.

One panel per metric, one bar per client: its ratio to that metric's baseline (a line at
1x) with jtd-ai's targets marked in red; then the batch against the openai SDK on aiohttp,
which one target compares with. Very long bars are cut at three times the target
and labelled with their real ratio, so jtd-ai's neighbourhood stays readable.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from report import METRICS, NO_LEDGER, SUBJECT, TARGETS, ratio_of

__all__ = ["svg_chart"]

WIDTH = 780
LABEL = 190  # left column: client names
PLOT = 470  # bar area
BAR = 15
GAP = 5
COLORS = {SUBJECT: "#2563eb", NO_LEDGER: "#93c5fd", "httpx": "#4b5563",
          "aiohttp": "#4b5563", "openai-aiohttp": "#4b5563"}
OTHER = "#9ca3af"
FONT = "font-family='system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif'"


def _text(x: float, y: float, text: str, *, size: int = 12, anchor: str = "start",
          weight: str = "normal", color: str = "#111827") -> str:
    # Drawn twice, a white-outlined copy under the text, so a label stays readable where it
    # crosses a line (paint-order would do it in one, but not every renderer knows it).
    common = (f"x='{x:.1f}' y='{y:.1f}' font-size='{size}' text-anchor='{anchor}' "
              f"font-weight='{weight}' {FONT}")
    return (f"<text {common} fill='white' stroke='white' stroke-width='3'>{escape(text)}"
            f"</text><text {common} fill='{color}'>{escape(text)}</text>")


def _vline(x: float, top: float, bottom: float, color: str, dash: str) -> str:
    return (f"<line x1='{x:.1f}' y1='{top:.1f}' x2='{x:.1f}' y2='{bottom:.1f}' "
            f"stroke='{color}' stroke-width='1.5' stroke-dasharray='{dash}'/>")


#: (target's client, the words its line is labelled with) where one panel has several.
_WHO = {SUBJECT: "usage ledger on", NO_LEDGER: "store off"}


def _panel(title: str, higher_is_better: bool, bars: list[tuple[str, float]],
           lines: list[tuple[float, str]], top: float,
           baseline_label: str) -> tuple[list[str], float]:
    """The SVG elements of one panel (bars: ratios per client; lines: jtd-ai's targets and
    their labels), and the y where the next one starts."""
    better = "higher" if higher_is_better else "lower"
    out = [_text(8, top + 14, f"{title} ({better} is better), ratio to {baseline_label}",
                 size=13, weight="bold")]
    limits = [limit for limit, _ in lines] or [1.0]
    scale = min(max(max(r for _, r in bars), *limits, 1.0) * 1.08, 3 * max(*limits, 1.0))
    first = top + 24
    bottom = first + len(bars) * (BAR + GAP)

    def x(ratio: float) -> float:
        return LABEL + PLOT * min(ratio, scale) / scale

    for index, (name, ratio) in enumerate(bars):
        y = first + index * (BAR + GAP)
        color = COLORS.get(name, OTHER)
        out.append(_text(LABEL - 8, y + BAR - 3, name, anchor="end",
                         weight="bold" if name == SUBJECT else "normal"))
        out.append(f"<rect x='{LABEL}' y='{y:.1f}' width='{x(ratio) - LABEL:.1f}' "
                   f"height='{BAR}' fill='{color}' rx='2'/>")
        cut = ratio > scale
        out.append(_text(x(ratio) + 5, y + BAR - 3, f"{ratio:.2f}x{' (cut)' if cut else ''}",
                         size=11))
    # The baseline and target lines, labelled below, one label a line; each label leans
    # away from the 1x line.
    out.append(_vline(x(1.0), first - 4, bottom, "#111827", "3,3"))
    out.append(_text(x(1.0) + 3, bottom + 11, "1x", size=10))
    for index, (limit, label) in enumerate(lines):
        right = limit >= 1.0
        out.append(_vline(x(limit), first - 4, bottom, "#dc2626", "6,3"))
        out.append(_text(x(limit) + (3 if right else -3), bottom + 22 + 11 * index,
                         f"jtd-ai target {limit:g}x{label}", size=10,
                         anchor="start" if right else "end", color="#dc2626"))
    return out, bottom + 26 + 11 * len(lines)


def _target_lines(key: str, baseline: str) -> list[tuple[float, str]]:
    chosen = [t for t in TARGETS if t.metric == key and t.baseline == baseline
              and not t.beside]
    several = len({t.client for t in chosen}) > 1
    return [(t.limit, f" ({_WHO.get(t.client, t.client)})" if several else "")
            for t in chosen]


def svg_chart(summary: Mapping[str, Any]) -> str:
    clients: Mapping[str, Any] = summary["clients"]
    machine = summary["machine"]
    body = [_text(8, 20, "jtd-ai and other Python LLM clients against a local fake server",
                  size=15, weight="bold"),
            _text(8, 38, f"{machine['cpu']}, {machine['cores']} cores, {machine['python']}, "
                         f"{summary['created'][:10]}; medians of {summary['settings']['rounds']}"
                         f" rounds", size=11, color="#4b5563")]
    y = 52.0
    # Every metric against its table baseline, then the batch against the openai SDK on
    # aiohttp (one of the batch's targets).
    panels = [(m, m.baseline) for m in METRICS]
    panels += sorted({(m, t.baseline) for t in TARGETS for m in METRICS
                      if m.key == t.metric and t.baseline != m.baseline},
                     key=lambda pair: (pair[0].key, pair[1]))
    for metric, baseline in panels:
        bars = [(name, ratio) for name in clients
                if (ratio := ratio_of(clients, name, baseline, metric.key)) is not None]
        if not bars:
            continue
        base = clients.get(baseline, {}).get("label", baseline)
        elements, y = _panel(metric.title, metric.higher_is_better, bars,
                             _target_lines(metric.key, baseline), y, base)
        body += elements
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{y:.0f}' "
            f"viewBox='0 0 {WIDTH} {y:.0f}'>\n<rect width='100%' height='100%' fill='white'/>\n"
            + "\n".join(body) + "\n</svg>\n")
