"""A rebuild's parts in processes of their own, with one progress count.

A rebuild spends most of its time in Python (loading lots, the analysis, Whoosh's postings):
one process uses one core. `run_parts` forks a process per part; each runs `work(part, done)`,
adding to `done` as it goes, and sends its result back. The parent reports the progress, waits
for every part and returns their results in order; a part that fails (or a process that dies)
fails the whole, after the others are ended.

Forked, not spawned: the children start with what the parent has loaded (the analyzer's
dictionaries, the app), and the parts are closures that need no pickling. What a child must
not share with its parent (database connections) it opens anew (see `service.rebuild`).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

#: processes a rebuild uses at most (one per core, a few at most)
PROCESSES = max(1, min(4, os.cpu_count() or 1))

P = TypeVar("P")
R = TypeVar("R")


class Progress:
    """A count shared between the processes of one rebuild."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def add(self, n: int) -> None:
        with self._value.get_lock():
            self._value.value += n

    @property
    def value(self) -> int:
        return int(self._value.value)


class PartFailed(RuntimeError):
    """A part of the rebuild failed in its process (the message holds its traceback)."""


def run_parts(
    parts: Sequence[P],
    work: Callable[[P, Progress], R],
    progress: Callable[[int], None] | None = None,
) -> list[R]:
    """`work(part, done)` for every part, each in a forked process; the results in order."""
    context = multiprocessing.get_context("fork")
    done = Progress(context.Value("q", 0))
    results: Any = context.Queue()

    def child(index: int, part: P) -> None:
        try:
            results.put((index, True, work(part, done)))
        except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
            results.put((index, False, traceback.format_exc()))

    processes = [
        context.Process(target=child, args=(i, part), daemon=True) for i, part in enumerate(parts)
    ]
    for process in processes:
        process.start()
    found: dict[int, Any] = {}
    reported = 0
    try:
        while len(found) < len(processes):
            try:
                index, ok, value = results.get(timeout=0.2)
            except queue.Empty:
                dead = [
                    i
                    for i, p in enumerate(processes)
                    if i not in found and p.exitcode not in (None, 0)
                ]
                if dead:
                    raise PartFailed(
                        f"rebuild part {dead[0]} ended with exit code {processes[dead[0]].exitcode}"
                    ) from None
            else:
                if not ok:
                    raise PartFailed(f"rebuild part {index} failed:\n{value}")
                found[index] = value
            if progress and done.value > reported:
                progress(done.value - reported)
                reported = done.value
    finally:
        for process in processes:
            if process.is_alive() and len(found) < len(processes):
                process.terminate()
            process.join()
        results.close()
    if progress and done.value > reported:
        progress(done.value - reported)
    return [found[i] for i in range(len(processes))]
