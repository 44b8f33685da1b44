"""`flask users ...`"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from produce_match.accounts import operations as accounts
from produce_match.accounts.models import Role
from produce_match.errors import DomainError
from produce_match.extensions import db

users_cli = AppGroup("users", help="Manage user accounts.")


@users_cli.command("create")
@click.option("--login", required=True, help="What the user types to log in.")
@click.option("--password", required=True, help="At least 8 characters.")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--org", "org_name", help="Organisation name; created if it does not exist.")
@click.option("--name", help="The person's name (defaults to the login).")
@click.option("--phone", help="Phone number.")
@click.option("--province", help="Province (name, short name or code): an office's jurisdiction.")
@click.option("--county", help="County within the province; omit for a province-wide office.")
def create_user(
    login: str,
    password: str,
    role: str,
    org_name: str | None,
    name: str | None,
    phone: str | None,
    province: str | None,
    county: str | None,
) -> None:
    """Create a user of any role, with its organisation if needed."""
    try:
        user = accounts.create_user(
            login=login,
            password=password,
            role=Role(role),
            org_name=org_name,
            name=name,
            phone=phone,
            place=accounts.PlaceInput(province=province, county=county),
        )
    except DomainError as exc:
        db.session.rollback()
        messages = [f"{field}: {m}" for field, msgs in exc.fields.items() for m in msgs]
        raise click.ClickException("\n".join([str(exc.message), *messages])) from None
    db.session.commit()
    org = user.organisation
    click.echo(f"created {user.role.value} {user.login}" + (f" in {org.name}" if org else ""))


def init_app(app: Flask) -> None:
    app.cli.add_command(users_cli)
