"""Transport passes (通行证): one code per truck (一车一码), whitelists, checkpoints, scans.

`models` has the pass's states and its one table of moves, and the tables of checkpoints,
whitelists (白名单, and their recognition by other offices, 互认) and suspensions (熔断);
`plates` reads Chinese vehicle plates; `operations` is the only code that writes any of it
(and follows the orders a pass carries: dispatched, delivered, called off); `queries` reads
(the verdict a checkpoint sees, the timeline, the public facts); `permissions` says who may do
what; `tasks` flags the vehicles overdue at their destination. The pages are in
`produce_match/web/passes.py`, the API in `produce_match/api/passes.py`.
"""

# who may see and do what: registered whenever the domain is loaded; and the receivers of the
# orders' moves (a pass follows its order)
from produce_match.passes import notices, operations, permissions  # noqa: F401
