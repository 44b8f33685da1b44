"""What the notices about passes say (rendered in each reader's language when shown)."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from produce_match.notifications.messages import message


@message("pass.pending")
def _pending(p: dict[str, Any]) -> str:
    return _(
        "%(applicant)s asks for transport pass %(number)s: approve or reject it.",
        applicant=p.get("applicant") or "",
        number=p.get("number") or "",
    )


@message("pass.approved")
def _approved(p: dict[str, Any]) -> str:
    return _("Transport pass %(number)s is approved.", number=p.get("number") or "")


@message("pass.rejected")
def _rejected(p: dict[str, Any]) -> str:
    return _(
        "Transport pass %(number)s was rejected: %(reason)s",
        number=p.get("number") or "",
        reason=p.get("reason") or "",
    )


@message("pass.revoked")
def _revoked(p: dict[str, Any]) -> str:
    return _(
        "Transport pass %(number)s was revoked: %(reason)s",
        number=p.get("number") or "",
        reason=p.get("reason") or "",
    )


@message("pass.suspended")
def _suspended(p: dict[str, Any]) -> str:
    return _(
        "%(office)s suspended your organisation's transport passes: %(reason)s",
        office=p.get("office") or "",
        reason=p.get("reason") or "",
    )


@message("pass.overdue")
def _overdue(p: dict[str, Any]) -> str:
    return _(
        "The vehicle of pass %(number)s entered and has not reached %(destination)s in the "
        "expected time.",
        number=p.get("number") or "",
        destination=p.get("destination") or "",
    )
