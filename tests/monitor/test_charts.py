"""The server-drawn SVG charts: bars in proportion, labels escaped, no script, text unscaled."""

from __future__ import annotations

import re

from produce_match.monitor.charts import bar_chart, bar_share


def test_bars_are_in_proportion_and_labels_are_escaped():
    svg = str(
        bar_chart(
            [("黑豆", 40, "40 吨"), ("<script>alert(1)</script>", 10, "10 吨"), ("零", 0, "0")],
            title='a "title"',
        )
    )
    widths = re.findall(r'<rect x="0" y="\d+" width="([\d.]+%)"', svg)
    assert widths == ["100.00%", "25.00%", "0%"]
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'aria-label="a &#34;title&#34;"' in svg
    assert "黑豆 · 40 吨" in svg


def test_the_text_is_never_scaled_with_the_width():
    # a viewBox would scale the labels with the screen: below 12 px on a 360 px phone,
    # twice their size on a wide screen (the browser test measures them)
    svg = str(bar_chart([("黑豆", 40, "40 吨")], title="t"))
    assert "viewBox" not in svg and 'width="100%"' in svg


def test_shares_are_exact_and_a_tiny_value_still_shows():
    assert bar_share(1, 3) == "33.33%"
    assert bar_share(1, 10**9) == "0.01%"
    assert bar_share(0, 5) == "0%" and bar_share(5, 0) == "0%"


def test_an_empty_chart_is_still_an_image():
    svg = str(bar_chart([], title="nothing"))
    assert svg.startswith("<svg") and "<rect" not in svg
