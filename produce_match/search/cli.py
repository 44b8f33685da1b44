"""`flask search ...`"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select

from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.search.service import service

search_cli = AppGroup("search", help="The search index.")


@search_cli.command("rebuild")
def rebuild_command() -> None:
    """Build a fresh index from the database beside the live one, then swap it in."""
    total = db.session.scalar(select(func.count()).select_from(Lot)) or 0
    with click.progressbar(length=total, label="indexing lots") as bar:
        count = service().rebuild(progress=bar.update)
    click.echo(f"{count} lots indexed")


@search_cli.command("check")
@click.option("--repair/--no-repair", default=True, help="Fix what differs (default: yes).")
def check_command(repair: bool) -> None:
    """Report (and repair) every difference between the index and the database."""
    report = service().check(repair=repair)
    click.echo(
        f"missing: {len(report.missing)}  stale: {len(report.stale)}  extra: {len(report.extra)}"
    )
    for name in ("missing", "stale", "extra"):
        ids = getattr(report, name)
        if ids:
            click.echo(f"  {name}: {', '.join(map(str, ids[:50]))}{' …' if len(ids) > 50 else ''}")
    if not report.clean:
        click.echo("repaired" if repair else "not repaired (--no-repair)")
        if not repair:
            raise SystemExit(1)


@search_cli.command("sync")
def sync_command() -> None:
    """Apply queued index changes now (safe from cron; normally they apply by themselves)."""
    click.echo(f"{service().process_queue()} queued changes applied")


def init_app(app: Flask) -> None:
    app.cli.add_command(search_cli)
