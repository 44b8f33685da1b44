from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from produce_match.database import utcnow
from produce_match.extensions import db


class AuditEvent(db.Model):
    """One recorded change of state or edit; never updated, never deleted."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_subject", "subject_type", "subject_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: what kind of object changed: the table name ("users", "organisations", "lots" ...)
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int]
    #: what happened, a stable verb: "registered", "login", "verified", "password_changed" ...
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str | None] = mapped_column(String(40))
    #: field -> [old, new] for edits, or extra facts about the event
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ip: Mapped[str | None] = mapped_column(String(64))
