from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger
from sqlalchemy.orm import Mapped, mapped_column

from produce_match.database import utcnow
from produce_match.extensions import db


class SearchOutbox(db.Model):
    """A lot whose index entry must be (re)written: the durable record that survives a crash
    between the database commit and the index write. Written in the same transaction as the
    change; deleted once the index has it."""

    __tablename__ = "search_outbox"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(db.Integer, "sqlite"), primary_key=True
    )
    lot_id: Mapped[int] = mapped_column(index=True)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
