"""The task queue (huey): every piece of work that follows a commit runs here, in `flask worker`.

Kernel level: this module imports nothing from the domains. A domain declares its tasks in its
own ``tasks.py`` with `task` and its timers with `periodic`; the app factory imports those
modules, and `init_app` gives each app a Huey instance built from its settings:

- ``QUEUE_URL=redis://…``: RedisHuey (several nodes share one queue);
- otherwise SqliteHuey in a file next to the database (``instance/queue.sqlite3``, or
  ``QUEUE_PATH``), for the embedded default on one node; written with ``synchronous=NORMAL``
  (WAL): an enqueue does not wait for the disk (huey's default syncs on every commit, some
  milliseconds on each request that enqueues), and a power cut may lose the last tasks but
  never corrupts the file; what a lost task was for, the sweep finds (see below);
- ``QUEUE_IMMEDIATE`` (the tests' default): a task runs at once, in the enqueuing process, in a
  fresh app context of its own, so that no worker is needed.

Work is enqueued with `after_commit(name, *args)`: the task is handed to the queue only once
the current transaction commits, whoever commits it, and is dropped if it rolls back. One
session listener (`_enqueue_committed`) does this for every domain.

A task only carries ids; the database rows (the outboxes) stay the truth. Every task is safe to
run twice, and the periodic sweep re-finds whatever a lost task (a killed worker, a queue that
could not be reached) left behind.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_app_context
from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.api import TaskWrapper
from huey.exceptions import RetryTask
from huey.storage import SqliteStorage
from sqlalchemy import event
from sqlalchemy.orm import Session

from produce_match.extensions import db

log = logging.getLogger("produce_match.queue")

#: raise `Retry(delay=seconds)` in a task to run it again later (the worker only)
Retry = RetryTask

#: session.info key: the tasks the transaction asks for, enqueued when it commits
_PENDING = "queue_after_commit"


@dataclass(frozen=True)
class Declared:
    """A task as a domain declares it: a plain function, run with an app context."""

    name: str
    fn: Callable[..., Any]
    retries: int = 0
    retry_delay: int = 0
    #: crontab arguments for a periodic task (minute, hour, ...); None: run when enqueued
    schedule: dict[str, str] | None = None
    #: also run once when a worker starts (the sweeps: what a killed worker left behind)
    on_start: bool = False


#: held while tasks are registered on a Huey instance (threads of one process may enqueue)
_REGISTERING = threading.Lock()

#: every declared task by name (filled when the domains' tasks modules are imported)
DECLARED: dict[str, Declared] = {}


def task(name: str, *, retries: int = 0, retry_delay: int = 0) -> Callable[..., Any]:
    """Declare `fn` as the task `name` (enqueued with `after_commit` or `enqueue`)."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        DECLARED[name] = Declared(name, fn, retries, retry_delay)
        return fn

    return register


def periodic(name: str, *, on_start: bool = False, **schedule: str) -> Callable[..., Any]:
    """Declare `fn` as a timer: huey's consumer runs it on the crontab `schedule` (in UTC),
    and, `on_start`, once when `flask worker` starts."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        DECLARED[name] = Declared(name, fn, schedule=dict(schedule), on_start=on_start)
        return fn

    return register


def run_in_app(app: Flask, fn: Callable[..., Any], *args: Any) -> Any:
    """Run `fn(*args)` in a fresh app context (its own session) and commit; roll back on error.

    A fresh contextvars context too: run from inside another app context (an immediate task
    enqueued after a request's commit), it shares neither `g` nor the database session.
    """

    def run() -> Any:
        with app.app_context():
            try:
                result = fn(*args)
                db.session.commit()
                return result
            except BaseException:
                db.session.rollback()
                raise

    return contextvars.Context().run(run)


@dataclass
class Queue:
    """One app's queue: its Huey instance and the declared tasks registered on it."""

    app: Flask
    huey: Huey
    wrappers: dict[str, TaskWrapper] = field(default_factory=dict)

    def register(self) -> None:
        """Register every declared task not yet registered (tasks modules imported late)."""
        with _REGISTERING:
            self._register()

    def _register(self) -> None:
        for name, declared in list(DECLARED.items()):
            if name in self.wrappers:
                continue
            runner = _runner(self.app, declared.fn)
            if declared.schedule is not None:
                wrapper = self.huey.periodic_task(crontab(**declared.schedule), name=name)(runner)
            else:
                wrapper = self.huey.task(
                    name=name, retries=declared.retries, retry_delay=declared.retry_delay
                )(runner)
            self.wrappers[name] = wrapper

    def enqueue(self, name: str, *args: Any) -> None:
        """Hand the task to the queue now (or run it now, in immediate mode)."""
        self.register()
        self.wrappers[name](*args)

    def periodic_tasks(self) -> list[str]:
        """The timers declared in code, by name."""
        self.register()
        return [name for name, declared in DECLARED.items() if declared.schedule is not None]

    def due(self, at: datetime) -> list[str]:
        """The timers the consumer runs at the minute `at` (UTC), as huey reads them."""
        self.register()
        return sorted(task.name for task in self.huey.read_periodic(at))


def _runner(app: Flask, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any) -> Any:
        return run_in_app(app, fn, *args)

    run.__name__ = getattr(fn, "__name__", "task")
    return run


class _SqliteQueue(SqliteStorage):
    """huey's SQLite storage, committing without waiting for the disk (see the module's note)."""

    def _create_connection(self) -> Any:
        conn = super()._create_connection()
        conn.execute("pragma synchronous=NORMAL")
        return conn


class _SqliteHuey(SqliteHuey):
    storage_class = _SqliteQueue


def create_huey(config: dict[str, Any] | Any) -> Huey:
    """The Huey instance the settings describe (see the module's docstring)."""
    name = config.get("QUEUE_NAME") or "produce_match"
    if config.get("QUEUE_IMMEDIATE"):
        return Huey(name, results=False, immediate=True)
    url = config.get("QUEUE_URL")
    if url:
        return RedisHuey(name, results=False, url=url)
    path = Path(config["QUEUE_PATH"])
    path.parent.mkdir(parents=True, exist_ok=True)
    return _SqliteHuey(name, results=False, filename=str(path))


def init_app(app: Flask) -> None:
    queue = Queue(app, create_huey(app.config))
    queue.register()  # the app factory imported every domain's tasks before
    app.extensions["queue"] = queue


def get_queue(app: Flask | None = None) -> Queue:
    return (app or current_app).extensions["queue"]


def enqueue(name: str, *args: Any) -> None:
    """Enqueue a task now, outside any transaction (a CLI command, the sweep)."""
    get_queue().enqueue(name, *args)


def after_commit(name: str, *args: Any, session: Session | None = None) -> None:
    """Enqueue the task `name(*args)` once the current transaction (of `session`, by default
    the app's) commits, never if it rolls back. The same task with the same arguments is
    enqueued once per transaction."""
    info = (session if session is not None else db.session()).info
    pending: list[tuple[str, tuple[Any, ...]]] = info.setdefault(_PENDING, [])
    item = (name, args)
    if item not in pending:
        pending.append(item)


@event.listens_for(Session, "after_commit")
def _enqueue_committed(session: Session) -> None:
    # SQLAlchemy says "after_commit" when a savepoint is released too: the transaction is still
    # open, and a task run now (at once, in immediate mode) would wait on its locks
    if session.in_nested_transaction():
        return
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    if not has_app_context():  # no app, no queue: the periodic sweep finds the rows
        log.warning("tasks %s committed outside an app context: left to the sweep", pending)
        return
    queue = get_queue()
    for name, args in pending:
        try:
            queue.enqueue(name, *args)
        except Exception:  # the queue is unreachable: the rows wait for the sweep
            log.exception("could not enqueue task %s%r", name, args)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    # a savepoint rolled back leaves the transaction, and the tasks it asked for, going (one
    # asked for inside the savepoint may then run and find nothing to do: tasks read the rows)
    if session.in_nested_transaction():
        return
    session.info.pop(_PENDING, None)
