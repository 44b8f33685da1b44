"""Writing the problem ledger and the reference prices. Operations flush, never commit.

Every state change of a ledger entry is one guarded UPDATE (WHERE status = the state it was read
in), so that two officials clicking at once change it once; each is recorded and notified.
"""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from produce_match import policy
from produce_match.accounts.models import Organisation, Role, User
from produce_match.audit.operations import record
from produce_match.catalog.models import Commodity, Region, RegionLevel
from produce_match.database import utcnow
from produce_match.dates import BadDate, parse_date
from produce_match.errors import Conflict, ValidationFailed
from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.lots.photos import ProcessedPhoto
from produce_match.lots.uploads import process_uploads
from produce_match.monitor.models import (
    PROBLEMS,
    SOLVED,
    FollowUp,
    Problem,
    ProblemAction,
    ProblemCategory,
    ProblemPhoto,
    ProblemStatus,
    ReferencePrice,
)
from produce_match.notifications.messages import message
from produce_match.notifications.operations import members, notify, overseers
from produce_match.storage import save_in_transaction
from produce_match.units import UnitError, fen_per_tonne, parse_unit, to_fen

MAX_TEXT = 4000
MAX_PHOTOS = 6


def _text(value: str | None, field: str, *, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        message_ = _("Please write something.")
        raise ValidationFailed(message_, fields={field: [message_]})
    if len(text) > MAX_TEXT:
        message_ = _("At most %(n)d characters.", n=MAX_TEXT)
        raise ValidationFailed(message_, fields={field: [message_]})
    return text


def _params(problem: Problem) -> dict[str, Any]:
    return {
        "problem": problem.id,
        "cooperative": problem.cooperative.name,
        "category": problem.category.value,
    }


def _url(problem: Problem) -> str:
    return f"/monitor/problems/{problem.id}"


def _cooperative_members(problem: Problem) -> list[User]:
    return members(problem.cooperative_id, Role.cooperative)


def _move(
    actor: User,
    problem: Problem,
    action: ProblemAction,
    values: dict[str, Any],
    facts: dict[str, Any],
) -> None:
    """Move the entry if (and only if) it is still in the state it was read in."""
    PROBLEMS.move(
        problem,
        action,
        actor=actor,
        expected=problem.status,
        values={"updated_at": utcnow(), **values},
        facts=facts,
    )
    db.session.refresh(problem)


def raise_problem(
    actor: User,
    cooperative: Organisation,
    category: str,
    description: str,
    *,
    lot: Lot | None = None,
    photos: list[bytes] | None = None,
) -> Problem:
    """A cooperative (or an official on its behalf) enters a problem in the ledger."""
    try:
        cat = ProblemCategory(category)
    except ValueError:
        message_ = _("Choose a category.")
        raise ValidationFailed(message_, fields={"category": [message_]}) from None
    if lot is not None and lot.cooperative_id != cooperative.id:
        message_ = _("This lot is not the cooperative's.")
        raise ValidationFailed(message_, fields={"lot_id": [message_]})
    place = lot if lot is not None else cooperative
    if place.province_code is None:
        message_ = _("The cooperative has no place: its office cannot be found.")
        raise ValidationFailed(message_, fields={"cooperative": [message_]})
    problem = Problem(
        cooperative=cooperative,
        lot=lot,
        province_code=place.province_code,
        county_code=place.county_code,
        township=place.township,
        village=place.village,
        category=cat,
        description=_text(description, "description"),
        status=ProblemStatus.open,
        raised_by_id=actor.id,
    )
    policy.ensure(actor, "create", problem)
    processed = process_uploads(actor, photos or [], max_count=MAX_PHOTOS)
    db.session.add(problem)
    db.session.flush()
    for photo in processed:
        add_photo(problem, photo)
    record(
        actor,
        problem,
        "raised",
        to_state=ProblemStatus.open.value,
        changes={"category": cat.value, "lot_id": lot.id if lot else None},
    )
    notify(
        overseers(problem.province_code, problem.county_code) + _cooperative_members(problem),
        "problem.raised",
        _params(problem),
        url=_url(problem),
        actor=actor,
    )
    return problem


def add_photo(problem: Problem, photo: ProcessedPhoto) -> ProblemPhoto:
    """Store a checked photo (see `process_uploads`) with the entry's transaction."""
    name = secrets.token_hex(12)
    key, thumb_key = f"problems/{problem.id}/{name}.jpg", f"problems/{problem.id}/{name}-thumb.jpg"
    save_in_transaction(key, photo.full)
    save_in_transaction(thumb_key, photo.thumb)
    row = ProblemPhoto(
        problem=problem, key=key, thumb_key=thumb_key, width=photo.width, height=photo.height
    )
    db.session.add(row)
    return row


def assign(actor: User, problem: Problem, assignee: User) -> None:
    """The office gives the entry to one of the officials whose jurisdiction holds it."""
    policy.ensure(actor, "assign", problem)
    if not policy.official_covers(assignee, problem.province_code, problem.county_code):
        message_ = _("Assign it to an official of an office whose area holds it.")
        raise ValidationFailed(message_, fields={"assignee_id": [message_]})
    previous = problem.assignee_id
    _move(
        actor,
        problem,
        ProblemAction.assign,
        {"assignee_id": assignee.id},
        {"assignee_id": [previous, assignee.id]},
    )
    notify(
        [assignee, *_cooperative_members(problem)],
        "problem.assigned",
        {**_params(problem), "assignee": assignee.name or assignee.login},
        url=_url(problem),
        actor=actor,
    )


def follow_up(actor: User, problem: Problem, note: str) -> FollowUp:
    """An official or the cooperative records what was done or learnt; the other side sees it."""
    policy.ensure(actor, "follow_up", problem)
    if problem.status in SOLVED:
        raise Conflict(_("Reopen the entry before adding to it."), code="closed")
    row = FollowUp(problem=problem, author_id=actor.id, note=_text(note, "note"))
    db.session.add(row)
    db.session.flush()
    record(actor, problem, "followed_up", changes={"follow_up_id": row.id})
    office: list[User] = [problem.assignee] if problem.assignee else []
    if not office and actor.role is Role.cooperative:  # nobody follows it yet: the office
        office = overseers(problem.province_code, problem.county_code)
    notify(
        [*_cooperative_members(problem), *office],
        "problem.followed_up",
        _params(problem),
        url=_url(problem),
        actor=actor,
    )
    return row


def close(actor: User, problem: Problem, outcome: str) -> None:
    """Close the entry (销号) with its outcome."""
    policy.ensure(actor, "close", problem)
    text = _text(outcome, "outcome")
    _move(
        actor,
        problem,
        ProblemAction.close,
        {"closed_at": utcnow(), "outcome": text},
        {"outcome": text},
    )
    notify(
        [*_cooperative_members(problem), *([problem.assignee] if problem.assignee else [])],
        "problem.closed",
        {**_params(problem), "outcome": text},
        url=_url(problem),
        actor=actor,
    )


def reopen(actor: User, problem: Problem, reason: str) -> None:
    """Open a closed entry again (back to its official, if it had one)."""
    policy.ensure(actor, "reopen", problem)
    text = _text(reason, "reason")
    action = ProblemAction.reopen_to_assignee if problem.assignee_id else ProblemAction.reopen
    superseded = problem.outcome
    _move(
        actor,
        problem,
        action,
        # the outcome no longer holds: it stays in the history, marked superseded
        {"closed_at": None, "outcome": None, "reopen_reason": text, "reopened_at": utcnow()},
        {"reason": text, "superseded_outcome": superseded},
    )
    notify(
        [
            *overseers(problem.province_code, problem.county_code),
            *_cooperative_members(problem),
        ],
        "problem.reopened",
        {**_params(problem), "reason": text},
        url=_url(problem),
        actor=actor,
    )


# --- reference prices ------------------------------------------------------------------------


@dataclass
class PriceInput:
    commodity: Commodity
    county: Region
    price: str
    unit: str
    valid_from: date


def set_reference_price(actor: User, data: PriceInput) -> ReferencePrice:
    """Record the local purchase price of a commodity in a county from a date (or correct it)."""
    try:  # the years any input may name
        parse_date(data.valid_from)
    except BadDate as exc:
        raise ValidationFailed(exc.message, fields={"valid_from": [exc.message]}) from None
    county = data.county
    if county.level is not RegionLevel.county:
        # a province or prefecture code is a region too, and a province office covers it: the
        # reference is the local purchase price of one county, compared with that county's lots
        message_ = _(
            "%(place)s is not a county: a reference price is for one county.", place=county.name
        )
        raise ValidationFailed(message_, fields={"county": [message_]})
    row = ReferencePrice(
        commodity=data.commodity,
        commodity_id=data.commodity.id,
        province_code=county.province_code,
        county_code=county.code,
        price_fen_per_t=1,
        valid_from=data.valid_from,
    )
    if not policy.can(actor, "create", row):
        message_ = _("%(county)s is outside your jurisdiction.", county=county.name)
        raise ValidationFailed(message_, fields={"county": [message_]})
    try:
        unit = parse_unit(data.unit)
        fen = to_fen(data.price)
    except (UnitError, ValueError) as exc:
        message_ = str(getattr(exc, "message", None) or _("Enter a price, such as 6.80."))
        raise ValidationFailed(message_, fields={"price": [message_]}) from None
    if fen <= 0:
        message_ = _("Enter a price, such as 6.80.")
        raise ValidationFailed(message_, fields={"price": [message_]})
    per_t = fen_per_tonne(fen, unit)
    existing = db.session.scalar(
        select(ReferencePrice).where(
            ReferencePrice.commodity_id == data.commodity.id,
            ReferencePrice.county_code == county.code,
            ReferencePrice.valid_from == data.valid_from,
        )
    )
    if existing is not None:
        old = existing.price_fen_per_t
        existing.price_fen_per_t, existing.price_unit = per_t, unit.value
        existing.recorded_by_id = actor.id
        db.session.flush()
        record(actor, existing, "edited", changes={"price_fen_per_t": [old, per_t]})
        return existing
    row.price_fen_per_t, row.price_unit, row.recorded_by_id = per_t, unit.value, actor.id
    db.session.add(row)
    db.session.flush()
    record(
        actor,
        row,
        "recorded",
        changes={"price_fen_per_t": per_t, "valid_from": data.valid_from.isoformat()},
    )
    return row


def price_rows(filename: str, data: bytes) -> list[dict[str, str]]:
    """The rows of an uploaded CSV or XLSX with columns commodity, county, price, unit,
    valid_from (the header row names them)."""
    if filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception:  # noqa: BLE001 (any unreadable file is the same answer)
            raise ValidationFailed(_("This file is not a spreadsheet (CSV or XLSX).")) from None
        values = [
            ["" if c is None else str(c) for c in row]
            for row in book.worksheets[0].iter_rows(values_only=True)
        ]
    else:
        values = list(csv.reader(io.StringIO(data.decode("utf-8-sig", errors="replace"))))
    if not values:
        return []
    header = [h.strip().lower() for h in values[0]]
    return [dict(zip(header, row, strict=False)) for row in values[1:] if any(row)]


def import_reference_prices(actor: User, rows: list[dict[str, str]]) -> int:
    """Record each row (commodity, county, price, unit, valid_from); all or nothing."""
    from produce_match.catalog import commodities, regions

    policy.ensure(actor, "import", ReferencePrice)
    count = 0
    for number, row in enumerate(rows, start=1):
        name = (row.get("commodity") or "").strip()
        county_text = (row.get("county") or "").strip()
        commodity = commodities.resolve(name) if name else None
        # a code of any level is looked up, so that a province or prefecture is told apart
        # (set_reference_price refuses it, saying why) from a code that is not understood
        county = db.session.get(Region, county_text) if county_text.isdigit() else None
        if county is None and county_text:
            found = regions.find_counties(county_text)
            county = found[0] if len(found) == 1 else None
        try:
            day = parse_date(str(row.get("valid_from") or "")[:10])
        except BadDate:
            day = None
        if commodity is None or county is None or day is None:
            raise ValidationFailed(
                _("Row %(n)d: the commodity, the county or the date is not understood.", n=number)
            )
        set_reference_price(
            actor,
            PriceInput(
                commodity, county, str(row.get("price") or ""), row.get("unit") or "kg", day
            ),
        )
        count += 1
    return count


# --- words -----------------------------------------------------------------------------------


def _category(p: dict[str, Any]) -> str:
    try:
        return str(ProblemCategory(p["category"]).label)
    except ValueError:
        return p["category"]


@message("problem.raised")
def _raised(p: dict[str, Any]) -> str:
    return _(
        "New ledger entry %(id)s from %(cooperative)s: %(category)s.",
        id=p["problem"],
        cooperative=p["cooperative"],
        category=_category(p),
    )


@message("problem.assigned")
def _assigned(p: dict[str, Any]) -> str:
    return _(
        "Ledger entry %(id)s (%(cooperative)s, %(category)s) is assigned to %(official)s.",
        id=p["problem"],
        cooperative=p["cooperative"],
        category=_category(p),
        official=p["assignee"],
    )


@message("problem.followed_up")
def _followed_up(p: dict[str, Any]) -> str:
    return _(
        "Ledger entry %(id)s (%(cooperative)s) has a new follow-up.",
        id=p["problem"],
        cooperative=p["cooperative"],
    )


@message("problem.closed")
def _closed(p: dict[str, Any]) -> str:
    return _(
        "Ledger entry %(id)s (%(cooperative)s) is closed: %(outcome)s",
        id=p["problem"],
        cooperative=p["cooperative"],
        outcome=p["outcome"],
    )


@message("problem.reopened")
def _reopened(p: dict[str, Any]) -> str:
    return _(
        "Ledger entry %(id)s (%(cooperative)s) is reopened: %(reason)s",
        id=p["problem"],
        cooperative=p["cooperative"],
        reason=p["reason"],
    )
