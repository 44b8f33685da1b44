"""Orders: a buyer's commitment to take a quantity of a lot, its states and the stock it holds.

`models` has the states and the one transition table (pure, testable without an app) and the
`Order` table; `operations` is the only code that writes orders; `cli` has `flask orders expire`.
"""
