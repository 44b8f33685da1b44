"""`flask match ...`, and `flask demands digest` (the alerts' digests, in the demands' group)."""

from __future__ import annotations

import json

import click
from flask import Flask
from flask.cli import AppGroup

from produce_match.catalog import regions
from produce_match.demands.cli import demands_cli
from produce_match.extensions import db
from produce_match.matching import alerts, planner
from produce_match.matching.plan import make_plan

match_cli = AppGroup("match", help="Matching lots with demands.")


@match_cli.command("plan")
@click.option("--county", help="Only the lots of this county (name or code).")
@click.option("--province", help="Only the lots of this province (name or code).")
@click.option(
    "--objective",
    type=click.Choice(planner.OBJECTIVES),
    default="tonnage",
    show_default=True,
    help="tonnage: the most kilograms, then the most money; value: the most money.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan_command(county: str | None, province: str | None, objective: str, as_json: bool) -> None:
    """Allocate the open lots to the active demands: the most produce rescued (read-only)."""
    province_code = county_code = None
    if province:
        found = regions.find_province(province)
        if found is None:
            raise click.BadParameter(f"unknown province: {province}", param_hint="--province")
        province_code = found.code
    if county:
        counties = regions.find_counties(county, province_code)
        if len(counties) != 1:
            raise click.BadParameter(
                f"{'unknown' if not counties else 'ambiguous'} county: {county}"
                + (" (add --province)" if counties else ""),
                param_hint="--county",
            )
        county_code, province_code = counties[0].code, counties[0].province_code
    result = make_plan(province_code=province_code, county_code=county_code, objective=objective)
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
        return
    for a in result.allocations:
        click.echo(
            f"lot {a.lot.id} ({a.lot.title}) -> demand {a.demand.id} ({a.demand.buyer.name}): "
            f"{a.quantity_kg} kg"
        )
    body = result.as_json()
    click.echo(
        f"total {body['total_kg']} kg, {body['total_value_yuan']:.2f} yuan; "
        f"bound {body['bound_kg']} kg; {body['seconds']} s"
    )


# the daily digests of fitting lots belong to the alerts; the command stays with the demands
@demands_cli.command("digest")
def digest_command() -> None:
    """Send the daily digests of fitting lots (at most one a day per user; safe from cron)."""
    count = alerts.send_digests()
    db.session.commit()
    click.echo(f"{count} digests sent")


def init_app(app: Flask) -> None:
    app.cli.add_command(match_cli)
