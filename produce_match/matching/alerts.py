"""Telling buyers about lots that fit their demands: at most once per lot and demand.

When a lot is posted or its price drops (`lots.events.lot_offered`), every active demand it
fits gets a `match_alerts` row. The row is inserted with ON CONFLICT DO NOTHING on the unique
(lot, demand) pair, so however often the lot changes, and whichever processes do it at once,
each pair is told once. The buyer's members are told at once (kind `match.lot_fits`), except
those who chose the daily digest: `flask demands digest` (safe from cron) sends each of them at
most one notification a day (kind `match.digest`) listing what was found since their last one.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import event, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from produce_match.accounts.models import Role, User
from produce_match.database import utcnow
from produce_match.dates import local_today
from produce_match.demands.models import Demand, DemandStatus
from produce_match.extensions import db
from produce_match.i18n import current_language
from produce_match.lots.events import lot_offered
from produce_match.lots.models import Lot
from produce_match.matching import queries
from produce_match.matching.models import AlertSetting, MatchAlert
from produce_match.notifications.messages import message
from produce_match.notifications.operations import members, notify
from produce_match.units import format_mass, format_price

#: the most lots one digest names (the rest are counted)
DIGEST_NAMES = 5


def _insert_alert(lot_id: int, demand_id: int, score: float) -> int | None:
    """Insert the pair's alert unless it exists; its id, or None if it was there already."""
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(MatchAlert)
        .values(lot_id=lot_id, demand_id=demand_id, score=score, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["lot_id", "demand_id"])
        .returning(MatchAlert.id)
    )
    return db.session.execute(statement).scalar()


def digest_users(user_ids: list[int]) -> set[int]:
    """Which of these users take the daily digest instead of immediate alerts."""
    if not user_ids:
        return set()
    return set(
        db.session.scalars(
            select(AlertSetting.user_id).where(
                AlertSetting.user_id.in_(user_ids), AlertSetting.daily_digest.is_(True)
            )
        )
    )


#: per transaction, commodity id -> whether any active demand asks for it (a bulk import of
#: thousands of lots asks once per commodity, not once per lot)
_WANTED = "matching_commodities_wanted"


def _wanted(commodity_id: int) -> bool:
    cache: dict[int, bool] = db.session().info.setdefault(_WANTED, {})
    if commodity_id not in cache:
        cache[commodity_id] = bool(
            db.session.scalar(
                select(Demand.id)
                .where(Demand.commodity_id == commodity_id, Demand.status == DemandStatus.active)
                .limit(1)
            )
        )
    return cache[commodity_id]


@event.listens_for(Session, "after_flush")
def _new_demands(session: Session, context: Any) -> None:
    if _WANTED in session.info and any(isinstance(o, Demand) for o in session.new):
        session.info.pop(_WANTED, None)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_WANTED, None)


def alert_for_lot(lot: Lot, actor: User | None = None) -> int:
    """Record and tell every new fit of `lot` with an active demand; how many were new."""
    if not _wanted(lot.commodity_id):
        return 0
    db.session.flush()
    new = 0
    for found in queries.matches_for_lot(lot, limit=None):
        demand = found.demand
        if _insert_alert(lot.id, demand.id, found.match.score.total) is None:
            continue
        new += 1
        buyers = members(demand.buyer_org_id, Role.buyer)
        digest = digest_users([u.id for u in buyers])
        notify(
            [u for u in buyers if u.id not in digest],
            "match.lot_fits",
            {
                "lot": lot.id,
                "lot_title": lot.title,
                "demand": demand.id,
                "commodity": demand.commodity.name_zh,
                "commodity_en": demand.commodity.name_en,
                "remaining_g": lot.remaining_g,
                "unit": lot.quantity_unit.value,
                "price_fen_per_t": lot.price_fen_per_t,
                "price_unit": lot.price_unit.value,
                "score": found.match.score.total,
            },
            url=f"/lots/{lot.id}",
            actor=actor,
        )
    return new


@lot_offered.connect
def _on_lot_offered(lot: Lot, *, actor: User | None = None, event: str = "posted") -> None:
    alert_for_lot(lot, actor)


def set_digest(user: User, daily: bool) -> None:
    """Choose immediate alerts or one daily digest; the digest starts from now."""
    latest = db.session.scalar(select(func.max(MatchAlert.id))) or 0
    setting = db.session.get(AlertSetting, user.id)
    if setting is None:
        setting = AlertSetting(user_id=user.id, daily_digest=daily, digest_through_id=latest)
        db.session.add(setting)
    elif setting.daily_digest != daily:
        setting.daily_digest = daily
        setting.digest_through_id = latest
    db.session.flush()


def wants_digest(user: User) -> bool:
    setting = db.session.get(AlertSetting, user.id)
    return bool(setting and setting.daily_digest)


def send_digests() -> int:
    """Send each digest user the alerts since their last digest, at most once a day (cron-safe).

    Each user's step is one guarded UPDATE (WHERE digest_through_id = the value read and no
    digest sent today), so two runs at once send one digest.
    """
    today = local_today()
    sent = 0
    settings = db.session.scalars(
        select(AlertSetting)
        .where(
            AlertSetting.daily_digest.is_(True),
            or_(AlertSetting.digest_sent_on.is_(None), AlertSetting.digest_sent_on < today),
        )
        .order_by(AlertSetting.user_id)
    ).all()
    for setting in settings:
        user = db.session.get(User, setting.user_id)
        if user is None or not user.is_active or user.organisation_id is None:
            continue
        alerts = db.session.execute(
            select(MatchAlert.id, Lot.title)
            .join(Demand, Demand.id == MatchAlert.demand_id)
            .join(Lot, Lot.id == MatchAlert.lot_id)
            .where(
                Demand.buyer_org_id == user.organisation_id,
                MatchAlert.id > setting.digest_through_id,
            )
            .order_by(MatchAlert.id)
        ).all()
        if not alerts:
            continue
        done = db.session.execute(
            update(AlertSetting)
            .where(
                AlertSetting.user_id == setting.user_id,
                AlertSetting.digest_through_id == setting.digest_through_id,
                or_(AlertSetting.digest_sent_on.is_(None), AlertSetting.digest_sent_on < today),
            )
            .values(digest_through_id=alerts[-1].id, digest_sent_on=today)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not done:
            continue
        titles = list(dict.fromkeys(title for _id, title in alerts))
        notify(
            [user],
            "match.digest",
            {"count": len(titles), "lots": titles[:DIGEST_NAMES]},
            url="/demands",
        )
        sent += 1
    return sent


# --- words ----------------------------------------------------------------------------------


@message("match.lot_fits")
def _lot_fits(p: dict[str, Any]) -> str:
    lang = current_language()
    return _(
        "A lot fits your demand for %(commodity)s: %(lot)s, %(quantity)s at %(price)s.",
        commodity=p["commodity"] if lang == "zh" else p.get("commodity_en", p["commodity"]),
        lot=p["lot_title"],
        quantity=format_mass(p["remaining_g"], p["unit"], lang),
        price=format_price(p["price_fen_per_t"], p["price_unit"], lang),
    )


@message("match.digest")
def _digest(p: dict[str, Any]) -> str:
    names = "、".join(p["lots"]) if current_language() == "zh" else "; ".join(p["lots"])
    return ngettext(
        "Today %(num)d lot fits your demands: %(names)s",
        "Today %(num)d lots fit your demands: %(names)s",
        p["count"],
        names=names,
    )
