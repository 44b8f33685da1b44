"""`flask orders ...`"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from flask_babel import gettext as _

from produce_match.extensions import db
from produce_match.orders import operations as orders

orders_cli = AppGroup("orders", help="Orders.")


@orders_cli.command("expire")
def expire_command() -> None:
    """Record every order timer that has run out (safe to run from cron every minute)."""
    counts = orders.expire_due()
    db.session.commit()
    click.echo(
        _(
            "Orders expired: %(expired)d; deliveries confirmed automatically: %(confirmed)d; "
            "orders completed: %(completed)d.",
            expired=counts.expired,
            confirmed=counts.confirmed,
            completed=counts.completed,
        )
    )


def init_app(app: Flask) -> None:
    """Register `flask orders`."""
    app.cli.add_command(orders_cli)
