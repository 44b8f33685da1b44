"""The search index's work in the task queue: the queue of changed lots applied in batches.

`search.apply` is asked for by every commit that queued lots (see service.py), on both backends.
The Whoosh index has one writer: a task that finds it busy tries again shortly, unless the queue
is empty by then (PostgreSQL's writer is never busy).
The sweep applies what a lost task left queued.
"""

from __future__ import annotations

from produce_match.queue import Retry, periodic, task
from produce_match.search.service import service

#: seconds before a task that found the index's writer busy tries again
BUSY_RETRY_DELAY = 2


@task("search.apply")
def apply_queue() -> int:
    """Apply the queued changes to the index; how many were applied."""
    search = service()
    done = search.process_queue()
    if not done and search.pending():  # another writer held the index, and may have
        # finished before our rows were committed: try again
        raise Retry(delay=BUSY_RETRY_DELAY)
    return done


@periodic("search.sweep", on_start=True, minute="*")
def sweep() -> int:
    """Every minute, and when a worker starts: what a lost task left queued."""
    return service().process_queue()
