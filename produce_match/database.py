"""The declarative base, column types and SQLite behaviour shared by every domain's models."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from flask import has_request_context, request
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so that Alembic (and its SQLite batch mode) can find them again.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current instant, timezone-aware in UTC (instants are always stored in UTC)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant stored in UTC and read back timezone-aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


# --- Transactions ---------------------------------------------------------------------------
# pysqlite's own transaction handling is switched off so that we choose how each transaction
# begins. A transaction that reads and later writes under WAL fails with "database is locked"
# whatever the busy timeout, so every transaction that may write starts with BEGIN IMMEDIATE
# (it waits for the write lock up front, honouring busy_timeout). Requests with a safe HTTP
# method only read (web/transaction.py never commits them): they begin a read-only transaction,
# on SQLite a plain deferred one under `PRAGMA query_only`, on PostgreSQL `READ ONLY`, so that
# readers never queue behind writers and a write reached from a page fails loudly.

SQLITE_BUSY_TIMEOUT_MS = 15000
_READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def read_only_request() -> bool:
    """Whether the transaction beginning now belongs to a request that may only read."""
    return has_request_context() and request.method in _READ_ONLY_METHODS


@event.listens_for(Engine, "begin")
def _on_begin(connection: Any) -> None:
    read_only = read_only_request()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
    elif read_only and connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET TRANSACTION READ ONLY")
