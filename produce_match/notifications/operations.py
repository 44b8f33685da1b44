"""Writing and reading notifications. Operations flush, never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import JSON, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import selectinload

from produce_match.accounts.models import Organisation, OrgKind, Role, User
from produce_match.database import utcnow
from produce_match.extensions import db
from produce_match.notifications.models import Delivery, DeliveryState, Notification
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


def _members_insert() -> Any:
    """INSERT INTO notifications ... SELECT the active members of up to two (organisation,
    role) pairs but one user: built once (its SQL is compiled once per process)."""
    table = Notification.__table__
    users = User.__table__
    recipients = (
        select(
            users.c.id,
            bindparam("kind", type_=table.c.kind.type),
            bindparam("params", type_=JSON),
            bindparam("url", type_=table.c.url.type),
            bindparam("created_at", type_=table.c.created_at.type),
        )
        .where(
            or_(
                (users.c.organisation_id == bindparam("org_a"))
                & (users.c.role == bindparam("role_a", type_=users.c.role.type)),
                (users.c.organisation_id == bindparam("org_b"))
                & (users.c.role == bindparam("role_b", type_=users.c.role.type)),
            ),
            users.c.disabled_at.is_(None),
            users.c.id != bindparam("actor_id"),
        )
        .order_by(users.c.id)
    )
    return (
        insert(table)
        .from_select(
            [table.c.user_id, table.c.kind, table.c.params, table.c.url, table.c.created_at],
            recipients,
        )
        # how many rows it wrote (an INSERT's count is otherwise not kept on PostgreSQL)
        .execution_options(preserve_rowcount=True)
    )


_MEMBERS_INSERT = _members_insert()


def notify_members(
    groups: Sequence[tuple[int | None, Role]],
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    url: str | None = None,
    actor: User | None = None,
) -> int:
    """`notify(members(org, role) + ..., kind, ...)` for up to two (organisation, role) pairs,
    in one statement (INSERT ... SELECT): the same rules (the active members of that role, never
    the actor, once each), without loading the users. How many were told."""
    wanted = [(org_id, role) for org_id, role in groups if org_id is not None]
    if not wanted:
        return 0
    if len(wanted) > 2:
        raise ValueError("notify_members: at most two (organisation, role) pairs")
    (org_a, role_a), (org_b, role_b) = wanted[0], wanted[-1]
    told = (
        db.session.connection()
        .execute(
            _MEMBERS_INSERT,
            {
                "kind": kind,
                "params": dict(params or {}),
                "url": url,
                "created_at": utcnow(),
                "org_a": org_a,
                "role_a": role_a,
                "org_b": org_b,
                "role_b": role_b,
                "actor_id": actor.id if actor is not None else 0,  # ids start at 1
            },
        )
        .rowcount
    )
    if told:
        after_commit("notifications.deliver")
    return told


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


def deliveries(
    user: User | None,
    *,
    page: int = 1,
    per_page: int = 50,
    status: str | None = None,
    channel: str | None = None,
) -> Any:
    """The delivery log, newest first: one person's (`user`), or everyone's (None)."""
    query = (
        select(Delivery)
        .options(selectinload(Delivery.notification), selectinload(Delivery.user))
        .order_by(Delivery.id.desc())
    )
    if user is not None:
        query = query.where(Delivery.user_id == user.id)
    if status in {s.value for s in DeliveryState}:
        query = query.where(Delivery.status == status)
    if channel:
        query = query.where(Delivery.channel == channel)
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def deliveries_of(notification_ids: Iterable[int]) -> dict[int, list[Delivery]]:
    """The deliveries of these notifications (one query), by notification, in channel order."""
    found: dict[int, list[Delivery]] = {}
    ids = list(notification_ids)
    if not ids:
        return found
    for row in db.session.scalars(
        select(Delivery).where(Delivery.notification_id.in_(ids)).order_by(Delivery.channel)
    ):
        found.setdefault(row.notification_id, []).append(row)
    return found
