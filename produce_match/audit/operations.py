from __future__ import annotations

from typing import Any, Protocol

from flask import has_request_context, request

from produce_match.audit.models import AuditEvent
from produce_match.database import utcnow
from produce_match.extensions import db

_INSERT = AuditEvent.__table__.insert()


class Actor(Protocol):
    """Who did it: a user account (accounts.models.User); the trail keeps only its id."""

    id: int


def record(
    actor: Actor | None,
    subject: Any,
    action: str,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Write an audit event for `subject` (a model instance) in the session's transaction; the
    caller commits (a rollback takes it back with the change it records).

    A plain INSERT, not an object left for the next flush: the trail is only ever written and
    read back by queries, and this is on the path of every change (placing an order included).
    """
    if subject.id is None:
        db.session.flush()
    db.session.connection().execute(
        _INSERT,
        {
            "at": utcnow(),
            "actor_id": actor.id if actor is not None else None,
            "subject_type": subject.__tablename__,
            "subject_id": subject.id,
            "action": action,
            "from_state": from_state,
            "to_state": to_state,
            "changes": changes or None,
            "ip": request.remote_addr if has_request_context() else None,
        },
    )


def diff(obj: Any, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Apply `values` to `obj` and return {field: [old, new]} for the fields that changed."""
    changed: dict[str, list[Any]] = {}
    for field, new in values.items():
        old = getattr(obj, field)
        if old != new:
            setattr(obj, field, new)
            changed[field] = [_plain(old), _plain(new)]
    return changed


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, int | float | str | bool) else str(value)


def history(subject: Any) -> list[AuditEvent]:
    """Every event recorded for `subject`, oldest first."""
    return list(
        db.session.scalars(
            db.select(AuditEvent)
            .where(
                AuditEvent.subject_type == subject.__tablename__,
                AuditEvent.subject_id == subject.id,
            )
            .order_by(AuditEvent.id)
        )
    )
