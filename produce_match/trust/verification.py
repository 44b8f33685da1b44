"""Identity claims: submitting one, and an administrator or county official deciding it.

A claim is checked before anything is stored: a credit code's check character (GB 32100-2015),
a resident ID number's date of birth and check character (GB 11643-1999), the person's name,
and for a credit code the photo of the business licence. The photo is kept in the private
storage and shown only to the organisation's members and to those who decide. Verifying sets
the organisation's `verified_at` / `verified_as` (its badge), revoking clears them, each with
the organisation's own audit record besides the claim's.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import Forbidden

from produce_match.accounts import operations as accounts
from produce_match.accounts.models import Organisation, User
from produce_match.audit.operations import record
from produce_match.database import utcnow
from produce_match.dates import local_today
from produce_match.errors import Conflict, ValidationFailed
from produce_match.extensions import db
from produce_match.lots.uploads import process_uploads
from produce_match.notifications.operations import members, notify, overseers
from produce_match.policy import can
from produce_match.storage import save_in_transaction
from produce_match.trust.identity import check_credit_code, check_resident_id
from produce_match.trust.models import CLAIMS, ClaimAction, ClaimStatus, IdentityClaim, IdentityKind

#: the longest reason and name accepted
MAX_REASON = 500
MAX_NAME = 60
#: where the organisation's members read their claims, and where deciders review them
OWN_PAGE = "/account/verification"
REVIEW_PAGE = "/office/verifications"


@dataclass
class ClaimInput:
    """What a form or the API sends: the kind, the number of that kind, the person, a photo."""

    kind: str | None
    person_name: str | None
    credit_code: str | None = None
    resident_id: str | None = None
    photo: bytes | None = None


def _ensure(actor: User | None, action: str, target: Any) -> None:
    if not can(actor, action, target):
        raise Forbidden()


def _invalid(field: str, message: Any) -> ValidationFailed:
    return ValidationFailed(message, fields={field: [str(message)]})


def _text(value: str | None, field: str, missing: Any, limit: int) -> str:
    text = " ".join(str(value or "").split())
    if not text:
        raise _invalid(field, missing)
    if len(text) > limit:
        raise _invalid(field, _("At most %(max)d characters.", max=limit))
    return text


def waiting_claim(org: Organisation) -> IdentityClaim | None:
    """The organisation's claim that waits for a decision, if any (there is at most one)."""
    return db.session.scalar(
        select(IdentityClaim).where(
            IdentityClaim.org_id == org.id, IdentityClaim.status == ClaimStatus.submitted
        )
    )


def standing_claim(org: Organisation) -> IdentityClaim | None:
    """The verified claim the organisation's badge stands on, if any."""
    return db.session.scalar(
        select(IdentityClaim)
        .where(IdentityClaim.org_id == org.id, IdentityClaim.status == ClaimStatus.verified)
        .order_by(IdentityClaim.id.desc())
    )


def claims_of(org: Organisation) -> list[IdentityClaim]:
    """Every claim of an organisation, newest first."""
    return list(
        db.session.scalars(
            select(IdentityClaim)
            .where(IdentityClaim.org_id == org.id)
            .order_by(IdentityClaim.id.desc())
        )
    )


def _waiting_conflict() -> Conflict:
    return Conflict(
        _(
            "Your organisation already has a verification request waiting for review. Wait "
            "for the decision, or withdraw it to submit another."
        ),
        code="claim_waiting",
    )


def _checked(
    data: ClaimInput, *, photo_required: bool = True
) -> tuple[IdentityKind, str, str | None, str | None]:
    """The kind, the person and the number, checked; nothing is stored before this passes."""
    try:
        kind = IdentityKind(data.kind or "")
    except ValueError:
        raise _invalid("kind", _("Choose what is to be verified.")) from None
    credit_code = resident_id = None
    if kind is IdentityKind.credit_code:
        credit_code = check_credit_code(data.credit_code, "credit_code")
        person = _text(
            data.person_name,
            "person_name",
            _("Enter the name of the legal representative (法定代表人)."),
            MAX_NAME,
        )
        if photo_required and not data.photo:
            raise _invalid("photo", _("Add a photo of the business licence."))
    else:
        resident_id = check_resident_id(data.resident_id, "resident_id", today=local_today())
        person = _text(
            data.person_name,
            "person_name",
            _("Enter the name of the holder of the ID card."),
            MAX_NAME,
        )
    return kind, person, credit_code, resident_id


def submit(actor: User, data: ClaimInput) -> IdentityClaim:
    """A member asks for the organisation to be verified; its deciders are told."""
    _ensure(actor, "create", IdentityClaim)
    org = actor.organisation
    assert org is not None  # claimant() holds
    kind, person, credit_code, resident_id = _checked(data)
    if waiting_claim(org) is not None:
        raise _waiting_conflict()
    if standing_claim(org) is not None:
        raise Conflict(_("Your organisation is verified already."), code="already_verified")
    photo_key = thumb_key = None
    if data.photo:
        try:
            (processed,) = process_uploads(actor, [data.photo], max_count=1)
        except ValidationFailed as exc:
            raise ValidationFailed(
                exc.message, code=exc.code, fields={"photo": exc.fields.get("photos", [])}
            ) from None
        name = secrets.token_hex(12)
        photo_key, thumb_key = f"claims/{org.id}/{name}.jpg", f"claims/{org.id}/{name}-thumb.jpg"
        save_in_transaction(photo_key, processed.full)
        save_in_transaction(thumb_key, processed.thumb)
    claim = IdentityClaim(
        org_id=org.id,
        kind=kind,
        credit_code=credit_code,
        person_name=person,
        resident_id=resident_id,
        photo_key=photo_key,
        photo_thumb_key=thumb_key,
        status=ClaimStatus.submitted,
        submitted_by_id=actor.id,
        submitted_at=utcnow(),
    )
    try:
        with db.session.begin_nested():  # the one-waiting index, should another request race
            db.session.add(claim)
            db.session.flush()
    except IntegrityError:
        raise _waiting_conflict() from None
    # never the resident ID number in the trail: the claim row keeps it, pages mask it
    record(
        actor,
        claim,
        "submitted",
        to_state=ClaimStatus.submitted.value,
        changes={"kind": kind.value, "photo": photo_key is not None},
    )
    notify(
        overseers(org.province_code, org.county_code),
        "verification.submitted",
        {"org": org.name},
        url=REVIEW_PAGE,
        actor=actor,
    )
    return claim


def verify_in_person(actor: User, org: Organisation, data: ClaimInput) -> IdentityClaim:
    """An administrator or an official of the county records a verification made from papers
    shown in person (and the demo world its verified organisations): the same checks of the
    number, a claim verified at once, the same audit records; no photo needed."""
    if not can(actor, "verify", org):
        raise Forbidden()
    kind, person, credit_code, resident_id = _checked(data, photo_required=False)
    if waiting_claim(org) is not None or standing_claim(org) is not None:
        raise Conflict(
            _("This organisation has a verification request already."), code="claim_waiting"
        )
    claim = IdentityClaim(
        org_id=org.id,
        kind=kind,
        credit_code=credit_code,
        person_name=person,
        resident_id=resident_id,
        status=ClaimStatus.submitted,
        submitted_by_id=actor.id,
        submitted_at=utcnow(),
    )
    db.session.add(claim)
    db.session.flush()
    record(
        actor,
        claim,
        "submitted",
        to_state=ClaimStatus.submitted.value,
        changes={"kind": kind.value, "in_person": True},
    )
    CLAIMS.move(
        claim,
        ClaimAction.verify,
        actor=actor,
        expected=ClaimStatus.submitted,
        values={"decided_at": utcnow(), "decided_by_id": actor.id},
        facts={"kind": kind.value, "in_person": True},
    )
    accounts.set_verified(org, actor, True, kind=kind.value, changes={"claim": claim.id})
    return claim


def withdraw(actor: User, claim: IdentityClaim) -> None:
    """A member calls the organisation's waiting claim off."""
    _ensure(actor, "withdraw", claim)
    CLAIMS.move(claim, ClaimAction.withdraw, actor=actor)


def _tell_members(claim: IdentityClaim, kind: str, actor: User, **params: Any) -> None:
    notify(
        members(claim.org_id),
        kind,
        {"org": claim.org.name, **params},
        url=OWN_PAGE,
        actor=actor,
    )


def verify(actor: User, claim: IdentityClaim) -> None:
    """An administrator or an official of the county verifies a waiting claim: the organisation
    is verified, as what the claim showed."""
    _ensure(actor, "verify", claim)
    now = utcnow()
    CLAIMS.move(
        claim,
        ClaimAction.verify,
        actor=actor,
        expected=ClaimStatus.submitted,
        values={"decided_at": now, "decided_by_id": actor.id},
        facts={"kind": claim.kind.value},
    )
    accounts.set_verified(
        claim.org, actor, True, kind=claim.kind.value, changes={"claim": claim.id}
    )
    _tell_members(claim, "verification.verified", actor)


def _reason(reason: str | None, missing: Any) -> str:
    return _text(reason, "reason", missing, MAX_REASON)


def reject(actor: User, claim: IdentityClaim, reason: str | None) -> None:
    """An administrator or an official of the county rejects a waiting claim, saying why."""
    _ensure(actor, "reject", claim)
    reason = _reason(reason, _("Say why the request is rejected."))
    CLAIMS.move(
        claim,
        ClaimAction.reject,
        actor=actor,
        expected=ClaimStatus.submitted,
        values={"decided_at": utcnow(), "decided_by_id": actor.id, "reason": reason},
        facts={"reason": reason},
    )
    _tell_members(claim, "verification.rejected", actor, reason=reason)


def revoke(actor: User, claim: IdentityClaim, reason: str | None) -> None:
    """An administrator or an official of the county takes a verification back, saying why:
    the organisation is no longer verified."""
    _ensure(actor, "revoke", claim)
    reason = _reason(reason, _("Say why the verification is revoked."))
    CLAIMS.move(
        claim,
        ClaimAction.revoke,
        actor=actor,
        expected=ClaimStatus.verified,
        values={"decided_at": utcnow(), "decided_by_id": actor.id, "reason": reason},
        facts={"reason": reason},
    )
    accounts.set_verified(claim.org, actor, False, changes={"claim": claim.id, "reason": reason})
    _tell_members(claim, "verification.revoked", actor, reason=reason)


def revoke_organisation(actor: User, org: Organisation, reason: str | None) -> None:
    """Take an organisation's verification back: its standing claim's, or (verified before
    claims existed, with nothing behind it) the bare mark."""
    claim = standing_claim(org)
    if claim is not None:
        revoke(actor, claim, reason)
        return
    if not can(actor, "verify", org):
        raise Forbidden()
    reason = _reason(reason, _("Say why the verification is revoked."))
    if not org.verified:
        raise Conflict(_("This organisation is not verified."), code="not_verified")
    accounts.set_verified(org, actor, False, changes={"reason": reason})
    notify(
        members(org.id),
        "verification.revoked",
        {"org": org.name, "reason": reason},
        url=OWN_PAGE,
        actor=actor,
    )


def claims_to_review(actor: User, status: ClaimStatus | None = ClaimStatus.submitted) -> Any:
    """The query of the claims a decider sees: an administrator's all, an official's those of
    organisations in the jurisdiction; oldest waiting first, others newest first."""
    query = select(IdentityClaim).join(Organisation, Organisation.id == IdentityClaim.org_id)
    if not actor.is_admin:
        office = actor.organisation
        if office is None or office.province_code is None:
            return query.where(IdentityClaim.id.is_(None))
        query = query.where(Organisation.province_code == office.province_code)
        if office.county_code is not None:
            query = query.where(Organisation.county_code == office.county_code)
    if status is not None:
        query = query.where(IdentityClaim.status == status)
    if status is ClaimStatus.submitted:
        return query.order_by(IdentityClaim.submitted_at, IdentityClaim.id)
    return query.order_by(IdentityClaim.id.desc())
