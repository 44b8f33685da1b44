"""Trust between strangers: verified identities, ratings after completion, reliability figures.

- `identity`: the check characters of the credit code and the resident ID number (pure).
- `models`: identity claims (with their one table of moves) and ratings.
- `verification`: submitting a claim, and an administrator or county official deciding it.
- `ratings`: one rating per side per order, within the window after completion; averages
  shown only from the floor on.
- `reliability`: every organisation's figures, computed from its orders (never stored).
- `permissions`: who may see and do what.
"""

# who may see and do what: registered whenever the domain is loaded; the words of its notices
from produce_match.trust import notices, permissions  # noqa: F401
