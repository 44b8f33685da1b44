"""`flask backup create FILE` and `flask backup restore FILE`, for SQLite and PostgreSQL.

* SQLite: SQLite's online backup API copies the live database page by page while the site keeps
  serving; the copy is checked (`PRAGMA integrity_check`) before it replaces FILE. Restoring
  copies FILE back into the live database the same way.
* PostgreSQL: `pg_dump --format=custom` and `pg_restore --clean --if-exists --single-transaction`
  (the client tools of the server's major version must be on the PATH).

After a restore the database is migrated to the code's newest migration, checked (integrity,
migration head, the business invariants below) and the search index is rebuilt from it, since an
index from before the restore would describe other data.

Uploaded photos are files in UPLOAD_DIR, never changed once written (random names): back that
directory up with the database, with any file copy (`rsync -a`), before or after this command.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import click
from flask import Flask, current_app
from flask_migrate import upgrade
from sqlalchemy import func, select, text
from sqlalchemy.engine import URL

from produce_match.extensions import db


class BackupError(click.ClickException):
    pass


@dataclass
class Report:
    """What a check of the database found; `problems` empty means all is well."""

    problems: list[str] = field(default_factory=list)
    facts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _url() -> URL:
    return db.engine.url


def _sqlite_path() -> Path:
    database = _url().database
    if not database or database == ":memory:":
        raise BackupError("This SQLite database is in memory: there is nothing to back up.")
    return Path(database)


def _pg_args() -> tuple[list[str], dict[str, str]]:
    """libpq connection arguments for the client tools; the password goes in the environment."""
    url = _url()
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    args = ["--host", url.host or "127.0.0.1", "--port", str(url.port or 5432)]
    if url.username:
        args += ["--username", url.username]
    return args, env


def _run(command: list[str], env: dict[str, str]) -> None:
    try:
        subprocess.run(command, env=env, check=True, capture_output=True, text=True)  # noqa: S603
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed (PostgreSQL's client tools).") from None
    except subprocess.CalledProcessError as exc:
        raise BackupError(f"{command[0]} failed: {exc.stderr.strip()[-2000:]}") from None


def create(target: Path) -> None:
    """Write a consistent backup of the live database to `target` (replaced atomically)."""
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    db.session.rollback()  # hold no transaction (and, on SQLite, no lock) while copying
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".backup-", delete=False) as tmp:
        partial = Path(tmp.name)
    try:
        if _url().get_backend_name() == "sqlite":
            source = sqlite3.connect(_sqlite_path())
            copy = sqlite3.connect(partial)
            try:
                source.backup(copy)
                (result,) = copy.execute("PRAGMA integrity_check").fetchone()
                if result != "ok":
                    raise BackupError(f"The copy failed its integrity check: {result}")
            finally:
                copy.close()
                source.close()
        else:
            args, env = _pg_args()
            _run(
                [
                    "pg_dump",
                    *args,
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    "--file",
                    str(partial),
                    str(_url().database),
                ],
                env,
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def restore(source: Path) -> None:
    """Replace the live database's contents with the backup in `source`."""
    source = source.resolve()
    if not source.is_file():
        raise BackupError(f"No backup at {source}.")
    db.session.rollback()  # hold no transaction (and, on SQLite, no lock) while copying
    if _url().get_backend_name() == "sqlite":
        try:
            backup = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            (result,) = backup.execute("PRAGMA integrity_check").fetchone()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source} is not a SQLite backup: {exc}") from None
        if result != "ok":
            backup.close()
            raise BackupError(f"The backup failed its integrity check: {result}")
        db.engine.dispose()
        live = sqlite3.connect(_sqlite_path())
        try:
            backup.backup(live)
        finally:
            live.close()
            backup.close()
    else:
        args, env = _pg_args()
        _run(
            [
                "pg_restore",
                *args,
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                "--dbname",
                str(_url().database),
                str(source),
            ],
            env,
        )
        db.engine.dispose()


def check() -> Report:
    """Integrity, migration head, and the invariants every database of ours keeps."""
    from produce_match.deploy import at_head
    from produce_match.lots.models import Lot
    from produce_match.orders.models import Order

    report = Report()
    if db.engine.dialect.name == "sqlite":
        result = db.session.execute(text("PRAGMA integrity_check")).scalar()
        if result != "ok":
            report.problems.append(f"integrity check: {result}")
        broken = db.session.execute(text("PRAGMA foreign_key_check")).all()
        if broken:
            report.problems.append(f"{len(broken)} rows point to rows that do not exist")
    if not at_head():
        report.problems.append("the database is not at the newest migration")
    held = (
        select(func.coalesce(func.sum(Order.quantity_g), 0))
        .where(Order.lot_id == Lot.id, Order.released_at.is_(None))
        .scalar_subquery()
    )
    unbalanced = db.session.scalar(
        select(func.count())
        .select_from(Lot)
        .where((Lot.remaining_g + held != Lot.quantity_g) | (Lot.remaining_g < 0))
    )
    if unbalanced:
        report.problems.append(
            f"{unbalanced} lots whose remaining + ordered is not what was posted"
        )
    report.facts = {
        "lots": db.session.scalar(select(func.count()).select_from(Lot)),
        "orders": db.session.scalar(select(func.count()).select_from(Order)),
    }
    db.session.rollback()
    return report


def init_app(app: Flask) -> None:
    @app.cli.group("backup")
    def backup_group() -> None:
        """Back the database up, and restore it."""

    @backup_group.command("create")
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    def create_command(file: Path) -> None:
        """Write a consistent backup of the database to FILE (the site may keep running)."""
        create(file)
        click.echo(f"backup written to {file} ({file.stat().st_size:,} bytes)")

    @backup_group.command("restore")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    def restore_command(file: Path, yes: bool) -> None:
        """Replace the database with the backup in FILE, migrate it, check it, rebuild search.

        Stop the web servers first: requests in flight would write into what is replaced.
        """
        if not yes:
            click.confirm(
                f"Replace everything in {_url().render_as_string()} with {file}?", abort=True
            )
        restore(file)
        upgrade(directory=current_app.extensions["migrate"].directory)
        report = check()
        from produce_match.search.service import service

        service().vocabulary_changed()
        indexed = service().rebuild()
        click.echo(f"restored: {report.facts}; search index rebuilt ({indexed} lots)")
        for problem in report.problems:
            click.echo(f"✗ {problem}", err=True)
        if not report.ok:
            raise SystemExit(1)

    @backup_group.command("check")
    def check_command() -> None:
        """Check the database: integrity, migration head, the business invariants."""
        report = check()
        click.echo(f"{report.facts}")
        for problem in report.problems:
            click.echo(f"✗ {problem}", err=True)
        if not report.ok:
            raise SystemExit(1)
        click.echo("✓ consistent")
