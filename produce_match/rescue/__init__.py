"""The rescue ladder: what to do next for a lot that does not sell as its spoil-by date nears.

- `models`: the steps (reprice, widen, aid), the proposals the worker records for a lot with
  their one table of moves, and donations with their receipts.
- `ladder`: which step is due for a lot on a day (pure), and what each step proposes.
- `operations`: proposing (the worker's periodic task), taking or declining a step, giving
  produce away.
- `queries`: the at-risk lots and the tonnes saved at each step, for the office.
"""

from produce_match.rescue import permissions  # noqa: F401
