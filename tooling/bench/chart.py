"""The docs chart, drawn as SVG from a run's summary: no plotting library needed.

One panel per metric, one bar per client: its ratio to that metric's baseline (a line at
1x) with jtd-ai's target marked in red. Very long bars are cut at three times the target
and labelled with their real ratio, so jtd-ai's neighbourhood stays readable.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from report import METRICS, SUBJECT, Metric

__all__ = ["svg_chart"]

WIDTH = 780
LABEL = 190  # left column: client names
PLOT = 470  # bar area
BAR = 15
GAP = 5
COLORS = {SUBJECT: "#2563eb", f"{SUBJECT}-noledger": "#93c5fd", "httpx": "#4b5563",
          "aiohttp": "#4b5563"}
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


def _panel(metric: Metric, bars: list[tuple[str, float]], top: float,
           baseline_label: str) -> tuple[list[str], float]:
    """The SVG elements of one metric's panel, and the y where the next one starts."""
    better = "higher" if metric.higher_is_better else "lower"
    out = [_text(8, top + 14, f"{metric.title} ({better} is better), ratio to "
                              f"{baseline_label}", size=13, weight="bold")]
    scale = min(max(max(r for _, r in bars), metric.target, 1.0) * 1.08,
                3 * max(metric.target, 1.0))
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
    # The baseline and target lines, labelled below; the labels lean away from each other.
    target_right = metric.target >= 1.0
    out.append(_vline(x(1.0), first - 4, bottom, "#111827", "3,3"))
    out.append(_text(x(1.0) + (-3 if target_right else 3), bottom + 11, "1x", size=10,
                     anchor="end" if target_right else "start"))
    out.append(_vline(x(metric.target), first - 4, bottom, "#dc2626", "6,3"))
    out.append(_text(x(metric.target) + (3 if target_right else -3), bottom + 11,
                     f"jtd-ai target {metric.target:g}x", size=10,
                     anchor="start" if target_right else "end", color="#dc2626"))
    return out, bottom + 26


def svg_chart(summary: Mapping[str, Any]) -> str:
    clients: Mapping[str, Any] = summary["clients"]
    machine = summary["machine"]
    body = [_text(8, 20, "jtd-ai and other Python LLM clients against a local fake server",
                  size=15, weight="bold"),
            _text(8, 38, f"{machine['cpu']}, {machine['cores']} cores, {machine['python']}, "
                         f"{summary['created'][:10]}; medians of {summary['settings']['rounds']}"
                         f" rounds", size=11, color="#4b5563")]
    y = 52.0
    for metric in METRICS:
        bars = [(name, row["metrics"][metric.key]["ratio"]) for name, row in clients.items()
                if "ratio" in row["metrics"].get(metric.key, {})]
        if not bars:
            continue
        base = clients.get(metric.baseline, {}).get("label", metric.baseline)
        elements, y = _panel(metric, bars, y, base)
        body += elements
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{y:.0f}' "
            f"viewBox='0 0 {WIDTH} {y:.0f}'>\n<rect width='100%' height='100%' fill='white'/>\n"
            + "\n".join(body) + "\n</svg>\n")
