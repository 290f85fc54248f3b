"""Matches per day per entity as an SVG line chart, drawn on the server: no chart library, no script.
Colours are SVG attributes (the CSP allows no inline style); every line has a legend entry and a title."""

from __future__ import annotations

from markupsafe import Markup, escape

from veille.manage.overview import Chart

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP, RIGHT = 720, 220, 36, 24, 10, 10


def svg(chart: Chart) -> Markup:
    days = len(chart.days)
    peak = max(chart.peak, 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / max(days - 1, 1))

    def y(value: int) -> float:
        return TOP + plot_h - plot_h * value / peak

    total = sum(s.total for s in chart.series)
    title = f"Matches per day over the last {days} days: {total} in all"
    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title" '
             f'xmlns="http://www.w3.org/2000/svg"><title id="chart-title">{escape(title)}</title>',
             f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}"/>',
             f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}"/>',
             f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{peak}</text>',
             f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end">0</text>']
    for i in (0, days // 2, days - 1):
        if 0 <= i < days:
            anchor = "end" if i == days - 1 and i else "middle"  # the last day's label inside the picture
            parts.append(f'<text x="{x(i):.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}">'
                         f"{chart.days[i]:%d %b}</text>")
    for index, series in enumerate(chart.series):
        colour = PALETTE[index % len(PALETTE)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(series.counts))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}">'
                     f"<title>{escape(series.name)}: {series.total}</title></polyline>")
    parts.append("</svg>")
    return Markup("".join(parts))


def legend(chart: Chart) -> list[tuple[str, str, int]]:
    """(colour, name, total) per line, in the chart's order."""
    return [(PALETTE[i % len(PALETTE)], s.name, s.total) for i, s in enumerate(chart.series)]
