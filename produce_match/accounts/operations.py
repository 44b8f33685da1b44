"""The only code that writes accounts rows. Operations flush, never commit."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import bindparam, delete, func, or_, select, text, update
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from produce_match.accounts.models import (
    CODES,
    ROLE_ORG_KIND,
    ApiToken,
    CodeAction,
    CodeMessage,
    CodePurpose,
    CodeStatus,
    LoginFailure,
    LoginSession,
    Organisation,
    OrgKind,
    PhoneCode,
    Role,
    User,
    token_digest,
)
from produce_match.accounts.rules import (
    is_mobile,
    login_problem,
    normalise_login,
    normalise_phone,
    password_problem,
    phone_problem,
)
from produce_match.audit.operations import diff, record
from produce_match.catalog import regions
from produce_match.catalog.models import Region
from produce_match.database import utcnow
from produce_match.errors import Conflict, DomainError, TooManyAttempts, ValidationFailed
from produce_match.extensions import db
from produce_match.inputs import mobile_number
from produce_match.queue import after_commit


@functools.cache
def _dummy_hash() -> str:
    """A digest to check a password against when the login is unknown, so that a wrong login
    takes as long as a wrong password and does not reveal which logins exist."""
    return generate_password_hash(secrets.token_hex(16))


class InvalidCredentials(DomainError):
    status = 401
    code = "invalid_credentials"


# --- organisations and users ------------------------------------------------------------


@dataclass
class PlaceInput:
    province: str | None = None
    county: str | None = None
    township: str | None = None
    village: str | None = None


def resolve_place(
    place: PlaceInput, *, required: bool, county_required: bool | None = None
) -> tuple[Region | None, Region | None]:
    """Turn typed province and county names into regions, or fail with a message per field.

    `required` asks for a province; the county is required too unless `county_required` is
    False (a province-wide office has no county).
    """
    county_required = required if county_required is None else county_required
    errors: dict[str, list[str]] = {}
    province, found = regions.find_place(place.province, place.county)
    county = None
    if place.province and province is None:
        errors["province"] = [_("Unknown province: %(name)s", name=place.province)]
    elif required and province is None:
        errors["province"] = [_("Choose a province.")]
    if province is not None and place.county:
        if not found:
            errors["county"] = [
                _(
                    "%(county)s is not a county of %(province)s.",
                    county=place.county,
                    province=province.name,
                )
            ]
        elif len(found) > 1:
            errors["county"] = [
                _("Several counties are called %(name)s: type the full name.", name=place.county)
            ]
        else:
            county = found[0]
    elif county_required and province is not None and not place.county:
        errors["county"] = [_("Enter the county.")]
    if errors:
        raise ValidationFailed(_("Please correct the place."), fields=errors)
    return province, county


#: the kinds of organisation that register themselves, and the role of their first user
SELF_REGISTERED = {
    OrgKind.cooperative: Role.cooperative,
    OrgKind.buyer: Role.buyer,
    OrgKind.haulier: Role.haulier,
}


@dataclass
class Registration:
    kind: OrgKind
    org_name: str
    contact_person: str
    phone: str
    password: str
    email: str | None = None
    place: PlaceInput | None = None
    #: the code the SMS sent to `phone` carried (CodePurpose.register)
    code: str = ""


def register(data: Registration) -> User:
    """Self-registration of a cooperative, a buyer or a haulier: its organisation and its
    first user, whose mobile number is confirmed by the SMS code sent to it.

    The code is checked last, once everything else is right: a wrong one is counted (the
    caller keeps that count: `transaction.keep()`), a right one is used up."""
    if data.kind not in SELF_REGISTERED:
        raise ValidationFailed(
            _("Only cooperatives, buyers and hauliers can register themselves."),
            fields={"kind": [_("Choose cooperative, buyer or haulier.")]},
        )
    errors: dict[str, list[str]] = {}
    phone = normalise_phone(data.phone)
    if not is_mobile(phone):
        errors["phone"] = [_("Enter an 11-digit mobile number, e.g. 13800138000.")]
    if problem := password_problem(data.password):
        errors["password"] = [problem]
    org_name = " ".join(data.org_name.split())
    if not org_name:
        errors["org_name"] = [_("Enter the organisation's name.")]
    elif _org_named(org_name) is not None:
        errors["org_name"] = [_("An organisation with this name is already registered.")]
    if not data.contact_person.strip():
        errors["contact_person"] = [_("Enter the contact person's name.")]
    try:
        province, county = resolve_place(data.place or PlaceInput(), required=True)
    except ValidationFailed as exc:
        errors.update(exc.fields)
        province = county = None
    if not errors and not _code_text(data.code):
        errors["code"] = [_("Enter the code from the text message.")]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    # whether the number has an account is told only to the number (by text), never here:
    # a registered number was texted no code, so it fails as a wrong code does
    check_code(phone, CodePurpose.register, data.code)
    if _account_of(phone) is not None:  # registered since its code was sent
        raise ValidationFailed(
            _("Please correct the marked fields."),
            fields={"phone": [_("This mobile number is already registered. Log in instead.")]},
        )

    place = data.place or PlaceInput()
    org = Organisation(
        name=org_name,
        kind=data.kind,
        contact_person=data.contact_person.strip(),
        phone=phone,
        email=(data.email or "").strip() or None,
        province_code=province.code if province else None,
        county_code=county.code if county else None,
        township=(place.township or "").strip() or None,
        village=(place.village or "").strip() or None,
    )
    user = User(
        login=phone,
        name=data.contact_person.strip(),
        phone=phone,
        email=org.email,
        role=SELF_REGISTERED[data.kind],
        organisation=org,
        phone_verified_at=utcnow(),
    )
    user.set_password(data.password)
    db.session.add_all([org, user])
    db.session.flush()
    record(user, org, "registered", to_state="unverified")
    record(
        user,
        user,
        "registered",
        to_state="active",
        changes={"role": user.role.value, "phone_verified": True},
    )
    return user


def _login_taken(login: str) -> bool:
    return db.session.scalar(select(func.count()).where(User.login == login)) > 0


def _org_named(name: str) -> Organisation | None:
    return db.session.scalar(select(Organisation).where(Organisation.name == name))


def create_user(
    *,
    login: str,
    password: str,
    role: Role,
    org_name: str | None,
    name: str | None = None,
    phone: str | None = None,
    place: PlaceInput | None = None,
    actor: User | None = None,
    phone_confirmed: bool = False,
) -> User:
    """Create a user of any role (the `flask users create` command and the demo world);
    `phone_confirmed`: the mobile number is known to be theirs (the demo world's)."""
    login = normalise_login(login)
    errors: dict[str, list[str]] = {}
    if problem := login_problem(login):
        errors["login"] = [problem]
    elif _login_taken(login):
        errors["login"] = [_("This login is already taken.")]
    if problem := password_problem(password):
        errors["password"] = [problem]
    if problem := phone_problem(normalise_phone(phone)):
        errors["phone"] = [problem]
    if role is not Role.admin and not org_name:
        errors["org"] = [_("Every user but an administrator belongs to an organisation.")]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)

    org = None
    if org_name:
        org = _org_named(" ".join(org_name.split()))
        kind = ROLE_ORG_KIND[role]
        if org is None and role is Role.checkpoint:
            # staff work at an office's checkpoints: the office (with its jurisdiction) exists
            raise ValidationFailed(
                _("Please correct the marked fields."),
                fields={"org": [_("Checkpoint staff belong to an office that exists already.")]},
            )
        if org is None:
            province, county = resolve_place(
                place or PlaceInput(), required=role is Role.official, county_required=False
            )
            org = Organisation(
                name=" ".join(org_name.split()),
                kind=kind,
                contact_person=name,
                phone=normalise_phone(phone) or None,
                province_code=province.code if province else None,
                county_code=county.code if county else None,
                township=(place.township if place else None) or None,
                village=(place.village if place else None) or None,
            )
            db.session.add(org)
            db.session.flush()
            record(actor, org, "created", to_state="unverified", changes={"kind": kind.value})
        elif org.kind is not kind:
            raise ValidationFailed(
                _("%(org)s is not an organisation of this kind.", org=org.name),
                fields={
                    "org": [
                        _(
                            "A %(role)s must belong to an organisation of kind %(kind)s.",
                            role=role.value,
                            kind=kind.value,
                        )
                    ]
                },
            )
    confirmed = phone_confirmed and is_mobile(normalise_phone(phone))
    user = User(
        login=login,
        name=name or login,
        phone=normalise_phone(phone) or None,
        role=role,
        organisation=org,
        phone_verified_at=utcnow() if confirmed else None,
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    changes: dict[str, object] = {"role": role.value}
    if confirmed:
        changes["phone_verified"] = True
    record(actor, user, "created", to_state="active", changes=changes)
    return user


def update_profile(user: User, actor: User, *, name: str, email: str | None) -> None:
    """Change a user's own display name and e-mail."""
    if not name.strip():
        raise ValidationFailed(
            _("Please correct the marked fields."), fields={"name": [_("Enter your name.")]}
        )
    changes = diff(user, {"name": name.strip(), "email": (email or "").strip() or None})
    if changes:
        record(actor, user, "profile_changed", changes=changes)


def set_locale(user: User, locale: str) -> None:
    """Remember a user's language (a preference, not audited)."""
    user.locale = locale


def set_verified(
    org: Organisation,
    actor: User,
    verified: bool,
    *,
    kind: str | None = None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Mark an organisation verified (as `kind`: what was checked, for its badge), or no longer
    verified. Identity claims (trust.verification) are the way in; the audit record is the
    organisation's own, so its history reads the same whatever the way."""
    if org.verified == verified and (not verified or org.verified_as == kind):
        return
    before = "verified" if org.verified else "unverified"
    org.verified_at = utcnow() if verified else None
    org.verified_by_id = actor.id if verified else None
    org.verified_as = kind if verified else None
    record(
        actor,
        org,
        "verified" if verified else "unverified",
        from_state=before,
        to_state="verified" if verified else "unverified",
        changes={**({"as": kind} if verified and kind else {}), **(changes or {})} or None,
    )


def set_disabled(user: User, actor: User, disabled: bool) -> None:
    """Disable an account (ending all its sessions) or enable it again."""
    if user.id == actor.id:
        raise Conflict(_("You cannot disable your own account."), code="own_account")
    if (user.disabled_at is not None) == disabled:
        return
    user.disabled_at = utcnow() if disabled else None
    if disabled:
        revoke_sessions(user)
    record(
        actor,
        user,
        "disabled" if disabled else "enabled",
        from_state="active" if disabled else "disabled",
        to_state="disabled" if disabled else "active",
    )


def change_password(
    user: User, *, current: str, new: str, keep_session: str | None, ip: str
) -> tuple[int, int]:
    """Change the password, end every other session and revoke every API token of the user;
    returns how many sessions and tokens were ended.

    The current password is a guess like a login's: it counts towards the failed-login limit
    and is refused once the limit is reached. A wrong one is recorded and raises (the caller
    still commits, as after a failed login: nothing else has been written).
    """
    ensure_login_allowed(user.login, ip)
    if not user.check_password(current):
        _record_failure(user.login, ip)
        raise ValidationFailed(
            _("Please correct the marked fields."),
            fields={"current_password": [_("The current password is wrong.")]},
        )
    if problem := password_problem(new):
        raise ValidationFailed(
            _("Please correct the marked fields."), fields={"new_password": [problem]}
        )
    user.set_password(new)
    user.password_changed_at = utcnow()
    ended, revoked = end_other_access(user, keep_session, record_it=False)
    record(
        user,
        user,
        "password_changed",
        changes={"sessions_ended": ended, "tokens_revoked": revoked},
    )
    return ended, revoked


def end_other_access(
    user: User, keep_session: str | None, *, record_it: bool = True
) -> tuple[int, int]:
    """Log out every other device and revoke every API token of the user (a program holding a
    token is another device too); returns how many sessions and tokens were ended."""
    ended = revoke_sessions(user, keep=keep_session)
    revoked = revoke_tokens(user, user)
    if record_it:
        record(
            user,
            user,
            "other_access_ended",
            changes={"sessions_ended": ended, "tokens_revoked": revoked},
        )
    return ended, revoked


# --- logging in: the failed-login limit and server-side sessions ------------------------


def _failure_window() -> tuple[datetime, int, int]:
    cfg = current_app.config
    return (
        utcnow() - cfg["LOGIN_FAILURE_WINDOW"],
        cfg["LOGIN_FAILURE_LIMIT"],
        cfg["LOGIN_IP_FAILURE_LIMIT"],
    )


def _one_attempt_at_a_time(login: str, ip: str) -> None:
    """Hold every other attempt on this login, and from this address, until this transaction
    ends, so that counting the recent failures and recording this one is atomic.

    Without it, forty guesses sent at once on PostgreSQL all count the same four failures and
    all go on to check their password. A transaction-scoped advisory lock is released by the
    commit that records the failure (or the login). The login's lock is always taken before the
    address's, so two attempts never wait for each other in a circle. SQLite needs nothing: a
    request that may write begins with BEGIN IMMEDIATE, one at a time for the whole database.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for key in (f"login:{login}", f"ip:{ip}"):
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
        )


def _record_failure(login: str, ip: str) -> None:
    db.session.add(LoginFailure(login=login[:64], ip=ip[:64]))
    db.session.execute(
        delete(LoginFailure).where(
            LoginFailure.at < utcnow() - 2 * current_app.config["LOGIN_FAILURE_WINDOW"]
        )
    )
    db.session.flush()


def ensure_login_allowed(login: str, ip: str) -> None:
    """Refuse further attempts once a login (or an address) has failed too often recently.

    The failures are rows in the database, so every process and every node counts the same;
    attempts on one login (or from one address) are counted one at a time until the caller's
    transaction ends.
    """
    _one_attempt_at_a_time(login, ip)
    since, per_login, per_ip = _failure_window()
    for column, value, limit in (
        (LoginFailure.login, login, per_login),
        (LoginFailure.ip, ip, per_ip),
    ):
        count, oldest = db.session.execute(
            select(func.count(), func.min(LoginFailure.at)).where(
                column == value, LoginFailure.at > since
            )
        ).one()
        if count >= limit:
            window = current_app.config["LOGIN_FAILURE_WINDOW"]
            retry = max(1, int((oldest + window - utcnow()).total_seconds()) + 1)
            minutes = (retry + 59) // 60
            raise TooManyAttempts(
                _("Too many failed logins. Try again in %(n)d minutes.", n=minutes),
                retry_after=retry,
            )


def authenticate(login_text: str, password: str, ip: str) -> User:
    """Check a login and password; a failure is recorded and raises (the caller still commits)."""
    login = normalise_login(login_text)
    ensure_login_allowed(login, ip)
    user = db.session.scalar(select(User).where(User.login == login)) if login else None
    if user is None:
        check_password_hash(_dummy_hash(), password)
    if user is None or not user.check_password(password):
        _record_failure(login, ip)
        raise InvalidCredentials(_("Wrong login or password."))
    if not user.is_active:
        raise InvalidCredentials(
            _("This account has been disabled. Contact the administrators."),
            code="account_disabled",
        )
    db.session.execute(delete(LoginFailure).where(LoginFailure.login == login))
    return user


def start_session(user: User, *, ip: str | None, user_agent: str | None) -> str:
    """Open a server-side login session and return its secret id for the cookie."""
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(
        LoginSession(
            user=user,
            token_hash=token_digest(raw),
            created_at=now,
            expires_at=now + current_app.config["SESSION_LIFETIME"],
            ip=ip,
            user_agent=(user_agent or "")[:200] or None,
        )
    )
    user.last_login_at = now
    record(user, user, "login")
    user.session_token = raw
    return raw


def user_for_session(raw: str) -> User | None:
    """The user of a live session id, or None if it was revoked, expired or the user disabled."""
    row = db.session.scalar(
        select(LoginSession).where(LoginSession.token_hash == token_digest(raw))
    )
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    user = row.user
    if not user.is_active:
        return None
    user.session_token = raw
    return user


def end_session(user: User, raw: str | None) -> None:
    """Log out: revoke this one session."""
    if raw:
        db.session.execute(
            update(LoginSession)
            .where(LoginSession.token_hash == token_digest(raw), LoginSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    record(user, user, "logout")


def revoke_sessions(user: User, keep: str | None = None) -> int:
    """Revoke every live session of a user except `keep`; returns how many were ended."""
    stmt = update(LoginSession).where(
        LoginSession.user_id == user.id, LoginSession.revoked_at.is_(None)
    )
    if keep:
        stmt = stmt.where(LoginSession.token_hash != token_digest(keep))
    return db.session.execute(stmt.values(revoked_at=utcnow())).rowcount


def live_sessions(user: User) -> list[LoginSession]:
    """The user's sessions that are still valid, newest first."""
    return list(
        db.session.scalars(
            select(LoginSession)
            .where(
                LoginSession.user_id == user.id,
                LoginSession.revoked_at.is_(None),
                LoginSession.expires_at > utcnow(),
            )
            .order_by(LoginSession.id.desc())
        )
    )


# --- API tokens -------------------------------------------------------------------------

TOKEN_PREFIX = "pm_"  # noqa: S105 - a public prefix, not a secret


def issue_token(user: User, name: str | None = None) -> tuple[ApiToken, str]:
    """Issue a bearer token; the raw token is returned once and never stored."""
    name = (name or "").strip()[:60] or _("API token")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name, token_hash=token_digest(raw), prefix=raw[:10])
    db.session.add(token)
    db.session.flush()
    record(user, token, "issued", to_state="active")
    return token, raw


def revoke_token(token: ApiToken, actor: User) -> None:
    """Revoke a token; it is refused from then on."""
    if token.revoked_at is not None:
        return
    token.revoked_at = utcnow()
    record(actor, token, "revoked", from_state="active", to_state="revoked")


def revoke_tokens(user: User, actor: User) -> int:
    """Revoke every live token of a user (each revocation audited); returns how many."""
    live = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    for token in live:
        revoke_token(token, actor)
    return len(live)


#: the user of a live token, with its organisation and the organisation's province and county
#: (an order delivered there needs no query for it), in one query built once: every request of
#: the API runs it
_TOKEN_USER = (
    select(User)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("digest"), ApiToken.revoked_at.is_(None))
    .options(
        joinedload(User.organisation).options(
            joinedload(Organisation.province), joinedload(Organisation.county)
        )
    )
)


def user_for_token(raw: str) -> User | None:
    """The user a live bearer token belongs to, or None (with its organisation and the
    organisation's province and county: one query)."""
    user = db.session.scalar(_TOKEN_USER, {"digest": token_digest(raw)})
    return user if user is not None and user.is_active else None


def tokens_of(user: User) -> list[ApiToken]:
    """All of a user's tokens, newest first."""
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


def find_users(text: str | None = None) -> list[User]:
    """Users whose login, name or organisation matches `text` (administrators' list)."""
    query = select(User).outerjoin(User.organisation).order_by(User.id)
    if text:
        like = f"%{text.strip()}%"
        query = query.where(
            or_(User.login.ilike(like), User.name.ilike(like), Organisation.name.ilike(like))
        )
    return list(db.session.scalars(query.limit(500)))


# --- the phone as identity: one-time SMS codes --------------------------------------------
#
# Asking for a code always gets the same answer, whatever the number's state, so that nobody
# learns which numbers have an account: the number is sent the code, or (registering a number
# that already has an account, or moving to one) a text saying so, or (a password reset for a
# number without an account) nothing. Every request is a row, whatever was sent, and the rows
# are what the limits count: per number (one a minute, a few an hour and a day) and per client
# address (an hour). Only the code's keyed digest is stored; the code itself travels once, as
# the argument of the task that sends it after the commit (a lost task: ask again).

CODE_DIGITS = 6


def _code_digest(phone: str, purpose: CodePurpose, code: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, f"{purpose.value}:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _code_text(text: str | None) -> str:
    """What was typed as a code: full-width digits read as ASCII, spaces dropped."""
    return "".join(unicodedata.normalize("NFKC", text or "").split())


def _mobile_or_refuse(text: str | None, field: str = "phone") -> str:
    phone = mobile_number(text)
    if phone is None:
        raise ValidationFailed(
            _("Please correct the marked fields."),
            fields={field: [_("Enter an 11-digit mobile number, e.g. 13800138000.")]},
        )
    return phone


def _one_code_request_at_a_time(phone: str, ip: str) -> None:
    """Count and write the requests for a number (and from an address) one at a time on
    PostgreSQL (see _one_attempt_at_a_time; SQLite writes one at a time anyway)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for key in (f"sms:{phone}", f"sms-ip:{ip}"):
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
        )


def ensure_code_allowed(phone: str, ip: str) -> None:
    """Refuse a code request over the limits: per number a minute apart, per hour and per
    day; per client address per hour (all purposes together)."""
    cfg = current_app.config
    now = utcnow()
    last = db.session.scalar(select(func.max(PhoneCode.created_at)).where(PhoneCode.phone == phone))
    if last is not None:
        wait = int((last + cfg["SMS_CODE_INTERVAL"] - now).total_seconds()) + 1
        if wait > 0 and cfg["SMS_CODE_INTERVAL"].total_seconds() > 0:
            raise TooManyAttempts(
                _("Please wait %(n)d seconds before asking for another code.", n=wait),
                retry_after=wait,
            )
    hour, day = timedelta(hours=1), timedelta(days=1)
    for column, value, window, limit in (
        (PhoneCode.phone, phone, hour, cfg["SMS_CODE_PHONE_HOURLY"]),
        (PhoneCode.phone, phone, day, cfg["SMS_CODE_PHONE_DAILY"]),
        (PhoneCode.ip, ip, hour, cfg["SMS_CODE_IP_HOURLY"]),
    ):
        count, oldest = db.session.execute(
            select(func.count(), func.min(PhoneCode.created_at)).where(
                column == value, PhoneCode.created_at > now - window
            )
        ).one()
        if count >= limit:
            retry = max(1, int((oldest + window - now).total_seconds()) + 1)
            raise TooManyAttempts(
                _(
                    "Too many codes were asked for. Try again in %(n)d minutes.",
                    n=(retry + 59) // 60,
                ),
                retry_after=retry,
            )


def _account_of(phone: str) -> User | None:
    """The account that logs in with this number, or has it confirmed."""
    return db.session.scalar(
        select(User)
        .where(
            or_(User.login == phone, (User.phone == phone) & User.phone_verified_at.is_not(None))
        )
        .order_by(User.id)
        .limit(1)
    )


def request_code(
    phone_text: str | None,
    purpose: CodePurpose,
    *,
    ip: str,
    user: User | None = None,
    locale: str | None = None,
) -> str:
    """Ask for a one-time code for `purpose` to be texted to the number; returns the number
    (normalised). The same for every number (see above): a number that is not a mobile one is
    refused (ValidationFailed), and so is a request over the limits (TooManyAttempts).
    `user`: the logged-in user changing their number (CodePurpose.change_phone)."""
    phone = _mobile_or_refuse(phone_text)
    ip = (ip or "")[:64]
    _one_code_request_at_a_time(phone, ip)
    ensure_code_allowed(phone, ip)
    owner = _account_of(phone)
    account: User | None = None
    if purpose is CodePurpose.register:
        message = CodeMessage.already_registered if owner else CodeMessage.code
    elif purpose is CodePurpose.reset_password:
        message, account = (CodeMessage.code, owner) if owner else (CodeMessage.nothing, None)
    else:
        if user is None:
            raise ValueError("a change of number is asked for by a logged-in user")
        account = user
        taken = owner is not None and owner.id != user.id
        message = CodeMessage.already_registered if taken else CodeMessage.code
    for older in db.session.scalars(
        select(PhoneCode).where(
            PhoneCode.phone == phone,
            PhoneCode.purpose == purpose,
            PhoneCode.status == CodeStatus.live,
        )
    ):
        CODES.move(older, CodeAction.supersede, actor=user, strict=False)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    row = PhoneCode(
        phone=phone,
        purpose=purpose,
        message=message,
        status=CodeStatus.live,
        code_hash=_code_digest(phone, purpose, code) if message is CodeMessage.code else None,
        user_id=account.id if account is not None else None,
        ip=ip,
        tries=0,
        created_at=utcnow(),
        expires_at=utcnow() + current_app.config["SMS_CODE_TTL"],
    )
    db.session.add(row)
    db.session.flush()
    record(
        user,
        row,
        "issued",
        to_state=CodeStatus.live.value,
        changes={"purpose": purpose.value, "message": message.value},
    )
    if message is CodeMessage.already_registered:
        # the note is for the number's owner, in their language, not the asker's
        locale = owner.locale if owner is not None else None
    if message is not CodeMessage.nothing:
        after_commit(
            "accounts.send_code",
            row.id,
            code if message is CodeMessage.code else "",
            locale or current_app.config["BABEL_DEFAULT_LOCALE"],
        )
    return phone


def _wrong_code(field: str = "code") -> ValidationFailed:
    return ValidationFailed(
        _("Please correct the marked fields."),
        fields={field: [_("The code is wrong or has expired. Ask for a new one.")]},
    )


def check_code(
    phone: str, purpose: CodePurpose, code_text: str | None, *, user: User | None = None
) -> PhoneCode:
    """Use up the live code sent to `phone` for `purpose` if `code_text` is it; otherwise
    count a wrong try (SMS_CODE_MAX_TRIES kill the code) and raise ValidationFailed on the
    `code` field. The caller keeps the count when it refuses: `transaction.keep()`."""
    code = _code_text(code_text)
    now = utcnow()
    row = db.session.scalar(
        select(PhoneCode)
        .where(
            PhoneCode.phone == phone,
            PhoneCode.purpose == purpose,
            PhoneCode.status == CodeStatus.live,
            PhoneCode.message == CodeMessage.code,
            PhoneCode.expires_at > now,
        )
        .order_by(PhoneCode.id.desc())
        .limit(1)
    )
    if row is None or (user is not None and row.user_id != user.id) or not code:
        raise _wrong_code()
    if not hmac.compare_digest(row.code_hash or "", _code_digest(phone, purpose, code)):
        db.session.execute(
            update(PhoneCode)
            .where(PhoneCode.id == row.id, PhoneCode.status == CodeStatus.live)
            .values(tries=PhoneCode.tries + 1)
        )
        db.session.refresh(row)
        if row.tries >= current_app.config["SMS_CODE_MAX_TRIES"]:
            CODES.move(row, CodeAction.exhaust, actor=user, strict=False)
        else:
            record(user, row, "wrong_try", changes={"tries": row.tries})
        raise _wrong_code()
    CODES.move(row, CodeAction.use, actor=user, expected=CodeStatus.live, values={"used_at": now})
    return row


def reset_password(phone_text: str | None, code: str | None, new_password: str, ip: str) -> User:
    """Set a new password for the account of the number, with the code texted to it: every
    session ends and every API token is revoked. Bad input (or a wrong code) raises
    ValidationFailed and changes nothing but the count of wrong tries."""
    phone = _mobile_or_refuse(phone_text)
    if problem := password_problem(new_password):
        raise ValidationFailed(
            _("Please correct the marked fields."), fields={"new_password": [problem]}
        )
    row = check_code(phone, CodePurpose.reset_password, code)
    user = db.session.get(User, row.user_id) if row.user_id else None
    if user is None:  # the account went away since the code was sent
        raise _wrong_code()
    user.set_password(new_password)
    user.password_changed_at = utcnow()
    if user.phone == phone and user.phone_verified_at is None:
        user.phone_verified_at = utcnow()  # the code reached it
    ended = revoke_sessions(user)
    revoked = revoke_tokens(user, user)
    db.session.execute(delete(LoginFailure).where(LoginFailure.login == user.login))
    record(
        user,
        user,
        "password_reset",
        changes={"by": "sms_code", "sessions_ended": ended, "tokens_revoked": revoked},
    )
    return user


def change_phone(
    user: User, *, phone_text: str | None, code: str | None, password: str, ip: str
) -> None:
    """Move the user to a new mobile number (or confirm the present one), with their password
    and the code texted to that number. A user who logs in with their number logs in with the
    new one from now on. The password counts towards the failed-login limit, as a login's."""
    phone = _mobile_or_refuse(phone_text)
    ensure_login_allowed(user.login, ip)
    if not user.check_password(password):
        _record_failure(user.login, ip)
        raise ValidationFailed(
            _("Please correct the marked fields."),
            fields={"password": [_("The password is wrong.")]},
        )
    check_code(phone, CodePurpose.change_phone, code, user=user)
    owner = _account_of(phone)
    if owner is not None and owner.id != user.id:  # taken since the code was sent
        raise ValidationFailed(
            _("Please correct the marked fields."),
            fields={"phone": [_("This mobile number belongs to another account.")]},
        )
    values: dict[str, object] = {"phone": phone}
    if user.login == user.phone and mobile_number(user.login):
        values["login"] = phone
    before_verified = user.phone_verified_at is not None
    changes = diff(user, values)
    user.phone_verified_at = utcnow()
    record(
        user,
        user,
        "phone_changed" if changes else "phone_confirmed",
        changes={**changes, "phone_verified": [before_verified, True]},
    )


def code_sms(row: PhoneCode, code: str, locale: str) -> tuple[str, dict[str, str]]:
    """The template and parameters of the text a code request sends."""
    if row.message is CodeMessage.code:
        return "verify_code", {"code": code}
    with force_locale(locale):
        text_ = _("This number already has an account.")
    return "notice", {"text": text_}
