"""Prices for everyone (行情): the officials' reference prices and the prices actually paid.

- `queries`: per commodity and place, the reference prices and the weekly median price paid
  on the platform, for the page and its chart.
- `warnings`: the price below which posting or accepting is warned (a share of the reference).
- `operations`: posting, editing a lot and accepting an order, warned first when the price is
  low (`PriceBelowReference`, 409 below_reference) unless confirmed; pages and API call these.
- `charts`: the page's line chart (SVG drawn on the server).
- `permissions`: every logged-in account may see the prices; visitors may not.
"""

from produce_match.market import permissions  # noqa: F401, E402 (registers the policy's rule)
