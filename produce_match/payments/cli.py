"""`flask payments ...`: reconciliation (cron) and the sandbox gateway as its own process."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_babel import gettext as _

from produce_match.config import sandbox_in_production
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
    help="This site's own address (default: PAYMENTS_PUBLIC_URL, else http://127.0.0.1:5000); "
    "the embedded sandbox gateway is reached through it.",
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


@payments_cli.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5001, show_default=True)
@click.option("--db", "db_path", default=None, help="The gateway's own SQLite file.")
def sandbox_command(host: str, port: int, db_path: str | None) -> None:
    """Run the sandbox payment gateway as its own process."""
    from werkzeug.serving import run_simple

    from produce_match.payments.sandbox import create_gateway

    config = current_app.config
    refused = sandbox_in_production(config, serving=True)
    if refused:
        raise click.ClickException(" ".join(refused))
    gateway = create_gateway(
        config["PAYMENTS_SANDBOX_SECRET"], db_path or config["PAYMENTS_SANDBOX_DB"]
    )
    # this process serves the gateway itself (no fork follows): send what was left over now
    gateway.extensions["sandbox"]["deliverer"].resume()
    click.echo(f"sandbox gateway on http://{host}:{port}/")
    run_simple(host, port, gateway, threaded=True, use_reloader=False)


def init_app(app: Flask) -> None:
    app.cli.add_command(payments_cli)
