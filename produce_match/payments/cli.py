"""`flask payments ...`: reconciliation (cron).

The sandbox gateway is no command of the site: it is a development tool of its own
(`python -m devtools.sandbox_gateway`)."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_babel import gettext as _

from produce_match.payments import service

payments_cli = AppGroup("payments", help="Payments.")


@payments_cli.command("reconcile")
@click.option(
    "--min-age",
    type=int,
    default=None,
    help="Ask about payments pending for at least this many seconds "
    "(default: PAYMENTS_RECONCILE_AFTER).",
)
@click.option(
    "--site",
    default=None,
    help="This site's own address (default: PAYMENTS_PUBLIC_URL, else http://127.0.0.1:5000), "
    "for the notifications of payments created by this command.",
)
def reconcile_command(min_age: int | None, site: str | None) -> None:
    """Ask the provider about pending payments and send queued refunds and payouts (cron-safe)."""
    if site:
        current_app.extensions["payments_local_base"] = site.rstrip("/")
    result = service.reconcile(min_age)
    click.echo(
        _(
            "Payments checked: %(checked)d; confirmed or closed: %(changed)d; "
            "refunds and payouts made: %(sent)d; errors: %(errors)d.",
            checked=result.payments_checked,
            changed=result.payments_changed,
            sent=result.instructions_sent,
            errors=result.errors,
        )
    )


def init_app(app: Flask) -> None:
    app.cli.add_command(payments_cli)
