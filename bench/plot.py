"""A small SVG plot (no plotting dependency): latency distributions as CDFs on a log time axis."""

from __future__ import annotations

import math
from pathlib import Path

COLOURS = ["#007a5a", "#e01e5a", "#1264a3", "#ecb22e"]


def cdf_svg(series: dict[str, list[float]], path: Path, title: str, width: int = 720, height: int = 360) -> None:
    left, right, top, bottom = 60, 20, 40, 50
    values = [v for vs in series.values() for v in vs if v > 0]
    if not values:
        path.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
        return
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    span = math.log10(hi) - math.log10(lo)

    def x(v: float) -> float:
        return left + (math.log10(max(v, lo)) - math.log10(lo)) / span * (width - left - right)

    def y(p: float) -> float:
        return top + (1 - p) * (height - top - bottom)

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family='sans-serif' "
             f"font-size='12'><rect width='100%' height='100%' fill='white'/>",
             f"<text x='{left}' y='22' font-size='14' font-weight='bold'>{title}</text>"]
    decade = lo
    while decade <= hi:
        parts.append(f"<line x1='{x(decade):.1f}' y1='{top}' x2='{x(decade):.1f}' y2='{height - bottom}' "
                     "stroke='#ddd'/>")
        parts.append(f"<text x='{x(decade):.1f}' y='{height - bottom + 16}' text-anchor='middle'>"
                     f"{decade:g} ms</text>")
        decade *= 10
    for p in (0, 0.5, 0.9, 0.99, 1):
        parts.append(f"<line x1='{left}' y1='{y(p):.1f}' x2='{width - right}' y2='{y(p):.1f}' stroke='#eee'/>")
        parts.append(f"<text x='{left - 6}' y='{y(p) + 4:.1f}' text-anchor='end'>{p:g}</text>")
    parts.append(f"<text x='{(left + width - right) / 2}' y='{height - 12}' text-anchor='middle'>ack latency "
                 "(log scale)</text>")
    for i, (name, vs) in enumerate(series.items()):
        ordered = sorted(vs)
        if not ordered:
            continue
        step = max(1, len(ordered) // 400)
        points = " ".join(f"{x(v):.1f},{y((k + 1) / len(ordered)):.1f}" for k, v in enumerate(ordered) if k % step == 0
                          or k == len(ordered) - 1)
        colour = COLOURS[i % len(COLOURS)]
        parts.append(f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{points}'/>")
        parts.append(f"<text x='{width - right - 8}' y='{top + 18 * (i + 1)}' text-anchor='end' fill='{colour}'>"
                     f"{name} (n={len(ordered)})</text>")
    parts.append("</svg>")
    path.write_text("\n".join(parts))
