"""`flask catalog ...`"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from produce_match.catalog import operations as catalog
from produce_match.extensions import db

catalog_cli = AppGroup("catalog", help="The commodity catalogue and the regions.")


@catalog_cli.command("load")
@click.option(
    "--update",
    is_flag=True,
    help="Overwrite existing entries with the shipped data (discards admins' edits).",
)
def load_command(update: bool) -> None:
    """Load the shipped commodity catalogue and regions (new entries only, unless --update)."""
    regions = catalog.load_regions()
    count = catalog.load_commodities(update=update)
    db.session.commit()
    click.echo(f"{regions} regions, {count} commodities loaded")


def init_app(app: Flask) -> None:
    app.cli.add_command(catalog_cli)
