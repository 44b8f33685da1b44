"""The demo world: a few organisations and users to try the service with.

`flask demo load` fills an empty database; the embedded default does it on its first start.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select

from produce_match.accounts import operations as accounts
from produce_match.accounts.models import Role, User
from produce_match.extensions import db

DEMO_PASSWORD = "demo-pass-2020"  # noqa: S105 - printed on purpose: these are demo accounts

#: (login, role, organisation, name, phone, province, county, township, village)
DEMO_USERS = [
    ("admin", Role.admin, None, "平台管理员", None, None, None, None, None),
    (
        "daoting",
        Role.cooperative,
        "彰武县道亭村黑豆种植专业合作社",
        "李支书",
        "13904180001",
        "辽宁",
        "彰武",
        "梁家子镇",
        "道亭村",
    ),
    (
        "cherry",
        Role.cooperative,
        "大连金州樱桃园专业合作社",
        "王园长",
        "13904110002",
        "辽宁",
        "金州区",
        "七顶山街道",
        "老虎山村",
    ),
    (
        "buyer",
        Role.buyer,
        "江西南昌粮油批发有限公司",
        "陈经理",
        "13907910003",
        "江西",
        "东湖区",
        None,
        None,
    ),
    (
        "zhangwu",
        Role.official,
        "彰武县电子商务办公室",
        "赵主任",
        "04185820000",
        "辽宁",
        "彰武",
        None,
        None,
    ),
]


def is_empty() -> bool:
    return not db.session.scalar(select(func.count()).select_from(User))


def load() -> list[tuple[str, str, str]]:
    """Create the demo organisations and users; returns (login, password, role) for each."""
    admin = None
    logins = []
    for login, role, org, name, phone, province, county, township, village in DEMO_USERS:
        user = accounts.create_user(
            login=login,
            password=DEMO_PASSWORD,
            role=role,
            org_name=org,
            name=name,
            phone=phone,
            place=accounts.PlaceInput(province, county, township, village),
            actor=admin,
        )
        if role is Role.admin:
            admin = user
        elif role is not Role.buyer:
            accounts.set_verified(user.organisation, admin, True)
        logins.append((login, DEMO_PASSWORD, role.value))
    return logins


def print_logins(logins: list[tuple[str, str, str]]) -> None:
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    for login, _password, role in logins:
        click.echo(f"  {login:<10} {role}")


demo_cli = AppGroup("demo", help="The demo world.")


@demo_cli.command("load")
def load_command() -> None:
    """Load the demo world into an empty database."""
    if not is_empty():
        raise click.ClickException("the database already has users; demo load needs an empty one")
    logins = load()
    db.session.commit()
    print_logins(logins)


def init_app(app: Flask) -> None:
    app.cli.add_command(demo_cli)
