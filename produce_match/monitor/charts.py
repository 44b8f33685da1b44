"""Small charts drawn on the server as SVG: horizontal bars, one per row, readable on a phone.

No JavaScript, no third-party code. The SVG is as wide as its box and has no viewBox, so that
its text is never scaled: labels keep the stylesheet's size (`.chart-label`) on a 360 px phone
and on a wide screen alike, and only the bars (in percent of the width) follow the screen. A
label too long for a phone is cut at the chart's edge rather than widening the page; every
chart is shown next to a table with the same numbers. Labels are escaped.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

#: heights in CSS pixels: a label line (for a 13 px label), then its bar
LABEL_HEIGHT = 18
BAR_HEIGHT = 18
GAP = 10


def bar_share(value: int, biggest: int) -> str:
    """A bar's length in percent of the chart's width, exact to a hundredth of a percent."""
    if biggest <= 0 or value <= 0:
        return "0%"
    hundredths = max(1, value * 10_000 // biggest)  # a tiny value still shows as a sliver
    return f"{hundredths // 100}.{hundredths % 100:02d}%"


def bar_chart(rows: Sequence[tuple[str, int, str]], *, title: str) -> Markup:
    """A horizontal bar chart of (label, value, value as text) rows, values >= 0."""
    biggest = max((value for _label, value, _text in rows), default=0)
    step = LABEL_HEIGHT + BAR_HEIGHT + GAP
    height = max(step * len(rows), step)
    parts = [
        f'<svg class="chart" width="100%" height="{height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value, text) in enumerate(rows):
        y = i * step
        parts.append(
            f'<text x="0" y="{y + LABEL_HEIGHT - 5}" class="chart-label">{escape(label)}'
            f" · {escape(text)}</text>"
        )
        parts.append(
            f'<rect x="0" y="{y + LABEL_HEIGHT}" width="{bar_share(value, biggest)}" '
            f'height="{BAR_HEIGHT}" class="chart-bar" rx="2"></rect>'
        )
    parts.append("</svg>")
    # every piece of text above went through escape(); the rest is our own markup
    return Markup("".join(parts))  # noqa: S704
