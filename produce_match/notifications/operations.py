"""Writing and reading notifications. Operations flush, never commit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update

from produce_match.accounts.models import Organisation, OrgKind, Role, User
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.notifications.models import Notification
from produce_match.queue import after_commit


def notify(
    recipients: Iterable[User],
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    url: str | None = None,
    actor: User | None = None,
) -> list[Notification]:
    """Tell each recipient (once each, never the actor, never a disabled account) about `kind`.

    The rows are part of the caller's transaction; other channels get them from a task
    enqueued when it commits (`notifications.tasks`), never if it rolls back.
    """
    seen: set[int] = set()
    rows = []
    for user in recipients:
        if user.id in seen or (actor is not None and user.id == actor.id) or not user.is_active:
            continue
        seen.add(user.id)
        row = Notification(user=user, kind=kind, params=dict(params or {}), url=url)
        db.session.add(row)
        rows.append(row)
    if rows:
        after_commit("notifications.deliver")
    return rows


def members(org_id: int | None, role: Role | None = None) -> list[User]:
    """The active members of an organisation (of one role, if given): who an organisation is."""
    if org_id is None:
        return []
    query = select(User).where(User.organisation_id == org_id, User.disabled_at.is_(None))
    if role is not None:
        query = query.where(User.role == role)
    return list(db.session.scalars(query.order_by(User.id)))


def unread_count(user: User) -> int:
    return db.session.scalar(
        select(func.count(Notification.id)).where(
            Notification.user_id == user.id, Notification.read_at.is_(None)
        )
    )


def inbox(user: User, *, page: int = 1, per_page: int = 30) -> Any:
    """The user's notifications, newest first."""
    return db.paginate(
        select(Notification)
        .where(Notification.user_id == user.id)
        .order_by(Notification.id.desc()),
        page=page,
        per_page=per_page,
        error_out=False,
    )


def mark_read(user: User, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications read (all of them, or those in `ids`); how many changed.

    Only the user's own rows are touched, whatever ids are passed.
    """
    statement = (
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    if ids is not None:
        statement = statement.where(Notification.id.in_(list(ids)))
    return db.session.execute(statement).rowcount


def overseers(province_code: str | None, county_code: str | None) -> list[User]:
    """The active officials whose office's jurisdiction holds this place."""
    if province_code is None:
        return []
    query = (
        select(User)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(
            User.role == Role.official,
            User.disabled_at.is_(None),
            Organisation.kind == OrgKind.office,
            Organisation.province_code == province_code,
            (Organisation.county_code.is_(None)) | (Organisation.county_code == county_code),
        )
        .order_by(User.id)
    )
    return list(db.session.scalars(query))
