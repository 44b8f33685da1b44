"""`flask demands ...` (`flask demands digest` is matching's: produce_match.matching.cli)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from flask_babel import force_locale, ngettext

from produce_match.demands import imports
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.lots.cli import echo_skipped, import_options, refuse_if_invalid

demands_cli = AppGroup("demands", help="Buyers' demands.")


@demands_cli.command("import")
@import_options
def import_command(file: Path, skip_invalid: bool, lang: str) -> None:
    """Import demands from a .csv, .xlsx or .jsonl file; new buyers are created unverified.

    With errors nothing is imported (exit status 1) unless --skip-invalid is given.
    """
    with force_locale(lang):
        try:
            rows = imports.read_file(file.name, file.read_bytes())
        except imports.ImportFileError as exc:
            raise click.ClickException(str(exc.message)) from None
        report = imports.check(rows)
        refuse_if_invalid(report, skip_invalid)
        created = len(report.new_buyers)
        try:
            count = imports.apply(report, None, skip_invalid=skip_invalid)
        except ValidationFailed as exc:
            db.session.rollback()
            raise click.ClickException(str(exc.message)) from None
        db.session.commit()
        click.echo(ngettext("%(num)d demand imported.", "%(num)d demands imported.", count))
        echo_skipped(report)
        if created:
            click.echo(
                ngettext(
                    "%(num)d new buyer created (unverified).",
                    "%(num)d new buyers created (unverified).",
                    created,
                )
            )


def init_app(app: Flask) -> None:
    app.cli.add_command(demands_cli)
