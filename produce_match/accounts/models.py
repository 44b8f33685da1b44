from __future__ import annotations

import enum
import hashlib
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from produce_match.catalog.models import HasPlace
from produce_match.database import utcnow
from produce_match.errors import Conflict
from produce_match.extensions import db
from produce_match.lifecycle import Lifecycle


class OrgKind(enum.StrEnum):
    cooperative = "cooperative"  #: sells: a cooperative, village committee or family farm
    buyer = "buyer"  #: buys: wholesaler, supermarket, processor, canteen
    haulier = "haulier"  #: carries goods: a transport company or a driver (物流/承运)
    office = "office"  #: a county or provincial office; its officials read, they do not trade
    platform = "platform"  #: the operators of this service (administrators)


class BuyerKind(enum.StrEnum):
    """What kind of buyer an organisation is: the rescue ladder turns to some kinds first."""

    wholesaler = "wholesaler"  #: 批发商
    supermarket = "supermarket"  #: 商超
    processor = "processor"  #: 加工企业: takes lower grades
    canteen = "canteen"  #: 机关/企业食堂: consumption aid (消费帮扶)
    school = "school"  #: 学校食堂: consumption aid
    food_bank = "food_bank"  #: 食物银行/慈善机构: takes produce given away
    other = "other"  #: 其他

    @property
    def label(self) -> Any:
        return _BUYER_KIND_LABELS[self]


_BUYER_KIND_LABELS = {
    BuyerKind.wholesaler: _l("wholesaler"),
    BuyerKind.supermarket: _l("supermarket"),
    BuyerKind.processor: _l("processor"),
    BuyerKind.canteen: _l("agency or company canteen"),
    BuyerKind.school: _l("school canteen"),
    BuyerKind.food_bank: _l("food bank or charity"),
    BuyerKind.other: _l("other buyer"),
}
#: the buyers of consumption aid (消费帮扶): agencies' canteens and schools
CONSUMPTION_AID = frozenset({BuyerKind.canteen, BuyerKind.school})


class Role(enum.StrEnum):
    cooperative = "cooperative"  #: member of a cooperative
    buyer = "buyer"  #: member of a buyer organisation
    haulier = "haulier"  #: member of a haulier: applies for transport passes
    official = "official"  #: member of an office, scoped to the office's jurisdiction
    checkpoint = "checkpoint"  #: staff of an office at its checkpoints: scans passes, nothing else
    admin = "admin"  #: verifies organisations, keeps the catalogue, manages accounts


#: the organisation kind each role belongs to
ROLE_ORG_KIND = {
    Role.cooperative: OrgKind.cooperative,
    Role.buyer: OrgKind.buyer,
    Role.haulier: OrgKind.haulier,
    Role.official: OrgKind.office,
    Role.checkpoint: OrgKind.office,
    Role.admin: OrgKind.platform,
}


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=20, validate_strings=True)


def token_digest(raw: str) -> str:
    """Tokens and session ids are stored only as their SHA-256 digest."""
    return hashlib.sha256(raw.encode()).hexdigest()


class Organisation(HasPlace, db.Model):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[OrgKind] = mapped_column(_enum(OrgKind, "org_kind"))
    #: a buyer's kind (None: not said; always None for other organisations)
    buyer_kind: Mapped[BuyerKind | None] = mapped_column(_enum(BuyerKind, "buyer_kind"))
    contact_person: Mapped[str | None] = mapped_column(String(60))
    phone: Mapped[str | None] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(254))
    #: place: for an office this is also its jurisdiction (a county, or a whole province)
    province_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), index=True)
    county_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), index=True)
    township: Mapped[str | None] = mapped_column(String(60))
    village: Mapped[str | None] = mapped_column(String(60))
    verified_at: Mapped[datetime | None]
    #: the administrator who verified it (the audit trail has the full story)
    verified_by_id: Mapped[int | None]
    #: what was verified: "credit_code" or "resident_id" (trust.models.IdentityKind), for the
    #: badge without reading the claim; None where an administrator verified it before claims
    verified_as: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    province = relationship("Region", foreign_keys=[province_code])
    county = relationship("Region", foreign_keys=[county_code])
    members: Mapped[list[User]] = relationship(
        back_populates="organisation", foreign_keys="User.organisation_id"
    )

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: what the user types to log in; stored lower-case (registration uses the phone number)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(60))
    phone: Mapped[str | None] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[Role] = mapped_column(_enum(Role, "user_role"))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    #: "zh" or "en" once the user has chosen; None follows the browser
    locale: Mapped[str | None] = mapped_column(String(8))
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    #: when the mobile number in `phone` was confirmed with an SMS code (None: not confirmed;
    #: SMS notices go only to a confirmed number)
    phone_verified_at: Mapped[datetime | None]

    organisation: Mapped[Organisation | None] = relationship(
        back_populates="members", foreign_keys=[organisation_id]
    )

    # Flask-Login: the identity kept in the cookie is the login session's id (see
    # accounts.sessions), so that a session can be revoked on the server.
    session_token = None  # the raw session id of the request that loaded this user
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None

    def get_id(self) -> str | None:
        return self.session_token

    def set_password(self, password: str) -> None:
        method = current_app.config["PASSWORD_HASH_METHOD"]
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin

    @property
    def is_official(self) -> bool:
        return self.role is Role.official


class LoginSession(db.Model):
    """One logged-in browser. Revoking it logs that browser out at its next request."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))

    user: Mapped[User] = relationship()


class ApiToken(db.Model):
    """A bearer token for the JSON API, shown once when issued and stored as its digest."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: the first characters of the token, to tell tokens apart in a list
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class LoginFailure(db.Model):
    """A failed login, kept for the length of the window so that every process counts the same."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_login_at", "login", "at"),
        Index("ix_login_failures_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


# --- one-time SMS codes -------------------------------------------------------------------


class CodePurpose(enum.StrEnum):
    register = "register"  #: confirms the number a new account registers with
    reset_password = "reset_password"  # noqa: S105 - sets a new password for the number's account
    change_phone = "change_phone"  #: confirms the new number of a logged-in user


class CodeMessage(enum.StrEnum):
    """What the number was sent when the code was asked for (the answer on the page is the
    same for all three, so that nobody learns which numbers are registered)."""

    code = "code"  #: the code itself
    already_registered = "already_registered"  #: a note that the number has an account
    nothing = "nothing"  #: nothing (a password reset for a number without an account)


class CodeStatus(enum.StrEnum):
    live = "live"  #: may still be entered (until expires_at)
    used = "used"  #: entered right once; never again
    exhausted = "exhausted"  #: too many wrong tries
    superseded = "superseded"  #: a newer code was sent to the number for the same purpose


class CodeAction(enum.StrEnum):
    use = "use"
    exhaust = "exhaust"
    supersede = "supersede"


class PhoneCode(db.Model):
    """A one-time code sent by SMS. Only its keyed digest is stored; the code itself travels
    once, in the task that sends the message. The rows are also what the sending limits count
    (per number and per client address), whatever was sent."""

    __tablename__ = "phone_codes"
    __table_args__ = (
        Index("ix_phone_codes_phone_created", "phone", "created_at"),
        Index("ix_phone_codes_ip_created", "ip", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(11))
    purpose: Mapped[CodePurpose] = mapped_column(_enum(CodePurpose, "code_purpose"))
    message: Mapped[CodeMessage] = mapped_column(_enum(CodeMessage, "code_message"))
    status: Mapped[CodeStatus] = mapped_column(
        _enum(CodeStatus, "code_status"), default=CodeStatus.live
    )
    #: HMAC-SHA256 of the code under the site's secret key (a 6-digit code's plain hash
    #: would be found by trying all million)
    code_hash: Mapped[str | None] = mapped_column(String(64))
    #: the account concerned (reset: the number's; change: the one changing its number)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    ip: Mapped[str] = mapped_column(String(64))
    tries: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


#: a code's moves: it is used once, killed by wrong tries or replaced by a newer one
CODES: Lifecycle[CodeStatus, CodeAction] = Lifecycle(
    "phone_codes",
    CodeStatus,
    CodeAction,
    {
        (CodeStatus.live, CodeAction.use): CodeStatus.used,
        (CodeStatus.live, CodeAction.exhaust): CodeStatus.exhausted,
        (CodeStatus.live, CodeAction.supersede): CodeStatus.superseded,
    },
    verbs={
        CodeAction.use: "used",
        CodeAction.exhaust: "exhausted",
        CodeAction.supersede: "superseded",
    },
    illegal=lambda state, action: Conflict(
        _l("The code is no longer valid. Ask for a new one."), code="code_invalid"
    ),
    stale=lambda state, action: Conflict(
        _l("The code is no longer valid. Ask for a new one."), code="code_invalid"
    ),
)
