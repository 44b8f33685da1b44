"""The server-drawn SVG charts: bars in proportion, labels escaped, no script."""

from __future__ import annotations

import re

from produce_match.monitor.charts import WIDTH, bar_chart


def test_bars_are_in_proportion_and_labels_are_escaped():
    svg = str(
        bar_chart(
            [("黑豆", 40, "40 吨"), ("<script>alert(1)</script>", 10, "10 吨"), ("零", 0, "0")],
            title='a "title"',
        )
    )
    widths = [int(w) for w in re.findall(r'<rect x="0" y="\d+" width="(\d+)"', svg)]
    assert widths == [WIDTH, WIDTH // 4, 0]
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'aria-label="a &#34;title&#34;"' in svg
    assert "黑豆 · 40 吨" in svg


def test_an_empty_chart_is_still_an_image():
    svg = str(bar_chart([], title="nothing"))
    assert svg.startswith("<svg") and "<rect" not in svg
