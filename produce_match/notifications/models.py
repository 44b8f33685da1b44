from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from produce_match.accounts.models import User
from produce_match.database import utcnow
from produce_match.extensions import db


class Notification(db.Model):
    """One message to one person; rendered in their language when shown (see messages.py)."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_unread", "user_id", "read_at", "id"),
        Index("ix_notifications_channels_sent_at", "channels_sent_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: what happened, a stable name: "order.placed", "order.dispatched", "demand.match" ...
    kind: Mapped[str] = mapped_column(String(40))
    #: the facts the message is written from (ids, grams, fen, names); never translated text
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: where the notification leads (a path inside the site)
    url: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    #: the outbox of the other channels (see tasks.py): when a task took the notification to
    #: send, and when it was handed to every configured channel (None: still to send)
    channels_claimed_at: Mapped[datetime | None]
    channels_sent_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()
