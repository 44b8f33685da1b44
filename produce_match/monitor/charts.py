"""Small charts drawn on the server as SVG: horizontal bars, one per row, readable on a phone.

No JavaScript, no third-party code: the SVG scales to the width of the screen (viewBox) and
every chart is shown next to a table with the same numbers. Labels are escaped.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 320
BAR_HEIGHT = 18
GAP = 10
LABEL_HEIGHT = 14


def bar_chart(rows: Sequence[tuple[str, int, str]], *, title: str) -> Markup:
    """A horizontal bar chart of (label, value, value as text) rows, values >= 0."""
    biggest = max((value for _label, value, _text in rows), default=0)
    step = LABEL_HEIGHT + BAR_HEIGHT + GAP
    height = max(step * len(rows), step)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value, text) in enumerate(rows):
        y = i * step
        length = 0 if biggest <= 0 else max(1, value * WIDTH // biggest) if value > 0 else 0
        parts.append(
            f'<text x="0" y="{y + LABEL_HEIGHT - 3}" class="chart-label">{escape(label)}'
            f" · {escape(text)}</text>"
        )
        parts.append(
            f'<rect x="0" y="{y + LABEL_HEIGHT}" width="{length}" height="{BAR_HEIGHT}" '
            f'class="chart-bar" rx="2"></rect>'
        )
    parts.append("</svg>")
    # every piece of text above went through escape(); the rest is our own markup
    return Markup("".join(parts))  # noqa: S704
