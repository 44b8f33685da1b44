"""Orders: a buyer's commitment to take a quantity of a lot, its states and the stock it holds.

`models` has the states and the one transition table (pure, testable without an app) and the
tables; `operations` is the only code that writes orders; `queries` reads them (and records
timers found due while reading); `events` is the signal every step sends and `notices` tells the
other side; `permissions` says who may do which step, `cli` has `flask orders expire`. The pages
are in `produce_match/web/orders.py`, the API in `produce_match/api/orders.py`.
"""

# who may see and do what to this domain's objects: registered whenever the domain is loaded
from produce_match.orders import permissions  # noqa: F401
