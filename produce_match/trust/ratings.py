"""Ratings after completion: one per side per order; averages shown from the floor on.

Within RATING_WINDOW_DAYS of the moment an order was completed (or its dispute resolved), each
side rates the other once: 1-5 stars, a few fixed tags (`TAGS_BY`) and a short comment. A rating
is never edited nor withdrawn: it is a statement made once, like a signed delivery note.

Sealed until both sides have rated (so that neither answers the other's rating): the side that
rated sees what it gave; the rating it received shows once it has rated too or the window has
closed. Summaries (organisation pages, the API) count a rating once it is revealed: the other
side rated too, or the rating is older than the window (by then the window has surely closed).
Averages, tag counts and comments are shown only from RATINGS_SHOWN_FROM ratings on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from produce_match.accounts.models import Role, User
from produce_match.audit.models import AuditEvent
from produce_match.audit.operations import record
from produce_match.database import utcnow
from produce_match.errors import Conflict, DomainError, ValidationFailed
from produce_match.extensions import db
from produce_match.notifications.messages import message
from produce_match.notifications.operations import notify_members
from produce_match.orders import operations as orders
from produce_match.orders.models import Order, OrderStatus, Party
from produce_match.orders.permissions import order_party
from produce_match.trust.models import TAGS_BY, Rating, RatingTag

#: the longest comment, in characters
MAX_COMMENT = 500
#: the states in which an order may be rated: completed, or settled after a dispute
RATEABLE = frozenset({OrderStatus.completed, OrderStatus.resolved})
#: the two sides that rate each other
SIDES = (Party.buyer, Party.cooperative)
#: the role of the members who speak for each side
_ROLE = {Party.buyer: Role.buyer, Party.cooperative: Role.cooperative}


class NotAllowed(DomainError):
    """Only the two trading sides of an order rate it (officials and administrators never)."""

    status = 403
    code = "forbidden"


def window() -> timedelta:
    return timedelta(days=current_app.config.get("RATING_WINDOW_DAYS", 14))


def shown_from() -> int:
    return int(current_app.config.get("RATINGS_SHOWN_FROM", 3))


def _other(side: Party) -> Party:
    return Party.cooperative if side is Party.buyer else Party.buyer


# --- summaries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RatingSummary:
    """What pages show of an organisation's ratings: the average only from `shown_from` on."""

    count: int = 0
    #: None below the floor (fewer than RATINGS_SHOWN_FROM ratings)
    average: float | None = None
    #: (tag, how many ratings gave it), most given first; empty below the floor
    tags: tuple[tuple[str, int], ...] = field(default_factory=tuple)
    #: the floor in force (RATINGS_SHOWN_FROM)
    shown_from: int = 3

    @property
    def shown(self) -> bool:
        """Enough ratings to show the average, the tags and the comments."""
        return self.average is not None

    @property
    def tag_labels(self) -> list[tuple[Any, int]]:
        """(the tag in words, count), most given first."""
        return [(RatingTag(tag).label, n) for tag, n in self.tags if tag in _TAG_VALUES]


_TAG_VALUES = frozenset(t.value for t in RatingTag)


def _revealed(now: datetime) -> Any:
    """SQL: the rating may be shown (the other side rated too, or it is older than the window)."""
    other = aliased(Rating)
    return or_(
        exists().where(other.order_id == Rating.order_id, other.by_party != Rating.by_party),
        Rating.created_at <= now - window(),
    )


def summaries_of(
    org_ids: Iterable[int], *, now: datetime | None = None
) -> dict[int, RatingSummary]:
    """`summary_of` for many organisations in one query (for lists); every id is a key."""
    ids = sorted(set(org_ids))
    floor = shown_from()
    if not ids:
        return {}
    now = now or utcnow()
    rows = db.session.execute(
        select(Rating.ratee_org_id, Rating.stars, Rating.tags).where(
            Rating.ratee_org_id.in_(ids), _revealed(now)
        )
    ).all()
    stars: dict[int, list[int]] = {i: [] for i in ids}
    tags: dict[int, Counter[str]] = {i: Counter() for i in ids}
    for org_id, given, given_tags in rows:
        stars[org_id].append(given)
        tags[org_id].update(set(given_tags or ()))
    result = {}
    for org_id in ids:
        count = len(stars[org_id])
        shown = count >= floor
        result[org_id] = RatingSummary(
            count=count,
            average=sum(stars[org_id]) / count if shown else None,
            # most given first; ties in the order of the tags' declaration
            tags=tuple(
                (t.value, tags[org_id][t.value])
                for t in sorted(RatingTag, key=lambda t: -tags[org_id][t.value])
                if tags[org_id][t.value]
            )
            if shown
            else (),
            shown_from=floor,
        )
    return result


def summary_of(org_id: int, *, now: datetime | None = None) -> RatingSummary:
    """The ratings an organisation received, as pages and the API show them."""
    return summaries_of([org_id], now=now)[org_id]


def recent_comments(org_id: int, *, limit: int = 5, now: datetime | None = None) -> list[Rating]:
    """The newest revealed ratings with a comment that an organisation received; none below the
    floor (a comment alone would say what the hidden average hides)."""
    now = now or utcnow()
    if not summary_of(org_id, now=now).shown:
        return []
    return list(
        db.session.scalars(
            select(Rating)
            .where(Rating.ratee_org_id == org_id, Rating.comment.is_not(None), _revealed(now))
            .order_by(Rating.created_at.desc(), Rating.id.desc())
            .limit(limit)
        )
    )


# --- an order's ratings ------------------------------------------------------------------------


def completed_at(order: Order) -> datetime | None:
    """When the order reached completed or resolved (None: it has not).

    From the audit trail; a completed order counts from the end of its dispute window at the
    latest (the timer records it "as if on time", and may run late).
    """
    status = order.current_status
    if status not in RATEABLE:
        return None
    at = db.session.scalar(
        select(func.max(AuditEvent.at)).where(
            AuditEvent.subject_type == Order.__tablename__,
            AuditEvent.subject_id == order.id,
            AuditEvent.to_state == status.value,
        )
    )
    if status is OrderStatus.completed and order.dispute_until is not None:
        at = max(at, order.dispute_until) if at is not None else order.dispute_until
    return at or order.updated_at


def rating_until(order: Order) -> datetime | None:
    """The end of the window in which the order may be rated (None: not completed)."""
    done = completed_at(order)
    return done + window() if done is not None else None


def ratings_of(order: Order) -> dict[Party, Rating]:
    """The ratings given on an order, by the side that gave them."""
    rows = db.session.scalars(select(Rating).where(Rating.order_id == order.id))
    return {Party(r.by_party): r for r in rows}


@dataclass(frozen=True)
class OrderRatings:
    """What the order's page shows of its ratings to one person."""

    #: the viewer's side (buyer or cooperative); None for officials and administrators
    side: Party | None
    #: this side may rate now
    may_rate: bool
    #: when the window closes (None: the order is not completed)
    until: datetime | None
    #: the rating this side gave
    given: Rating | None = None
    #: the rating this side received, once revealed
    received: Rating | None = None
    #: the other side has rated, but it is sealed until this side rates or the window closes
    sealed: bool = False
    #: the tags this side may give
    tags: tuple[RatingTag, ...] = ()
    #: every rating of the order (officials and administrators see both)
    all: tuple[Rating, ...] = ()

    @property
    def shown(self) -> bool:
        return self.may_rate or self.given is not None or self.sealed or bool(self.all)


def _refusal(actor: User | None, order: Order, now: datetime) -> DomainError | None:
    """Why `actor` may not rate `order` at `now` (None: it may)."""
    side = order_party(actor, order)
    if side not in SIDES:
        return NotAllowed(_("Only the buyer and the cooperative of an order rate each other."))
    until = rating_until(order)
    if until is None:
        return Conflict(_("An order is rated once it is completed."), code="order_not_completed")
    if now >= until:
        return Conflict(
            _("The %(days)s days for rating this order are over.", days=window().days),
            code="rating_window_closed",
        )
    if side in ratings_of(order):
        return Conflict(_already_rated(), code="already_rated")
    return None


def _already_rated() -> str:
    return _("Your side has already rated this order; a rating cannot be changed.")


def can_rate(actor: User | None, order: Order, now: datetime | None = None) -> bool:
    """May `actor`'s side still rate `order`?"""
    return _refusal(actor, order, now or utcnow()) is None


def order_ratings(viewer: User | None, order: Order, now: datetime | None = None) -> OrderRatings:
    """What the order's page (and the API) shows `viewer` of the order's ratings."""
    now = now or utcnow()
    side = order_party(viewer, order)
    until = rating_until(order)
    given = ratings_of(order)
    if side not in SIDES:
        # officials and administrators see both, for they settle what went wrong
        return OrderRatings(
            side=None,
            may_rate=False,
            until=until,
            all=tuple(given[s] for s in SIDES if s in given),
        )
    assert side is not None
    mine, theirs = given.get(side), given.get(_other(side))
    closed = until is not None and now >= until
    revealed = theirs is not None and (mine is not None or closed)
    return OrderRatings(
        side=side,
        may_rate=_refusal(viewer, order, now) is None,
        until=until,
        given=mine,
        received=theirs if revealed else None,
        sealed=theirs is not None and not revealed,
        tags=TAGS_BY[side],
    )


# --- rating ------------------------------------------------------------------------------------


def _stars(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        message_ = _("Choose from 1 to 5 stars.")
        raise ValidationFailed(message_, fields={"stars": [message_]})
    return value


def _tags(side: Party, values: Sequence[str] | None) -> list[str]:
    allowed = [t.value for t in TAGS_BY[side]]
    given = [str(v) for v in values or ()]
    wrong = [v for v in given if v not in allowed]
    if wrong:
        message_ = _(
            "These tags are not for your side: %(tags)s. Choose from: %(allowed)s.",
            tags=", ".join(wrong),
            allowed=", ".join(allowed),
        )
        raise ValidationFailed(message_, fields={"tags": [message_]})
    return [t for t in allowed if t in given]  # once each, in the table's order


def _comment(value: str | None) -> str | None:
    text = (value or "").strip()
    if len(text) > MAX_COMMENT:
        message_ = _("At most %(n)s characters.", n=MAX_COMMENT)
        raise ValidationFailed(message_, fields={"comment": [message_]})
    return text or None


def rate(
    actor: User,
    order: Order,
    stars: int | str,
    tags: Sequence[str] | None = None,
    comment: str | None = None,
    *,
    now: datetime | None = None,
) -> Rating:
    """`actor`'s side rates the other side of a completed (or resolved) order, once.

    403 for anyone but the two sides; 409 `order_not_completed`, `rating_window_closed`,
    `already_rated` (also when another request of the same side got there first); 422 bad input.
    """
    now = now or utcnow()
    orders.apply_expiry(order, now)  # a delivery past its dispute window is completed now
    refusal = _refusal(actor, order, now)
    if refusal is not None:
        raise refusal
    side = order_party(actor, order)
    assert side is not None
    values = {"stars": _stars(stars), "tags": _tags(side, tags), "comment": _comment(comment)}
    rater, ratee = (
        (order.buyer_org_id, order.cooperative_org_id)
        if side is Party.buyer
        else (order.cooperative_org_id, order.buyer_org_id)
    )
    rating = Rating(
        order_id=order.id,
        by_party=side,
        rater_org_id=rater,
        ratee_org_id=ratee,
        rated_by_id=actor.id,
        created_at=now,
        **values,
    )
    try:
        with db.session.begin_nested():  # the same side in another request, at the same time
            db.session.add(rating)
    except IntegrityError:
        raise Conflict(_already_rated(), code="already_rated") from None
    record(actor, rating, "rated", changes={"order_id": order.id, "by": side.value, **values})
    both = _other(side) in ratings_of(order)
    notify_members(
        [(ratee, _ROLE[_other(side)])],
        "rating.received",
        {
            "order": order.id,
            "rater": order.buyer_org.name if side is Party.buyer else order.cooperative_org.name,
            "revealed": both,
        },
        url=f"/orders/{order.id}#rating",
        actor=actor,
    )
    return rating


# --- words -------------------------------------------------------------------------------------


@message("rating.received")
def _received(p: dict[str, Any]) -> str:
    if p.get("revealed"):
        return _(
            "%(rater)s rated order %(order)s. Both ratings can now be seen on the order's page.",
            rater=p["rater"],
            order=p["order"],
        )
    return _(
        "%(rater)s rated order %(order)s. You will see the rating once you have rated too, "
        "or when the rating window closes.",
        rater=p["rater"],
        order=p["order"],
    )
