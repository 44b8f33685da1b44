"""What the notices about identity claims say (rendered in each reader's language when shown)."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from produce_match.notifications.messages import message


@message("verification.submitted")
def _submitted(p: dict[str, Any]) -> str:
    return _(
        "%(org)s asks to be verified: check its documents and verify or reject.",
        org=p.get("org") or "",
    )


@message("verification.verified")
def _verified(p: dict[str, Any]) -> str:
    return _("Your organisation is verified: its badge now says so.")


@message("verification.rejected")
def _rejected(p: dict[str, Any]) -> str:
    return _(
        "Your organisation's verification request was rejected: %(reason)s",
        reason=p.get("reason") or "",
    )


@message("verification.revoked")
def _revoked(p: dict[str, Any]) -> str:
    return _(
        "Your organisation's verification was revoked: %(reason)s",
        reason=p.get("reason") or "",
    )
