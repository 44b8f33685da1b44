"""`flask monitor ...`: the officials' report from the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from flask_babel import force_locale
from werkzeug.exceptions import NotFound

from produce_match.catalog import regions
from produce_match.errors import ValidationFailed
from produce_match.monitor import exports, queries

monitor_cli = AppGroup("monitor", help="The officials' area: figures and reports.")


def _scope(province: str | None, county: str | None) -> queries.Scope:
    if county:
        province_region = regions.find_province(province) if province else None
        found = regions.find_counties(county, province_region.code if province_region else None)
        if len(found) != 1:
            raise click.BadParameter(
                f"{len(found)} counties match {county!r}", param_hint="--county"
            )
        return queries.Scope(found[0].province_code, found[0].code, found[0].name)
    if province:
        region = regions.find_province(province)
        if region is None:
            raise click.BadParameter(f"no province {province!r}", param_hint="--province")
        return queries.Scope(region.code, None, region.name)
    return queries.Scope(None, None, "")


@monitor_cli.command("report")
@click.option("--province", help="Province (code or name).")
@click.option("--county", help="County (code or name), e.g. 彰武县.")
@click.option("--from", "start", help="First day, YYYY-MM-DD (default: 30 days ago).")
@click.option("--to", "end", help="Last day, YYYY-MM-DD (default: today).")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="FILE.xlsx"
)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
def report_command(
    province: str | None, county: str | None, start: str | None, end: str | None, out: Path,
    lang: str,
) -> None:  # fmt: skip
    """Write the report (summary, lots, deals, payments, ledger) of a place as XLSX."""
    try:
        scope = _scope(province, county)
    except NotFound:  # pragma: no cover - _scope raises click errors itself
        raise click.BadParameter("unknown place") from None
    try:
        period = queries.parse_period(start, end)
    except ValidationFailed as exc:
        raise click.BadParameter(str(exc.message)) from None
    with force_locale(lang):
        steps = list(exports.report_steps(scope, period))
        sheets = []
        with click.progressbar(steps, label="Report", file=sys.stderr) as bar:
            for step in bar:
                sheets.append(step())
        out.write_bytes(exports.to_xlsx(sheets))
    click.echo(f"{out}: {sum(len(s.rows) for s in sheets)} rows in {len(sheets)} sheets")


def init_app(app: Flask) -> None:
    app.cli.add_command(monitor_cli)
