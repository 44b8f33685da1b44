"""The demo world: cooperatives with stranded lots, buyers and their demands, an official for
Zhangwu, an admin, and the transport passes between Zhangwu and Donghu (checkpoints, a
whitelist, a haulier, checkpoint staff).

`flask demo load` fills an empty database; the embedded default does it on its first start.
The cooperatives, their lots and the buyers are in world.json beside this file; every date in
it is relative to today, so the demo never goes stale. A lot's `settlement_terms` (left out: on
delivery) and `holdback_percent` are as the lot form takes them: the Daoting beans offer both,
paid on delivery or on loading with 5% held; the Zhangwu corn and the Dingxi potatoes are paid
on loading only.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select

from produce_match.accounts import operations as accounts
from produce_match.accounts.models import BuyerKind, Organisation, OrgKind, Role, User
from produce_match.catalog import commodities, regions
from produce_match.database import utcnow
from produce_match.dates import local_datetime, local_today
from produce_match.demands import operations as demands
from produce_match.extensions import db
from produce_match.lots import operations as lots
from produce_match.lots.models import Lot
from produce_match.monitor import operations as monitor
from produce_match.passes import operations as passes
from produce_match.payments import operations as payments
from produce_match.rescue import operations as rescue
from produce_match.sharing import operations as sharing
from produce_match.sharing.models import Channel, TargetKind
from produce_match.trust import verification
from produce_match.trust.identity import credit_code_check

DEMO_PASSWORD = "demo-pass-2020"  # noqa: S105 - printed on purpose: these are demo accounts
WORLD = Path(__file__).with_name("world.json")

#: accounts that are not in world.json: (login, role, organisation, name, phone, province, county)
STAFF = [
    ("admin", Role.admin, None, "平台管理员", None, None, None),
    ("zhangwu", Role.official, "彰武县电子商务办公室", "赵主任", "04185820000", "辽宁", "彰武"),
    ("liaoning", Role.official, "辽宁省农业农村厅市场处", "孙处长", "02423440000", "辽宁", None),
    ("buyer", Role.buyer, "江西南昌粮油批发有限公司", "陈经理", "13907910003", "江西", "东湖区"),
    # transport passes: the offices at both ends of the road, their checkpoint staff, a haulier
    (
        "zhangwu_gate",
        Role.checkpoint,
        "彰武县电子商务办公室",
        "刘队长",
        "13904180021",
        "辽宁",
        "彰武",
    ),
    ("donghu", Role.official, "南昌市东湖区商务局", "周科长", "07918660000", "江西", "东湖区"),
    (
        "donghu_gate",
        Role.checkpoint,
        "南昌市东湖区商务局",
        "吴队长",
        "13907910022",
        "江西",
        "东湖区",
    ),
    ("shunda", Role.haulier, "彰武顺达物流有限公司", "马经理", "13904180023", "辽宁", "彰武"),
]


def is_empty() -> bool:
    return not db.session.scalar(select(func.count()).select_from(User))


def _member(login: str, role: Role, org: dict[str, Any], admin: User) -> User:
    user = accounts.create_user(
        login=login,
        password=DEMO_PASSWORD,
        role=role,
        org_name=org["name"],
        name=org.get("contact_person"),
        phone=org.get("phone"),
        place=accounts.PlaceInput(
            org.get("province"), org.get("county"), org.get("township"), org.get("village")
        ),
        actor=admin,
        phone_confirmed=True,  # the demo's mobile numbers receive its text messages
    )
    user.organisation.contact_person = org.get("contact_person")
    if org.get("verified", True):
        _verified(user.organisation, admin, org.get("contact_person") or user.name)
    return user


def demo_credit_code(org: Organisation) -> str:
    """A made-up 统一社会信用代码 that adds up: 93 (a farmers' cooperative) or 91 (a company),
    the county's code, MA and the organisation's number, and the check character."""
    prefix = "93" if org.kind is OrgKind.cooperative else "91"
    first17 = f"{prefix}{org.county_code or '000000'}MA{org.id:07d}"
    return first17 + credit_code_check(first17)


def _verified(org: Organisation, admin: User, person: str) -> None:
    """The demo's verified organisations were verified in person, on their licence."""
    verification.verify_in_person(
        admin,
        org,
        verification.ClaimInput(
            kind="credit_code", person_name=person, credit_code=demo_credit_code(org)
        ),
    )


#: visits through the Daoting beans' share links over the last days, so that the figures by
#: channel (the lot's page, the dashboard) show something: (channel, browsers a day, days)
DEMO_VISITS = ((Channel.wechat_group, 4, 5), (Channel.moments, 2, 3), (Channel.douyin, 3, 2))


def _shared_beans() -> None:
    """A few visits through the links of the Daoting black beans (made-up browsers)."""
    lot = db.session.scalar(
        select(Lot)
        .join(User, User.id == Lot.created_by_id)
        .where(User.login == "daoting")
        .order_by(Lot.id)
    )
    if lot is None:
        return
    codes = sharing.links_of(sharing.Target(TargetKind.lot, lot.id), None)
    now = utcnow()
    for channel, browsers, days in DEMO_VISITS:
        for day in range(days):
            at = now - timedelta(days=day, hours=1)
            for n in range(browsers):
                key = sharing.visitor_key(
                    f"demo-browser-{channel.value}-{n}", sharing.visit_day(at)
                )
                sharing.record_visit(codes[channel], key, at)


#: the demo's checkpoints: (official, name, kind, county)
DEMO_CHECKPOINTS = (
    ("zhangwu", "长深高速彰武收费站", "expressway_exit", "彰武"),
    ("donghu", "东湖区界检查站", "county_border", "东湖区"),
    ("liaoning", "京哈高速绥中收费站", "expressway_exit", "绥中县"),
)


def _user(login: str) -> User:
    user = db.session.scalar(select(User).where(User.login == login))
    assert user is not None, login
    return user


def _passes() -> None:
    """Checkpoints, the Zhangwu office's whitelist and three passes, so that the lists and the
    figures are not empty: the haulier's, approved at once by the whitelist; Daoting's, waiting
    for the Zhangwu office; the buyer's, approved, out of Zhangwu and into Donghu."""
    points = {
        name: passes.add_checkpoint(_user(login), name, kind, accounts.PlaceInput(county=county))
        for login, name, kind, county in DEMO_CHECKPOINTS
    }
    today, now = local_today(), utcnow()
    zhangwu = _user("zhangwu")
    passes.add_entry(
        zhangwu,
        passes.EntryInput(
            "彰武顺达物流有限公司", today, today + timedelta(days=30), "保供运输企业"
        ),
    )
    # today's times, however early in the day the demo is loaded (a pass is valid from today)
    since_midnight = now - local_datetime(now).replace(hour=0, minute=0, second=0, microsecond=0)

    def earlier(limit: timedelta, share: int) -> Any:
        return now - min(limit, since_midnight / share)

    def shipment(plate: str, driver: str, phone: str, commodity: str, tons: str) -> Any:
        return passes.PassInput(
            plate=plate,
            driver_name=driver,
            driver_phone=phone,
            origin=accounts.PlaceInput("辽宁", "彰武"),
            destination=accounts.PlaceInput("江西", "东湖区"),
            route=[points["长深高速彰武收费站"].id, points["东湖区界检查站"].id],
            valid_from=today,
            valid_until=today + timedelta(days=4),
            commodity=commodity,
            quantity=tons,
            unit="吨",
        )

    passes.apply(
        _user("shunda"),
        shipment("辽J12345", "王师傅", "13904180031", "玉米", "30"),
        now=earlier(timedelta(hours=2), 2),
    )
    passes.apply(
        _user("daoting"),
        shipment("辽JD12345", "李师傅", "13904180032", "黑豆", "20"),
        now=earlier(timedelta(minutes=45), 3),
    )
    moving = passes.apply(
        _user("buyer"),
        shipment("赣A54321", "张师傅", "13907910033", "花生", "15"),
        now=earlier(timedelta(hours=6), 2),
    )
    passes.approve(zhangwu, moving, now=earlier(timedelta(hours=5), 2))
    passes.record_passage(
        _user("zhangwu_gate"),
        moving,
        points["长深高速彰武收费站"],
        "out",
        now=earlier(timedelta(hours=4), 3),
    )
    passes.record_passage(
        _user("donghu_gate"),
        moving,
        points["东湖区界检查站"],
        "in",
        now=earlier(timedelta(minutes=30), 4),
    )


def load() -> list[tuple[str, str]]:
    """Create the demo world; returns (login, role) for every account."""
    logins: list[tuple[str, str]] = []
    admin = None
    for login, role, org, name, phone, province, county in STAFF:
        user = accounts.create_user(
            login=login,
            password=DEMO_PASSWORD,
            role=role,
            org_name=org,
            name=name,
            phone=phone,
            place=accounts.PlaceInput(province, county),
            actor=admin,
            phone_confirmed=True,
        )
        if role is Role.admin:
            admin = user
        elif user.organisation.kind is OrgKind.office:
            accounts.set_verified(user.organisation, admin, True)
        elif not user.organisation.verified:
            _verified(user.organisation, admin, name)
        logins.append((login, role.value))
    assert admin is not None

    world = json.loads(WORLD.read_text(encoding="utf-8"))
    today = local_today()
    for number, coop in enumerate(world["cooperatives"], start=1):
        user = _member(coop["login"], Role.cooperative, coop, admin)
        logins.append((coop["login"], Role.cooperative.value))
        # a made-up account, so that bank transfers and payouts work in the demo
        payments.save_payout_account(
            user,
            user.organisation_id,
            coop["name"],
            f"中国农业银行{coop['county']}支行",
            f"6228480{number:012d}",
            # and a made-up Alipay login, for payouts of orders paid by Alipay
            f"1380000{number:04d}",
            coop["name"],
            # and a made-up WeChat payee, for payouts of what was paid by WeChat Pay
            wechat_openid=f"oDemoPayee{number:018d}",
            wechat_name=coop.get("contact_person") or coop["name"],
        )
        for lot in coop["lots"]:
            lots.create_lot(
                user,
                user.organisation,
                lots.LotInput(
                    commodity=lot["commodity"],
                    title=lot["title"],
                    variety=lot.get("variety"),
                    grade=lot.get("grade"),
                    quantity=lot["quantity"],
                    unit=lot["unit"],
                    price=lot["price"],
                    price_unit=lot["price_unit"],
                    available_from=today + timedelta(days=lot.get("available_from_days", 0)),
                    spoil_by=today + timedelta(days=lot["spoil_in_days"]),
                    storage_notes=lot.get("storage_notes"),
                    description=lot.get("description"),
                    # 装车结算: some villages are paid the day the truck is loaded
                    settlement_terms=lot.get("settlement_terms"),
                    holdback_percent=lot.get("holdback_percent"),
                ),
            )
    _shared_beans()
    for buyer in world["buyers"]:
        member = _member(buyer["login"], Role.buyer, buyer, admin)
        # the kind of buyer the rescue ladder turns to (processors, canteens, food banks)
        kind = buyer.get("kind")
        member.organisation.buyer_kind = (
            BuyerKind(kind) if kind in BuyerKind.__members__ else BuyerKind.other
        )
        logins.append((buyer["login"], Role.buyer.value))
    for demand in world.get("demands", []):
        user = db.session.scalar(select(User).where(User.login == demand["buyer"]))
        assert user is not None and user.organisation is not None, demand["buyer"]
        demands.create_demand(
            user,
            user.organisation,
            demands.DemandInput(
                commodity=demand["commodity"],
                grades=demand.get("grades") or "",
                min_quantity=demand["min_quantity"],
                max_quantity=demand["max_quantity"],
                unit=demand["unit"],
                max_price=demand["max_price"],
                price_unit=demand["price_unit"],
                province=demand["province"],
                county=demand["county"],
                needed_by=today + timedelta(days=demand["needed_in_days"]),
                max_distance_km=str(demand.get("max_distance_km") or ""),
                notes=demand.get("notes"),
            ),
        )
    for ref in world.get("reference_prices", []):
        commodity = commodities.resolve(ref["commodity"])
        province = regions.find_province(ref["province"])
        county = regions.find_counties(ref["county"], province.code if province else None)
        assert commodity is not None and len(county) == 1, ref
        monitor.set_reference_price(
            admin,
            monitor.PriceInput(
                commodity,
                county[0],
                ref["price"],
                ref["unit"],
                today + timedelta(days=ref["since_days"]),
            ),
        )
    _passes()
    # the rescue ladder's first proposals (the worker's hourly task would make them too): the
    # lots three days from spoiling show their aid step at once
    db.session.flush()
    rescue.propose_due()
    return logins


def print_logins(logins: list[tuple[str, str]]) -> None:
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    shown = [
        entry
        for entry in logins
        if entry[0]
        in {"admin", "zhangwu", "liaoning", "buyer", "daoting", "cherry", "shunda", "donghu"}
    ]
    for login, role in shown:
        click.echo(f"  {login:<12} {role}")
    click.echo(f"  ... and {len(logins) - len(shown)} more accounts (see README)")


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
