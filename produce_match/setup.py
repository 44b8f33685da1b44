"""Bringing a database up to date: migrations, reference data, and the demo world."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask_migrate import upgrade
from sqlalchemy import func, select

from produce_match.catalog import operations as catalog
from produce_match.catalog.models import Region
from produce_match.extensions import db
from produce_match.search.service import service


def initialise(*, demo: bool = False) -> None:
    """Apply migrations, load regions if missing and the catalogue's new entries, and the demo
    world into an empty database."""
    upgrade(directory=current_app.extensions["migrate"].directory)
    if not db.session.scalar(select(func.count()).select_from(Region)):
        catalog.load_regions()
        db.session.commit()
    # the shipped catalogue's new entries (such as each category's "other") reach existing
    # databases too; entries already there, and administrators' edits, are kept
    if catalog.load_commodities():
        db.session.commit()
    if demo:
        from produce_match import demo as demo_world

        if demo_world.is_empty():
            logins = demo_world.load()
            db.session.commit()
            demo_world.print_logins(logins)
    search = service()
    if not search.backend.exists():  # a new machine, or a deleted index: build it from the data
        search.rebuild()


def init_app(app: Flask) -> None:
    @app.cli.command("init-db")
    @click.option("--demo/--no-demo", default=False, help="Also load the demo world if empty.")
    def init_db_command(demo: bool) -> None:
        """Apply migrations and load reference data (safe to run again)."""
        initialise(demo=demo)
        click.echo("database ready")
