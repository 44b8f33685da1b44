"""Prices for everyone (行情): the officials' reference prices and the prices actually paid.

- `queries`: per commodity and place, the reference prices and the weekly median price paid
  on the platform, for the page and its chart.
- `warnings`: the price below which posting or accepting is warned (a share of the reference).
"""
