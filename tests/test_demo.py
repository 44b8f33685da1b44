"""The demo world that the embedded default loads on its first start."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from produce_match import policy
from produce_match.accounts.models import BuyerKind, Organisation, OrgKind, Role, User
from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.lots.models import Lot, Settlement
from produce_match.passes.models import (
    Checkpoint,
    CheckpointKind,
    PassStatus,
    TransportPass,
    Verdict,
    WhitelistEntry,
)
from produce_match.passes.queries import overdue, verdict
from produce_match.payments.models import PayoutAccount
from produce_match.rescue.models import RescueProposal, RescueStep
from produce_match.trust.identity import check_credit_code
from produce_match.trust.models import ClaimStatus, IdentityClaim


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
    # Daoting starts unverified, so that the journey shows the Zhangwu office verifying it;
    # the others stand on a verified claim with a credit code that adds up
    assert beans.county.name == "彰武县" and not beans.cooperative.verified
    zhangwu_official = db.session.scalar(select(User).where(User.login == "zhangwu"))
    assert policy.can(zhangwu_official, "verify", beans.cooperative)
    claims = db.session.scalars(select(IdentityClaim)).all()
    assert claims and all(c.status is ClaimStatus.verified for c in claims)
    assert beans.cooperative_id not in {c.org_id for c in claims}
    for claim in claims:
        assert check_credit_code(claim.credit_code) == claim.credit_code
        assert claim.org.verified_as == "credit_code"
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
    # the rescue ladder: buyers of the kinds it turns to, and a lot three days from spoiling
    # already at its aid step
    kinds = set(
        db.session.scalars(
            select(Organisation.buyer_kind).where(Organisation.kind == OrgKind.buyer)
        )
    )
    assert {BuyerKind.processor, BuyerKind.school, BuyerKind.canteen, BuyerKind.food_bank} <= kinds
    red = db.session.scalar(select(Lot).where(Lot.title == "金州红灯樱桃 3000斤 产地直供"))
    assert red.days_left == 3 and red.remaining_g > 0
    aid = db.session.scalar(select(RescueProposal).where(RescueProposal.lot_id == red.id))
    assert aid.step is RescueStep.aid and aid.buyers_reached >= 3

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


def test_demo_load_has_passes_between_zhangwu_and_donghu(runner):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    assert "shunda" in result.output and "donghu" in result.output
    people = {u.login: u for u in db.session.scalars(select(User))}
    zhangwu, donghu = people["zhangwu"].organisation, people["donghu"].organisation
    assert people["zhangwu_gate"].role is Role.checkpoint
    assert people["zhangwu_gate"].organisation_id == zhangwu.id
    assert people["donghu"].role is Role.official and donghu.name == "南昌市东湖区商务局"
    assert policy.covers(donghu, "360000", "360102")
    assert people["donghu_gate"].role is Role.checkpoint
    assert people["donghu_gate"].organisation_id == donghu.id
    shunda = people["shunda"].organisation
    assert people["shunda"].role is Role.haulier and shunda.kind is OrgKind.haulier
    assert shunda.name == "彰武顺达物流有限公司" and shunda.verified

    points = {c.name: c for c in db.session.scalars(select(Checkpoint))}
    assert points["长深高速彰武收费站"].office_id == zhangwu.id
    assert points["长深高速彰武收费站"].kind is CheckpointKind.expressway_exit
    assert points["东湖区界检查站"].office_id == donghu.id
    assert points["东湖区界检查站"].kind is CheckpointKind.county_border
    (entry,) = db.session.scalars(select(WhitelistEntry))
    assert entry.office_id == zhangwu.id and entry.organisation_id == shunda.id
    assert entry.valid_until == local_today() + timedelta(days=30)

    rows = {
        row.applicant_org.name: row
        for row in db.session.scalars(select(TransportPass).order_by(TransportPass.id))
    }
    by_whitelist = rows["彰武顺达物流有限公司"]
    assert by_whitelist.status is PassStatus.approved and by_whitelist.whitelist_entry_id
    assert verdict(by_whitelist) is Verdict.valid and by_whitelist.exited_at is None
    waiting = rows["彰武县道亭村黑豆种植专业合作社"]
    assert waiting.status is PassStatus.pending and verdict(waiting) is Verdict.pending
    moving = rows["江西南昌粮油批发有限公司"]
    assert moving.status is PassStatus.approved
    assert moving.decided_by_id == people["zhangwu"].id
    assert moving.exited_at < moving.entered_at < moving.expected_by
    assert moving.delivered_at is None and not overdue(moving)
    assert all(row.number.startswith("210922-") for row in rows.values())


def test_demo_load_refuses_a_database_with_users(runner, users):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code != 0 and "empty" in result.output
