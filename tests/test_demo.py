"""The demo world that the embedded default loads on its first start."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from produce_match import policy
from produce_match.accounts.models import Organisation, OrgKind, Role, User
from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.lots.models import Lot, Settlement
from produce_match.payments.models import PayoutAccount


def test_demo_load_builds_the_world(runner):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    assert "demo-pass-2020" in result.output and "daoting" in result.output

    beans = db.session.scalar(
        select(Lot)
        .join(Lot.cooperative)
        .where(Organisation.name == "彰武县道亭村黑豆种植专业合作社")
    )
    assert beans.commodity.code == "black_bean" and beans.quantity_g == 40_000_000
    assert beans.spoil_by == local_today() + timedelta(days=21)
    assert beans.county.name == "彰武县" and beans.cooperative.verified
    # the village paid on the day of loading: the beans offer both terms, 5% held until
    # delivery, and an order that does not choose is still paid on delivery
    assert beans.settlements == (Settlement.on_delivery, Settlement.on_loading)
    assert beans.holdback_pct == 5 and beans.default_settlement is Settlement.on_delivery
    on_loading_only = db.session.scalars(
        select(Lot).where(Lot.settle_on_loading, ~Lot.settle_on_delivery).order_by(Lot.id)
    ).all()
    assert [(lot.title, lot.holdback_pct) for lot in on_loading_only] == [
        ("彰武梁家子镇玉米 150吨 产地直供", 5),
        ("定西土豆 新大坪 200吨 产地直供", 3),
    ]
    assert all(lot.default_settlement is Settlement.on_loading for lot in on_loading_only)

    cherry = db.session.scalar(select(Lot).join(Lot.commodity).where(Lot.title.contains("樱桃")))
    assert cherry.province.name == "辽宁省"

    lots = db.session.scalar(select(func.count()).select_from(Lot))
    counties = db.session.scalar(select(func.count(func.distinct(Lot.county_code))))
    commodities = db.session.scalar(select(func.count(func.distinct(Lot.commodity_id))))
    buyers = db.session.scalar(
        select(func.count()).select_from(Organisation).where(Organisation.kind == OrgKind.buyer)
    )
    assert lots >= 62 and counties >= 12 and commodities >= 20 and buyers >= 10

    official = db.session.scalar(select(User).where(User.login == "zhangwu"))
    assert official.role is Role.official
    assert policy.covers(official.organisation, beans.province_code, beans.county_code)
    admin = db.session.scalar(select(User).where(User.login == "admin"))
    assert admin.role is Role.admin

    # every cooperative can be paid by bank transfer: its account is on record
    coops = db.session.scalars(
        select(Organisation).where(Organisation.kind == OrgKind.cooperative)
    ).all()
    accounts = {a.organisation_id: a for a in db.session.scalars(select(PayoutAccount))}
    assert coops and all(c.id in accounts for c in coops)
    assert accounts[beans.cooperative_id].bank_name == "中国农业银行彰武县支行"


def test_demo_load_refuses_a_database_with_users(runner, users):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code != 0 and "empty" in result.output
