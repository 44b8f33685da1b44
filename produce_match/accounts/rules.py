"""Account rules that need no database: logins, phone numbers, passwords."""

from __future__ import annotations

import re
import unicodedata

from flask_babel import lazy_gettext as _l

# the mainland mobile number is read in one place, for every door (and the SMS gateway)
from produce_match.inputs import is_mobile, normalise_phone

__all__ = [
    "is_mobile",
    "login_problem",
    "normalise_login",
    "normalise_phone",
    "password_problem",
    "phone_problem",
]

PASSWORD_MIN = 8
PASSWORD_MAX = 128
_PHONE = re.compile(r"\+?[0-9]+")
_LOGIN = re.compile(r"[a-z0-9][a-z0-9._@-]{2,63}")


def phone_problem(phone: str) -> str | None:
    """Why a normalised phone number is not acceptable (only ASCII digits, after an optional
    +), or None; an empty one is for the caller to require or not."""
    if phone and not _PHONE.fullmatch(phone):
        return str(_l("A phone number has only the digits 0-9, e.g. 13800138000 or 041112345678."))
    return None


def normalise_login(text: str | None) -> str:
    """Logins compare case-insensitively and in NFKC (full-width letters and digits are the
    ASCII ones); a phone number typed with spaces still matches."""
    text = unicodedata.normalize("NFKC", text or "").strip().lower()
    phone = normalise_phone(text)
    return phone if is_mobile(phone) else text


def login_problem(login: str) -> str | None:
    """Why a login name is not acceptable, or None."""
    if not _LOGIN.fullmatch(login):
        return str(_l("3 to 64 letters, digits or . _ @ -, starting with a letter or digit."))
    return None


def password_problem(password: str) -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < PASSWORD_MIN:
        return str(_l("The password needs at least %(n)d characters.", n=PASSWORD_MIN))
    if len(password) > PASSWORD_MAX:
        return str(_l("The password can have at most %(n)d characters.", n=PASSWORD_MAX))
    return None
