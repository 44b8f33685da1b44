"""The only code that writes rescue proposals and donations. Operations flush, never commit.

- `propose_due(now)`: the worker's hourly task; proposes each at-risk lot's due step, lapses
  what a later step or a closed lot left unanswered, tells the cooperative.
- `take` / `decline`: the cooperative answers a step.
- `donate`: produce given away from a lot, with a receipt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from produce_match.accounts.models import (
    CONSUMPTION_AID,
    BuyerKind,
    Organisation,
    OrgKind,
    Role,
    User,
)
from produce_match.audit.operations import record
from produce_match.database import utcnow
from produce_match.demands.models import MATCHED, Demand
from produce_match.errors import Conflict, ValidationFailed
from produce_match.extensions import db
from produce_match.i18n import current_language
from produce_match.lots import operations as lots
from produce_match.lots.models import SELLABLE, Lot, LotStatus
from produce_match.matching import queries as matching
from produce_match.notifications.messages import message
from produce_match.notifications.operations import notify_members
from produce_match.orders.models import lot_today
from produce_match.rescue import ladder
from produce_match.rescue.models import (
    PROPOSALS,
    Donation,
    ProposalAction,
    ProposalStatus,
    RescueProposal,
    RescueStep,
)
from produce_match.units import (
    MassUnit,
    UnitError,
    cost_fen,
    format_mass,
    format_price,
    parse_unit,
    price_in,
    to_grams,
)

#: the kinds of buyer the aid step turns to: consumption aid (canteens, schools), food banks
AID_KINDS = sorted(kind.value for kind in CONSUMPTION_AID | {BuyerKind.food_bank})


def step_days() -> tuple[int, ...]:
    return tuple(current_app.config.get("RESCUE_STEP_DAYS", ladder.DEFAULT_STEP_DAYS))


# --- what each step would do ------------------------------------------------------------------


def _demands_of(commodity_id: int) -> list[Demand]:
    return list(
        db.session.scalars(
            select(Demand)
            .where(Demand.status.in_(sorted(MATCHED)), Demand.commodity_id == commodity_id)
            .options(*matching.DEMAND_LOADS)
            .order_by(Demand.id)
        )
    )


def reprice_figures(lot: Lot, today: date) -> ladder.Reprice:
    """The reprice step's proposal for `lot` (see ladder.reprice)."""
    demands = _demands_of(lot.commodity_id)
    records = matching.buyer_records(d.buyer_org_id for d in demands)
    facts = matching.lot_facts(lot, today)
    return ladder.reprice(facts, [matching.demand_facts(d, records) for d in demands], today)


def widen_targets(lot: Lot, today: date) -> list[Demand]:
    """Demands the widen step alerts: fitting but for distance, and processors' demands for the
    commodity whatever the grade (see ladder.widen_fits)."""
    demands = _demands_of(lot.commodity_id)
    records = matching.buyer_records(d.buyer_org_id for d in demands)
    facts = matching.lot_facts(lot, today)
    return [
        d
        for d in demands
        if ladder.widen_fits(
            facts,
            matching.demand_facts(d, records),
            today,
            processor=d.buyer.buyer_kind is BuyerKind.processor,
        )
    ]


def aid_targets() -> list[Organisation]:
    """The organisations the aid step tells: consumption-aid buyers and food banks."""
    return list(
        db.session.scalars(
            select(Organisation)
            .where(Organisation.kind == OrgKind.buyer, Organisation.buyer_kind.in_(AID_KINDS))
            .order_by(Organisation.id)
        )
    )


@dataclass(frozen=True)
class Figures:
    """What a step proposes for a lot as it stands (written into the proposal, or shown)."""

    step: RescueStep
    days_left: int
    proposed_price_fen_per_t: int | None = None
    demands_before: int | None = None
    demands_after: int | None = None
    buyers_reached: int | None = None


def figures(lot: Lot, step: RescueStep, today: date) -> Figures:
    """The figures of `step` for `lot` as of `today` (reads only)."""
    days_left = (lot.spoil_by - today).days
    if step is RescueStep.reprice:
        found = reprice_figures(lot, today)
        return Figures(
            step, days_left, found.price_fen_per_t, found.demands_before, found.demands_after
        )
    if step is RescueStep.widen:
        orgs = {d.buyer_org_id for d in widen_targets(lot, today)}
        return Figures(step, days_left, buyers_reached=len(orgs))
    return Figures(step, days_left, buyers_reached=len(aid_targets()))


def due_for(lot: Lot, today: date) -> RescueStep | None:
    """The step due for `lot` today (None: none, or the lot is closed or empty)."""
    return ladder.due_step(
        (lot.spoil_by - today).days,
        step_days(),
        open_with_stock=lot.status in SELLABLE and lot.remaining_g > 0,
    )


# --- the worker -------------------------------------------------------------------------------


def _lapse(proposal: RescueProposal, reason: str) -> bool:
    moved = PROPOSALS.move(
        proposal,
        ProposalAction.lapse,
        expected=ProposalStatus.proposed,
        values={"answered_at": utcnow()},
        facts={"reason": reason},
        strict=False,
    )
    return moved is not None


def propose(lot: Lot, step: RescueStep, today: date) -> RescueProposal | None:
    """Record `step` for `lot` unless it or a later step was proposed; lapse earlier steps that
    still wait. The new proposal, or None."""
    existing = list(
        db.session.scalars(select(RescueProposal).where(RescueProposal.lot_id == lot.id))
    )
    if any(p.step.rung >= step.rung for p in existing):
        return None
    found = figures(lot, step, today)
    proposal = RescueProposal(
        lot_id=lot.id,
        step=step,
        status=ProposalStatus.proposed,
        proposed_at=utcnow(),
        days_left=found.days_left,
        remaining_g=lot.remaining_g,
        price_fen_per_t=lot.price_fen_per_t,
        proposed_price_fen_per_t=found.proposed_price_fen_per_t,
        demands_before=found.demands_before,
        demands_after=found.demands_after,
        buyers_reached=found.buyers_reached,
    )
    try:
        with db.session.begin_nested():  # another worker proposing the same step at once
            db.session.add(proposal)
            db.session.flush()
    except IntegrityError:
        return None
    for earlier in existing:
        if earlier.status is ProposalStatus.proposed:
            _lapse(earlier, f"{step.value}_proposed")
    record(
        None,
        proposal,
        "proposed",
        to_state=ProposalStatus.proposed.value,
        changes={
            "lot_id": lot.id,
            "step": step.value,
            "days_left": found.days_left,
            "remaining_g": lot.remaining_g,
            "proposed_price_fen_per_t": found.proposed_price_fen_per_t,
            "demands_before": found.demands_before,
            "demands_after": found.demands_after,
            "buyers_reached": found.buyers_reached,
        },
    )
    notify_members(
        [(lot.cooperative_id, Role.cooperative)],
        "rescue.proposed",
        {
            "lot": lot.id,
            "lot_title": lot.title,
            "step": step.value,
            "days_left": found.days_left,
        },
        url=f"/lots/{lot.id}#rescue",
    )
    return proposal


def propose_due(now: datetime | None = None) -> dict[str, int]:
    """Propose each at-risk lot's due step, lapse what is left waiting on closed lots (safe to
    run at any time, and twice at once)."""
    now = now or utcnow()
    widest = max(step_days())
    # a day's margin for the lots' own time zones; each lot's own day decides
    horizon = now.date() + timedelta(days=widest + 1)
    lots_due = db.session.scalars(
        select(Lot)
        .where(
            Lot.status.in_(sorted(SELLABLE)),
            Lot.remaining_g > 0,
            Lot.spoil_by <= horizon,
            Lot.spoil_by >= now.date() - timedelta(days=1),
        )
        .options(selectinload(Lot.cooperative), selectinload(Lot.county))
        .order_by(Lot.spoil_by, Lot.id)
    ).all()
    proposed = 0
    for lot in lots_due:
        today = lot_today(lot, now)
        step = due_for(lot, today)
        if step is not None and propose(lot, step, today) is not None:
            proposed += 1
    waiting = db.session.scalars(
        select(RescueProposal)
        .join(Lot, Lot.id == RescueProposal.lot_id)
        .where(
            RescueProposal.status == ProposalStatus.proposed,
            or_(
                Lot.status.not_in(sorted(SELLABLE)),
                Lot.remaining_g <= 0,
                Lot.spoil_by < now.date(),
            ),
        )
        .order_by(RescueProposal.id)
    ).all()
    lapsed = 0
    for proposal in waiting:
        lot = proposal.lot
        if lot.status in SELLABLE and lot.remaining_g > 0 and lot.spoil_by >= lot_today(lot, now):
            continue  # still open where it is
        lapsed += _lapse(proposal, "lot_closed")
    return {"proposed": proposed, "lapsed": lapsed}


# --- the cooperative's answers ----------------------------------------------------------------


def _answer(actor: User, proposal: RescueProposal, action: ProposalAction, **values: Any) -> None:
    PROPOSALS.move(
        proposal,
        action,
        actor=actor,
        values={"answered_at": utcnow(), "answered_by_id": actor.id, **values},
        facts={"step": proposal.step.value, **values},
    )


def take(
    actor: User,
    proposal: RescueProposal,
    *,
    price: str | None = None,
    price_unit: str | None = None,
    now: datetime | None = None,
) -> RescueProposal:
    """Take a proposed step: reprice sets the lot's price (the proposed one, or the one the
    cooperative adjusted it to); widen and aid tell the buyers they reach."""
    now = now or utcnow()
    lot = proposal.lot
    if lot.status is not LotStatus.open or lot.remaining_g <= 0:
        raise Conflict(_("This lot is no longer on offer."), code="lot_closed")
    today = lot_today(lot, now)
    if proposal.step is RescueStep.reprice:
        unit = parse_unit(price_unit) if price_unit else lot.price_unit
        if not price:
            if proposal.proposed_price_fen_per_t is None:
                raise ValidationFailed(
                    _("Please correct the marked fields."), fields={"price": [_("Enter a price.")]}
                )
            price = format(price_in(proposal.proposed_price_fen_per_t, unit), "f")
        _answer(actor, proposal, ProposalAction.take)
        lots.update_lot(actor, lot, lots.LotInput(price=price, price_unit=unit.value))
        return proposal
    if proposal.step is RescueStep.widen:
        orgs = sorted({d.buyer_org_id for d in widen_targets(lot, today)})
        kind = "rescue.widened"
    else:
        orgs = [o.id for o in aid_targets()]
        kind = "rescue.aid"
    _answer(actor, proposal, ProposalAction.take, buyers_reached=len(orgs))
    params = {
        "lot": lot.id,
        "lot_title": lot.title,
        "commodity": lot.commodity.name_zh,
        "commodity_en": lot.commodity.name_en,
        "remaining_g": lot.remaining_g,
        "unit": lot.quantity_unit.value,
        "price_fen_per_t": lot.price_fen_per_t,
        "price_unit": lot.price_unit.value,
        "days_left": (lot.spoil_by - today).days,
    }
    for org_id in orgs:
        notify_members([(org_id, Role.buyer)], kind, params, url=f"/lots/{lot.id}", actor=actor)
    return proposal


def decline(actor: User, proposal: RescueProposal) -> RescueProposal:
    """The cooperative chooses not to take the step."""
    _answer(actor, proposal, ProposalAction.decline)
    return proposal


# --- donations --------------------------------------------------------------------------------

RECEIPT_PREFIX = "JZ"


def _receipt_no(lot: Lot, year: int, number: int) -> str:
    return f"{RECEIPT_PREFIX}-{lot.county_code}-{year}-{number:04d}"


def _next_number(lot: Lot, year: int) -> int:
    prefix = f"{RECEIPT_PREFIX}-{lot.county_code}-{year}-"
    count = db.session.scalar(
        select(func.count()).select_from(Donation).where(Donation.receipt_no.like(prefix + "%"))
    )
    return int(count or 0) + 1


def donate(
    actor: User,
    lot: Lot,
    *,
    quantity: str,
    unit: str,
    recipient_org_id: int | None = None,
    recipient_name: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> Donation:
    """Give `quantity` of the lot away: the lot's remainder goes down as a sale's would, and a
    donation with its receipt number records it, valued at the lot's asking price."""
    now = now or utcnow()
    errors: dict[str, list[str]] = {}
    try:
        mass_unit = parse_unit(unit or lot.quantity_unit.value)
        grams = to_grams(quantity, mass_unit)
        if grams <= 0:
            raise UnitError("not positive")
    except (UnitError, ValueError):
        errors["quantity"] = [_("Enter a quantity greater than 0.")]
        mass_unit, grams = MassUnit.kg, 0
    recipient = None
    name = (recipient_name or "").strip()
    if recipient_org_id:
        recipient = db.session.get(Organisation, recipient_org_id)
        if recipient is None or recipient.kind is not OrgKind.buyer:
            errors["recipient"] = [_("Choose a recipient from the list, or type its name.")]
        else:
            name = recipient.name
    elif not name:
        errors["recipient"] = [_("Choose a recipient from the list, or type its name.")]
    elif len(name) > 120:
        errors["recipient"] = [_("At most %(n)d characters.", n=120)]
    note = (note or "").strip() or None
    if note is not None and len(note) > 2000:
        errors["note"] = [_("At most %(n)d characters.", n=2000)]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    aid = db.session.scalar(
        select(RescueProposal).where(
            RescueProposal.lot_id == lot.id, RescueProposal.step == RescueStep.aid
        )
    )
    year = lot_today(lot, now).year
    value = cost_fen(grams, lot.price_fen_per_t)
    number = _next_number(lot, year)
    for _attempt in range(5):
        donation = Donation(
            receipt_no=_receipt_no(lot, year, number),
            lot_id=lot.id,
            proposal_id=aid.id if aid is not None else None,
            donor_org_id=lot.cooperative_id,
            recipient_org_id=recipient.id if recipient is not None else None,
            recipient_name=name,
            quantity_g=grams,
            unit=mass_unit,
            value_fen=value,
            note=note,
            donated_at=now,
            created_by_id=actor.id,
        )
        try:
            with db.session.begin_nested():  # another donation took the number meanwhile
                db.session.add(donation)
                db.session.flush()
            break
        except IntegrityError:
            number += 1
    else:
        raise Conflict(_("Please try again."), code="receipt_taken")
    lots.give_away(actor, lot, grams, today=lot_today(lot, now), facts={"donation_id": donation.id})
    record(
        actor,
        donation,
        "donated",
        changes={
            "receipt_no": donation.receipt_no,
            "lot_id": lot.id,
            "quantity_g": grams,
            "unit": mass_unit.value,
            "recipient_org_id": donation.recipient_org_id,
            "recipient_name": name,
            "value_fen": value,
        },
    )
    if recipient is not None:
        notify_members(
            [(recipient.id, Role.buyer)],
            "rescue.donated",
            {
                "donation": donation.id,
                "lot_title": lot.title,
                "donor": lot.cooperative.name,
                "quantity_g": grams,
                "unit": mass_unit.value,
            },
            url=f"/donations/{donation.id}",
            actor=actor,
        )
    return donation


# --- words ------------------------------------------------------------------------------------


def _step_label(value: str) -> str:
    return str(RescueStep(value).label)


@message("rescue.proposed")
def _proposed(p: dict[str, Any]) -> str:
    return _(
        "%(lot)s spoils in %(days)d days: we propose to %(step)s.",
        lot=p["lot_title"],
        days=p["days_left"],
        step=_step_label(p["step"]),
    )


def _offer(p: dict[str, Any]) -> dict[str, str]:
    lang = current_language()
    return {
        "commodity": p["commodity"] if lang == "zh" else p.get("commodity_en", p["commodity"]),
        "lot": p["lot_title"],
        "quantity": format_mass(p["remaining_g"], p["unit"], lang),
        "price": format_price(p["price_fen_per_t"], p["price_unit"], lang),
    }


@message("rescue.widened")
def _widened(p: dict[str, Any]) -> str:
    return _(
        "A lot of %(commodity)s may suit you, though it is further away or of another grade: "
        "%(lot)s, %(quantity)s at %(price)s.",
        **_offer(p),
    )


@message("rescue.aid")
def _aid(p: dict[str, Any]) -> str:
    return _(
        "Help a village sell before it spoils: %(lot)s, %(quantity)s of %(commodity)s at "
        "%(price)s, %(days)d days left. It can also be donated.",
        days=p["days_left"],
        **_offer(p),
    )


@message("rescue.donated")
def _donated(p: dict[str, Any]) -> str:
    return _(
        "%(donor)s donated %(quantity)s of %(lot)s to you. The receipt is ready.",
        donor=p["donor"],
        quantity=format_mass(p["quantity_g"], p["unit"], current_language()),
        lot=p["lot_title"],
    )
