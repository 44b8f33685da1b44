"""Reading what an office keeps: its whitelist, the whitelists it recognises and that recognise
it, the other offices, its checkpoint staff. Nothing here writes."""

from __future__ import annotations

import enum
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from produce_match.accounts.models import Organisation, OrgKind, Role, User
from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.passes.models import Recognition, WhitelistEntry

#: how many names the whitelist form suggests
SUGGESTIONS = 1000


class EntryState(enum.StrEnum):
    in_force = "in_force"
    upcoming = "upcoming"  #: its first day is still to come
    lapsed = "lapsed"  #: its last day has passed
    removed = "removed"

    @property
    def label(self) -> Any:
        return _ENTRY_STATES[self]


_ENTRY_STATES = {
    EntryState.in_force: _l("in force"),
    EntryState.upcoming: _l("not yet in force"),
    EntryState.lapsed: _l("lapsed"),
    EntryState.removed: _l("removed"),
}


def entry_state(entry: WhitelistEntry, today: date | None = None) -> EntryState:
    today = today or local_today()
    if entry.removed_at is not None:
        return EntryState.removed
    if entry.valid_until < today:
        return EntryState.lapsed
    if entry.valid_from > today:
        return EntryState.upcoming
    return EntryState.in_force


def whitelist_of(office: Organisation) -> list[WhitelistEntry]:
    """The office's entries: those that count first (in force or to come), by name; then the
    lapsed and removed ones, the latest first."""
    entries = db.session.scalars(
        select(WhitelistEntry)
        .where(WhitelistEntry.office_id == office.id)
        .options(selectinload(WhitelistEntry.organisation))
        .order_by(WhitelistEntry.id.desc())
        .limit(2000)
    ).all()
    today = local_today()
    live = (EntryState.in_force, EntryState.upcoming)
    # a stable sort: the lapsed and removed keep their order, the latest first
    return sorted(
        entries,
        key=lambda e: (0, e.organisation.name) if entry_state(e, today) in live else (1, ""),
    )


def whitelistable_names() -> list[str]:
    """Names of the registered cooperatives, buyers and hauliers (the form's suggestions)."""
    return list(
        db.session.scalars(
            select(Organisation.name)
            .where(Organisation.kind.in_((OrgKind.cooperative, OrgKind.buyer, OrgKind.haulier)))
            .order_by(Organisation.name)
            .limit(SUGGESTIONS)
        )
    )


def offices(but: Organisation | None = None) -> list[Organisation]:
    """Every office with a jurisdiction (other than `but`), by province and county."""
    query = select(Organisation).where(
        Organisation.kind == OrgKind.office, Organisation.province_code.is_not(None)
    )
    if but is not None:
        query = query.where(Organisation.id != but.id)
    return list(
        db.session.scalars(
            query.order_by(
                Organisation.province_code,
                Organisation.county_code.nulls_first(),
                Organisation.name,
            )
        )
    )


def recognitions_by(office: Organisation) -> dict[int, Recognition]:
    """The whitelists the office recognises: recognised office id -> the recognition."""
    rows = db.session.scalars(select(Recognition).where(Recognition.office_id == office.id))
    return {row.recognised_office_id: row for row in rows}


def recognising(office: Organisation) -> list[Recognition]:
    """The offices that recognise the office's whitelist."""
    return list(
        db.session.scalars(
            select(Recognition)
            .where(Recognition.recognised_office_id == office.id)
            .options(selectinload(Recognition.office))
            .order_by(Recognition.created_at)
        )
    )


def staff_of(office: Organisation) -> list[User]:
    """The office's checkpoint staff, the active ones first."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.organisation_id == office.id, User.role == Role.checkpoint)
            .order_by(User.disabled_at.is_not(None), User.name, User.id)
        )
    )
