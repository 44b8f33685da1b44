"""`flask lots ...`"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _

from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.lots import imports
from produce_match.lots import operations as lots

lots_cli = AppGroup("lots", help="Produce lots.")


# --- shared by every spreadsheet import command (lots here, demands in demands/cli.py) -------


def import_options(command: Callable[..., None]) -> Callable[..., None]:
    """FILE, --skip-invalid and --lang, as every import command takes them."""
    command = click.option(
        "--lang",
        type=click.Choice(["zh", "en"]),
        default="zh",
        show_default=True,
        help="The language of the messages.",
    )(command)
    command = click.option(
        "--skip-invalid", is_flag=True, help="Import the good rows and skip the rows with errors."
    )(command)
    return click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))(
        command
    )


def refuse_if_invalid(report: Any, skip_invalid: bool) -> None:
    """Print the checked file's errors; stop (exit 1, nothing imported) if it may not go on."""
    for error in report.errors:
        click.echo(str(error), err=True)
    if report.file_errors or (report.bad and not skip_invalid):
        db.session.rollback()
        if report.file_errors:
            hint = _("Correct the columns: nothing was imported.")
        else:
            hint = _(
                "Nothing was imported. Correct the rows, or import the good ones "
                "with --skip-invalid."
            )
        click.echo(hint, err=True)
        sys.exit(1)


def echo_skipped(report: Any) -> None:
    """Say how many rows with errors were left out."""
    if report.bad:
        click.echo(
            ngettext(
                "%(num)d row with errors skipped.",
                "%(num)d rows with errors skipped.",
                len(report.bad),
            )
        )


@lots_cli.command("expire")
def expire_command() -> None:
    """Record the expiry of lots past their spoil-by date (safe to run from cron)."""
    count = lots.expire_lots()
    db.session.commit()
    click.echo(f"{count} lots expired")


@lots_cli.command("import")
@import_options
def import_command(file: Path, skip_invalid: bool, lang: str) -> None:
    """Import lots from a .csv, .xlsx or .jsonl file; new cooperatives are created unverified.

    With errors nothing is imported (exit status 1) unless --skip-invalid is given.
    """
    with force_locale(lang):
        try:
            rows = imports.read_file(file.name, file.read_bytes())
        except imports.ImportFileError as exc:
            raise click.ClickException(str(exc.message)) from None
        with click.progressbar(length=len(rows), label=_("Checking"), file=sys.stderr) as bar:
            report = imports.check(rows, None, progress=bar.update)
        refuse_if_invalid(report, skip_invalid)
        created = len(report.new_cooperatives)  # before importing gives them their ids
        with click.progressbar(
            length=len(report.good), label=_("Importing"), file=sys.stderr
        ) as bar:
            try:
                count = imports.apply(report, None, progress=bar.update, skip_invalid=skip_invalid)
            except ValidationFailed as exc:
                db.session.rollback()
                raise click.ClickException(str(exc.message)) from None
        db.session.commit()
        click.echo(ngettext("%(num)d lot imported.", "%(num)d lots imported.", count))
        echo_skipped(report)
        if created:
            click.echo(
                ngettext(
                    "%(num)d new cooperative created (unverified).",
                    "%(num)d new cooperatives created (unverified).",
                    created,
                )
            )


def init_app(app: Flask) -> None:
    app.cli.add_command(lots_cli)
