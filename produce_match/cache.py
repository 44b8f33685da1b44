"""What many read and few change, kept between requests (Flask-Caching), never stale.

Every value is stored under the current *generation*, a token that changes after each commit
that wrote a table the kept values are made from (`watch`): the lots, their photos, the
catalogue, the regions, the organisations, the orders. A value is never updated in place: the
next commit moves the generation on, and every later request looks its values up under the new
one (the old ones are left to expire). So an order that commits shows on the next page at once,
in every process.

Where things live:

* the values: on one node (the embedded default) Flask-Caching's FileSystemCache in the
  instance folder (`CACHE_DIR`), shared by the node's web workers and kept when gunicorn
  recycles one (a SimpleCache in each process made every worker render every page again: with 4
  workers the lot pages stayed at a fifth of /healthz); on several nodes Redis (`CACHE_REDIS_URL`,
  else the queue's `QUEUE_URL`);
* the generation: beside it, so that every process of every node sees a commit at once: a small
  file in the instance folder on one node (its size, inode and time change with each commit;
  reading it is a `stat`), or a counter in Redis.

The generation of a request is read once, when the request begins (before it reads the
database), and kept for the whole request: a value computed from a snapshot older than a commit
is never stored under a generation that commit made.

Domains do not know about this module: the web layer declares the tables it watches and sends
`changed()` on signals that announce writes past the ORM (`lots.events.lots_written`). The
matching workflow keeps every active demand's facts in each process's memory under `version()`
(the generation, for the app's database), and watches the tables they are made of.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, has_app_context
from flask_caching import Cache
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

cache = Cache()

#: session.info key: the transaction wrote a watched table (the generation moves on its commit)
_CHANGED = "cache_changed"
#: the tables whose writes move the generation on (filled by `watch`)
WATCHED: set[str] = set()
#: the generation file grows by a byte per commit; past this size it starts again (new inode)
_MAX_FILE = 64 * 1024
_REDIS_KEY = "generation"


def watch(*tables: str) -> None:
    """Move the generation on after every commit that writes one of these tables."""
    WATCHED.update(tables)


def changed(session: Session | None = None) -> None:
    """Note that the current transaction wrote what kept values are made of (a statement
    past the ORM): the generation moves on when it commits."""
    from produce_match.extensions import db

    (session if session is not None else db.session()).info[_CHANGED] = True


class FileGeneration:
    """The generation of one node: a file in the instance folder, one byte longer per commit."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> str:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "0"
        return f"{st.st_ino}.{st.st_size}.{st.st_mtime_ns}"

    def bump(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as f:  # O_APPEND: concurrent writers each add their byte
            f.write(b".")
            size = f.tell()
        if size > _MAX_FILE:
            fresh = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            fresh.write_bytes(b"." + secrets.token_hex(8).encode())
            os.replace(fresh, self.path)


class RedisGeneration:
    """The generation of several nodes: a counter in the cache's Redis, started at a random
    value (if Redis ever loses it, the values kept under an old number are never read again)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def read(self) -> str:
        value = self.backend.get(_REDIS_KEY)
        if value is None:
            self.backend.add(_REDIS_KEY, secrets.randbits(48), timeout=0)
            value = self.backend.get(_REDIS_KEY)
        return str(value)

    def bump(self) -> None:
        if self.backend.get(_REDIS_KEY) is None:
            self.backend.add(_REDIS_KEY, secrets.randbits(48), timeout=0)
        self.backend.inc(_REDIS_KEY)


def _generation_store(app: Flask) -> FileGeneration | RedisGeneration:
    return app.extensions["pm_cache_generation"]


def generation() -> str:
    """The generation this request (or this app context) reads its kept values under."""
    if "cache_generation" not in g:
        g.cache_generation = _generation_store(current_app).read()
    return str(g.cache_generation)


def bump() -> None:
    """Move the generation on now (after a commit; also for tests and commands)."""
    _generation_store(current_app).bump()
    g.pop("cache_generation", None)


def kept(key: str, make: Callable[[], Any], timeout: int | None = None) -> Any:
    """The value kept under `key` in this generation, made by `make()` if there is none."""
    full = f"{generation()}:{key}"
    value = cache.get(full)
    if value is None:
        value = make()
        cache.set(full, value, timeout=timeout)
    return value


def version() -> str | None:
    """A name for the data a read now sees, for values kept in a process's own memory: the
    app (its instance folder and database) and this request's generation. None when what
    is read now may not be kept under it: outside an app with a generation, or when the current
    transaction has written a watched table, or holds changes to one not yet flushed (its own
    writes belong to no generation until it commits)."""
    from produce_match.extensions import db

    if not has_app_context() or "pm_cache_generation" not in current_app.extensions:
        return None
    session = db.session()
    if session.info.get(_CHANGED):
        return None
    for obj in (*session.new, *session.dirty, *session.deleted):
        if getattr(obj, "__tablename__", None) in WATCHED:
            return None
    return f"{current_app.instance_path}|{db.engine.url}|{generation()}"


def init_app(app: Flask) -> None:
    cache.init_app(app)
    if app.config["CACHE_TYPE"] == "RedisCache":
        store: FileGeneration | RedisGeneration = RedisGeneration(cache.cache)
    else:
        store = FileGeneration(Path(app.instance_path) / "cache.generation")
    app.extensions["pm_cache_generation"] = store

    @app.before_request
    def _pin_generation() -> None:
        # before anything reads the database: see the module's docstring
        from flask import request

        if request.endpoint not in ("static", "web.healthz", "web.readyz"):
            generation()


@event.listens_for(Session, "after_flush")
def _note_flushed(session: Session, _context: Any) -> None:
    if session.info.get(_CHANGED) or not WATCHED:
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = getattr(obj, "__tablename__", None)
        if table in WATCHED and (obj not in session.dirty or session.is_modified(obj)):
            session.info[_CHANGED] = True
            return


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    if table in WATCHED:
        state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _bump_after_commit(session: Session) -> None:
    changed = session.info.pop(_CHANGED, False)
    if changed and has_app_context() and "pm_cache_generation" in current_app.extensions:
        bump()


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous: Any) -> None:
    if previous.parent is None:  # the whole transaction, not a savepoint inside it
        session.info.pop(_CHANGED, None)
