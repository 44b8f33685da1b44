"""The market page's line chart, drawn on the server as SVG, in the manner of monitor.charts:
no JavaScript, no viewBox (text keeps the stylesheet's size on a 360 px phone), horizontal
positions in percent of the width, vertical ones in pixels. Every chart sits next to a table
with the same numbers. Labels are escaped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flask_babel import gettext
from markupsafe import Markup, escape

from produce_match.monitor.charts import LABEL_HEIGHT

#: the plot's height in CSS pixels, between the top label and the bottom labels
PLOT_HEIGHT = 160
#: the left and right margins, in hundredths of a percent of the width
MARGIN = 300


@dataclass(frozen=True)
class Series:
    """One line: a value per point (None: no value there, the line is broken)."""

    name: str
    values: Sequence[int | None]
    #: CSS class of its line and points (chart-line-...)
    css: str


def _x(i: int, count: int) -> str:
    """The i-th of `count` points across the width, in percent (exact to 1/100 %)."""
    span = 10_000 - 2 * MARGIN
    hundredths = MARGIN + (span * i // (count - 1) if count > 1 else span // 2)
    return f"{hundredths // 100}.{hundredths % 100:02d}%"


def _y(value: int, top: int) -> int:
    return LABEL_HEIGHT + PLOT_HEIGHT - (PLOT_HEIGHT * value // top if top else 0)


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    text: Callable[[int], str],
) -> Markup:
    """Lines over points labelled `labels` (the first and last are written below), from 0 at
    the bottom to the largest value at the top (written, through `text`, at the top left)."""
    count = len(labels)
    top = max((v for s in series for v in s.values if v is not None), default=0)
    height = LABEL_HEIGHT + PLOT_HEIGHT + LABEL_HEIGHT + 4
    base = LABEL_HEIGHT + PLOT_HEIGHT
    parts = [
        f'<svg class="chart chart-lines" width="100%" height="{height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="0" y1="{base}" x2="100%" y2="{base}" class="chart-axis"></line>',
    ]
    if top:
        parts.append(
            f'<line x1="0" y1="{LABEL_HEIGHT}" x2="100%" y2="{LABEL_HEIGHT}" '
            'class="chart-grid"></line>'
        )
        parts.append(
            f'<text x="0" y="{LABEL_HEIGHT - 5}" class="chart-label">{escape(text(top))}</text>'
        )
    for line in series:
        points = [(i, value) for i, value in enumerate(line.values[:count]) if value is not None]
        for (i, a), (j, b) in zip(points, points[1:], strict=False):
            if j == i + 1:  # no line across a week without a value
                parts.append(
                    f'<line x1="{_x(i, count)}" y1="{_y(a, top)}" x2="{_x(j, count)}" '
                    f'y2="{_y(b, top)}" class="{escape(line.css)}"></line>'
                )
        for i, value in points:
            # "参考价 第49周：6.00 元/公斤", the colon as the page's language writes it
            said = gettext("%(label)s: ") % {"label": f"{line.name} {labels[i]}"}
            parts.append(
                f'<circle cx="{_x(i, count)}" cy="{_y(value, top)}" r="3" '
                f'class="{escape(line.css)} chart-point"><title>{escape(said)}'
                f"{escape(text(value))}</title></circle>"
            )
    if count:
        y = base + LABEL_HEIGHT
        parts.append(f'<text x="0" y="{y}" class="chart-label">{escape(labels[0])}</text>')
        if count > 1:
            parts.append(
                f'<text x="100%" y="{y}" class="chart-label chart-label-end">'
                f"{escape(labels[-1])}</text>"
            )
    parts.append("</svg>")
    # every piece of text above went through escape(); the rest is our own markup
    return Markup("".join(parts))  # noqa: S704
