"""Charts drawn as SVG on the server, by hand: no JavaScript, no CDN, no plotting dependency.

Why not matplotlib: it would add ~40 MB (numpy, pillow, fonts) to the gateway image for four bar
charts, and its bundled fonts have no Chinese glyphs, so occupation names would render as boxes
unless a CJK font were installed and configured. Text in an SVG is drawn by the viewer's browser
with its own fonts, so Chinese names just work. Every value is escaped; shapes carry a <title> so
a pointer or a screen reader gets the exact number.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

# Levels 5 (初级) … 1 (高级技师): light to dark, readable in greyscale too.
LEVEL_COLOURS = {5: "#c6dbef", 4: "#9ecae1", 3: "#4292c6", 2: "#2171b5", 1: "#08306b"}
BAR = "#2b8cbe"
MUTED = "#d9d9d9"


def _svg(width: int, height: int, label: str, body: list[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(label)}" class="chart">'
    )
    return Markup(head + "".join(body) + "</svg>")


def _text_width(text: str, font_px: float) -> float:
    """Estimated drawn width: a wide (CJK) character is about one em, anything else about 0.6 em."""
    return sum(font_px if unicodedata.east_asian_width(ch) in "WF" else 0.6 * font_px for ch in text)


def _row_label(name: str, *, x: float, y: float, max_px: float, font_px: int = 12) -> str:
    """A right-aligned row label that fits ``max_px``: a longer name keeps its start and ends in "…".

    Anchored at its end, an over-long name would run off the chart's left edge and lose its start
    (an occupation's code). The full name stays in a <title> for a pointer or a screen reader.
    """
    shown = name
    if _text_width(name, font_px) > max_px:
        budget = max_px - _text_width("…", font_px)
        cut = 0
        while cut < len(name) and _text_width(name[: cut + 1], font_px) <= budget:
            cut += 1
        shown = name[:cut].rstrip() + "…"
    return (
        f'<text x="{x}" y="{y}" text-anchor="end" font-size="{font_px}">'
        f"<title>{escape(name)}</title>{escape(shown)}</text>"
    )


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 50_000, 100_000):
        if value <= step * 5:
            return float(step * 5)
    return float(value)


def stacked_columns(
    categories: Sequence[str], series: Mapping[int, Sequence[float]], *, label: str, width: int = 640, height: int = 260
) -> Markup:
    """Columns per category (month), stacked by level."""
    left, bottom, top = 44, 40, 12
    plot_w, plot_h = width - left - 10, height - bottom - top
    totals = [sum(s[i] for s in series.values()) for i in range(len(categories))]
    ymax = _nice_max(max(totals, default=0))
    body: list[str] = []
    for k in range(6):
        y = top + plot_h - plot_h * k / 5
        body.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{ymax * k / 5:g}</text>')
    n = max(len(categories), 1)
    slot = plot_w / n
    bar_w = max(min(slot * 0.7, 48), 2)
    for i, cat in enumerate(categories):
        x = left + slot * i + (slot - bar_w) / 2
        y = top + plot_h
        for level in sorted(series, reverse=True):
            v = series[level][i]
            if v <= 0:
                continue
            h = plot_h * v / ymax
            y -= h
            body.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{LEVEL_COLOURS.get(level, BAR)}"><title>{escape(cat)} · level {level}: {v:g}</title></rect>'
            )
        if n <= 12 or i % 2 == 0:
            body.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                f'font-size="11">{escape(cat)}</text>'
            )
    lx = left
    for level in sorted(series):
        body.append(f'<rect x="{lx}" y="{height - 14}" width="10" height="10" fill="{LEVEL_COLOURS.get(level, BAR)}"/>')
        body.append(f'<text x="{lx + 14}" y="{height - 5}" font-size="11">{level}级</text>')
        lx += 52
    return _svg(width, height, label, body)


def horizontal_bars(
    rows: Sequence[tuple[str, float]], *, label: str, width: int = 640, colour: str = BAR, label_w: int = 220
) -> Markup:
    """One bar per row, longest first as given."""
    row_h, top = 24, 6
    height = top + row_h * max(len(rows), 1) + 6
    xmax = max((v for _, v in rows), default=0) or 1
    plot_w = width - label_w - 50
    body: list[str] = []
    for i, (name, v) in enumerate(rows):
        y = top + i * row_h
        w = plot_w * v / xmax
        body.append(_row_label(name, x=label_w - 6, y=y + 16, max_px=label_w - 10))
        body.append(
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row_h - 8}" '
            f'fill="{colour}"><title>{escape(name)}: {v:g}</title></rect>'
        )
        body.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 16}" font-size="12">{v:g}</text>')
    return _svg(width, height, label, body)


def split_bars(
    rows: Sequence[tuple[str, float, float]], *, label: str, names: tuple[str, str], width: int = 640
) -> Markup:
    """Per row, a 100% bar split in two parts (e.g. entries with and without certificates)."""
    row_h, top, label_w = 28, 6, 220
    height = top + row_h * max(len(rows), 1) + 26
    plot_w = width - label_w - 60
    body: list[str] = []
    for i, (name, a, b) in enumerate(rows):
        y = top + i * row_h
        total = a + b or 1
        wa = plot_w * a / total
        body.append(_row_label(name, x=label_w - 6, y=y + 17, max_px=label_w - 10))
        body.append(
            f'<rect class="bar" x="{label_w}" y="{y + 4}" width="{wa:.1f}" height="{row_h - 10}" fill="{BAR}">'
            f"<title>{escape(name)} · {escape(names[0])}: {a:g}</title></rect>"
        )
        body.append(
            f'<rect class="bar" x="{label_w + wa:.1f}" y="{y + 4}" width="{plot_w - wa:.1f}" height="{row_h - 10}" '
            f'fill="{MUTED}"><title>{escape(name)} · {escape(names[1])}: {b:g}</title></rect>'
        )
        body.append(f'<text x="{label_w + plot_w + 4}" y="{y + 17}" font-size="12">{a:g}/{a + b:g}</text>')
    ly = height - 12
    body.append(f'<rect x="{label_w}" y="{ly - 9}" width="10" height="10" fill="{BAR}"/>')
    body.append(f'<text x="{label_w + 14}" y="{ly}" font-size="11">{escape(names[0])}</text>')
    body.append(f'<rect x="{label_w + 130}" y="{ly - 9}" width="10" height="10" fill="{MUTED}"/>')
    body.append(f'<text x="{label_w + 144}" y="{ly}" font-size="11">{escape(names[1])}</text>')
    return _svg(width, height, label, body)
