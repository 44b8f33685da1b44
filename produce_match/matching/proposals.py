"""Proposals: an official sends an allocation (this much of a lot to this demand) to both
parties; each answers. Operations flush, never commit, and record every step.

When both accept, the order is placed at once through the orders domain, by the buyer's member
who accepted (`place_order`: the quantity is reserved) and accepted for the cooperative by its
member who accepted (`accept`: payment is requested): both already said yes to exactly this.
If the lot no longer has the quantity, the proposal ends as `failed`, saying why. One "no"
ends it as `declined`. Every answer is one guarded UPDATE, so double clicks and two members
answering at once are counted once.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, update

from produce_match import policy
from produce_match.accounts.models import Role, User
from produce_match.audit.operations import record
from produce_match.database import utcnow
from produce_match.demands.models import Demand
from produce_match.errors import Conflict, ValidationFailed
from produce_match.extensions import db
from produce_match.lots.models import Lot, meets_minimum
from produce_match.matching import queries
from produce_match.matching.models import (
    AWAITING_ANSWERS,
    PROPOSALS,
    Answer,
    Proposal,
    ProposalAction,
    ProposalStatus,
)
from produce_match.matching.rules import check
from produce_match.notifications.messages import message
from produce_match.notifications.operations import members, notify
from produce_match.orders import operations as orders
from produce_match.units import amount_text, format_mass


def _params(p: Proposal) -> dict[str, Any]:
    return {
        "proposal": p.id,
        "lot_title": p.lot.title,
        "buyer": p.demand.buyer.name,
        "cooperative": p.lot.cooperative.name,
        "quantity_g": p.quantity_g,
        "unit": p.demand.quantity_unit.value,
    }


def _parties(p: Proposal) -> list[User]:
    return members(p.demand.buyer_org_id, Role.buyer) + members(
        p.lot.cooperative_id, Role.cooperative
    )


def propose(actor: User, lot: Lot, demand: Demand, quantity_kg: int) -> Proposal:
    """Send `quantity_kg` of `lot` to `demand` as a proposal to both parties."""
    policy.ensure(actor, "propose", lot)
    fit = check(
        queries.lot_facts(lot),
        queries.demand_facts(demand, queries.buyer_records([demand.buyer_org_id])),
        lot.today(),
    )
    if not fit.ok:
        raise Conflict(_("This lot does not fit this demand (any more)."), code="not_compatible")
    grams = int(quantity_kg) * 1000
    if grams <= 0 or grams > lot.remaining_g or grams > demand.max_quantity_g:
        message_ = _("More than the lot has left or the buyer takes.")
        raise ValidationFailed(message_, fields={"quantity_kg": [message_]})
    if grams < demand.min_quantity_g:
        message_ = _("Less than the buyer's minimum.")
        raise ValidationFailed(message_, fields={"quantity_kg": [message_]})
    if not meets_minimum(lot, grams):
        message_ = _(
            "The cooperative sells at least %(min)s per order.",
            min=format_mass(lot.min_order_g, lot.quantity_unit),
        )
        raise ValidationFailed(message_, fields={"quantity_kg": [message_]})
    proposal = Proposal(
        lot=lot,
        demand=demand,
        quantity_g=grams,
        status=ProposalStatus.proposed,
        proposed_by_id=actor.id,
    )
    db.session.add(proposal)
    db.session.flush()
    record(
        actor,
        proposal,
        "proposed",
        to_state=ProposalStatus.proposed.value,
        changes={"lot_id": lot.id, "demand_id": demand.id, "quantity_g": grams},
    )
    notify(_parties(proposal), "match.proposed", _params(proposal), url=f"/proposals/{proposal.id}")
    return proposal


def answer(actor: User, proposal: Proposal, accept: bool) -> None:
    """One party's answer; when both have accepted, the order is placed and accepted."""
    side = policy.proposal_side(actor, proposal)
    if side is None:
        raise Conflict(_("Only the buyer and the cooperative answer a proposal."), code="forbidden")
    answer_col = Proposal.buyer_answer if side == "buyer" else Proposal.cooperative_answer
    by_col = "buyer_answered_by_id" if side == "buyer" else "cooperative_answered_by_id"
    value = Answer.accepted if accept else Answer.declined
    done = db.session.execute(
        update(Proposal)
        .where(
            Proposal.id == proposal.id,
            Proposal.status.in_(sorted(AWAITING_ANSWERS)),
            answer_col.is_(None),
        )
        .values({answer_col.key: value, by_col: actor.id, "updated_at": utcnow()})
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(proposal)
    if not done:
        raise Conflict(_("This proposal has already been answered."), code="answered")
    record(actor, proposal, f"{side}_{value.value}", changes={"side": side})
    if not accept:
        _finish(actor, proposal, ProposalAction.decline)
        notify(
            [*_parties(proposal), proposal.proposed_by],
            "match.declined",
            {**_params(proposal), "side": side},
            url=f"/proposals/{proposal.id}",
            actor=actor,
        )
        return
    if proposal.buyer_answer is Answer.accepted and proposal.cooperative_answer is Answer.accepted:
        _place(actor, proposal)


def _finish(actor: User | None, proposal: Proposal, action: ProposalAction, **values: Any) -> bool:
    moved = PROPOSALS.move(
        proposal,
        action,
        actor=actor,
        values={"updated_at": utcnow(), **values},
        facts={k: v for k, v in values.items() if isinstance(v, int | str)} or None,
        strict=False,
    )
    db.session.refresh(proposal)
    return moved is not None


def _place(actor: User, proposal: Proposal) -> None:
    lot, demand = proposal.lot, proposal.demand
    buyer, seller = proposal.buyer_answered_by, proposal.cooperative_answered_by
    assert buyer is not None and seller is not None
    problem = None
    if not lot.orderable:
        problem = _("The lot is no longer on offer.")
    elif lot.remaining_g < proposal.quantity_g:
        problem = _(
            "Only %(left)s of the lot is left.",
            left=format_mass(lot.remaining_g, lot.quantity_unit),
        )
    elif not meets_minimum(lot, proposal.quantity_g):
        problem = _(
            "The cooperative sells at least %(min)s per order.",
            min=format_mass(lot.min_order_g, lot.quantity_unit),
        )
    elif not buyer.is_active or not seller.is_active:
        problem = _("An account that accepted is no longer active.")
    order = None
    if problem is None:
        unit = demand.quantity_unit
        try:  # delivered where the demand says; refused before anything is reserved
            order = orders.place_order(
                buyer, lot, amount_text(proposal.quantity_g, unit), unit, demand=demand
            )
        except ValidationFailed as exc:  # e.g. no receiver's phone is known for the buyer
            problem = " ".join(
                [str(exc.message), *(str(m) for ms in exc.fields.values() for m in ms)]
            )
    if order is None:
        _finish(actor, proposal, ProposalAction.fail, problem=str(problem)[:300])
        notify(
            [*_parties(proposal), proposal.proposed_by],
            "match.failed",
            {**_params(proposal), "problem": str(problem)},
            url=f"/proposals/{proposal.id}",
        )
        return
    orders.accept(seller, order)
    _finish(actor, proposal, ProposalAction.order, order_id=order.id)
    url = f"/proposals/{proposal.id}"
    notify([proposal.proposed_by], "match.ordered", _params(proposal), url=url)


def for_user(user: User) -> list[Proposal]:
    """The proposals a user sees: its organisation's (either side), or those it proposed."""
    query = select(Proposal).order_by(Proposal.id.desc()).limit(200)
    if user.role is Role.buyer:
        query = query.join(Demand).where(Demand.buyer_org_id == user.organisation_id)
    elif user.role is Role.cooperative:
        query = query.join(Lot).where(Lot.cooperative_id == user.organisation_id)
    elif not user.is_admin:
        query = query.where(Proposal.proposed_by_id == user.id)
    return list(db.session.scalars(query))


# --- words ----------------------------------------------------------------------------------


def _q(p: dict[str, Any]) -> str:
    from produce_match.i18n import current_language

    return format_mass(p["quantity_g"], p["unit"], current_language())


@message("match.proposed")
def _proposed(p: dict[str, Any]) -> str:
    return _(
        "Proposal: %(quantity)s of %(lot)s from %(cooperative)s to %(buyer)s. Please answer.",
        quantity=_q(p),
        lot=p["lot_title"],
        cooperative=p["cooperative"],
        buyer=p["buyer"],
    )


@message("match.declined")
def _declined(p: dict[str, Any]) -> str:
    return _(
        "The proposal of %(quantity)s of %(lot)s to %(buyer)s was declined.",
        quantity=_q(p),
        lot=p["lot_title"],
        buyer=p["buyer"],
    )


@message("match.failed")
def _failed(p: dict[str, Any]) -> str:
    return _(
        "Both accepted the proposal of %(quantity)s of %(lot)s, but no order could be "
        "placed: %(problem)s",
        quantity=_q(p),
        lot=p["lot_title"],
        problem=p["problem"],
    )


@message("match.ordered")
def _ordered(p: dict[str, Any]) -> str:
    return _(
        "Both accepted: %(buyer)s ordered %(quantity)s of %(lot)s.",
        buyer=p["buyer"],
        quantity=_q(p),
        lot=p["lot_title"],
    )
