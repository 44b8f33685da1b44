from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import TSVECTOR
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


class SearchDocument(db.Model):
    """A lot as the PostgreSQL search backend keeps it (`postgres_backend.py`): its analysed
    tokens in a tsvector, and the values filters, facets and sorts need. Written in the same
    transaction as the lot. The table exists on SQLite too (one schema everywhere) but only the
    PostgreSQL backend uses it."""

    __tablename__ = "search_documents"

    lot_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    #: the lot's updated_at in microseconds, as LotDocument.version
    version: Mapped[int] = mapped_column(BigInteger)
    #: 'field:token' lexemes with positions, weighted per field (A commodity and category,
    #: B Chinese and English words, C pinyin, D initials)
    tokens: Mapped[str] = mapped_column(TSVECTOR().with_variant(Text(), "sqlite"))
    commodity: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(20))
    province: Mapped[str] = mapped_column(String(12))
    prefecture: Mapped[str] = mapped_column(String(12))
    county: Mapped[str] = mapped_column(String(12))
    grade: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(12))
    #: date.toordinal() of the spoil-by date
    spoil_by: Mapped[int] = mapped_column(Integer)
    price_fen_per_t: Mapped[int] = mapped_column(BigInteger)
    remaining_g: Mapped[int] = mapped_column(BigInteger)
    #: epoch seconds
    created: Mapped[int] = mapped_column(BigInteger)
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        Index("ix_search_documents_tokens", "tokens", postgresql_using="gin"),
        # covering: a search without words (browsing, facets, any sort) reads this index alone
        Index(
            "ix_search_documents_status_spoil_by",
            "status",
            "spoil_by",
            postgresql_include=[
                "lot_id",
                "commodity",
                "province",
                "prefecture",
                "county",
                "grade",
                "price_fen_per_t",
                "remaining_g",
                "created",
                "lat",
                "lng",
            ],
        ),
        # a search without words by distance: the lots of a box around the buyer
        Index(
            "ix_search_documents_lat_lng",
            "lat",
            "lng",
            postgresql_include=["status", "spoil_by", "lot_id"],
        ),
        Index("ix_search_documents_commodity", "commodity"),
        Index("ix_search_documents_county", "county"),
    )


class SearchWord(db.Model):
    """Every pinyin word the PostgreSQL backend's documents hold: what a one-letter slip
    (heidoo) and "did you mean" are looked up in. Only ever added to; a word no document holds
    any more matches nothing."""

    __tablename__ = "search_words"

    #: byte order ("C"), so that a prefix (word LIKE 'h%') is a range of the primary key
    word: Mapped[str] = mapped_column(
        String(80, collation="C").with_variant(String(80), "sqlite"), primary_key=True
    )
