"""The check characters of the two identity numbers: pure functions, no app, no database.

- 统一社会信用代码 (GB 32100-2015): 18 characters from 0-9 and the capitals without I, O, Z, S
  and V; the last is a check character over the first 17, weighted 3^i mod 31.
- 公民身份号码 (GB 11643-1999): 17 digits and a check character (a digit or X), ISO 7064
  MOD 11-2; characters 7-14 are the holder's date of birth.

Both are read the way people type them: spaces and hyphens dropped, full-width characters and
a lower-case x or letters accepted.
"""

from __future__ import annotations

import unicodedata
from datetime import date

from flask_babel import lazy_gettext as _l

from produce_match.errors import ValidationFailed

#: GB 32100-2015's 31 characters, in the order of their values
CREDIT_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK = "10X98765432"


def _invalid(message: object, field: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: [message]})


def _typed(text: str | None) -> str:
    """NFKC (full-width to ASCII), upper case, without spaces and hyphens."""
    text = unicodedata.normalize("NFKC", text or "").upper()
    return "".join(c for c in text if not c.isspace() and c not in "-–—")


def credit_code_check(first17: str) -> str:
    """The check character of the first 17 characters of a credit code."""
    total = sum(
        CREDIT_CODE_CHARS.index(c) * w for c, w in zip(first17, CREDIT_CODE_WEIGHTS, strict=True)
    )
    return CREDIT_CODE_CHARS[(31 - total % 31) % 31]


def check_credit_code(text: str | None, field: str = "credit_code") -> str:
    """The credit code as stored (18 characters), or Invalid saying what is wrong with it."""
    code = _typed(text)
    if not code:
        raise _invalid(_l("Enter the unified social credit code."), field)
    if len(code) != 18:
        raise _invalid(
            _l(
                "A unified social credit code has 18 characters; this one has %(n)d.",
                n=len(code),
            ),
            field,
        )
    wrong = [c for c in code if c not in CREDIT_CODE_CHARS]
    if wrong:
        raise _invalid(
            _l(
                "A unified social credit code has no “%(char)s”: it uses digits and capital "
                "letters other than I, O, Z, S and V.",
                char=wrong[0],
            ),
            field,
        )
    if credit_code_check(code[:17]) != code[17]:
        raise _invalid(
            _l(
                "This unified social credit code does not add up: its last character is not "
                "the check character of the others. Check it against the licence."
            ),
            field,
        )
    return code


def resident_id_check(first17: str) -> str:
    """The check character of the first 17 digits of a resident ID number."""
    total = sum(int(c) * w for c, w in zip(first17, RESIDENT_ID_WEIGHTS, strict=True))
    return RESIDENT_ID_CHECK[total % 11]


def check_resident_id(text: str | None, field: str = "resident_id", *, today: date) -> str:
    """The resident ID number as stored (18 characters), or Invalid saying what is wrong."""
    number = _typed(text)
    if not number:
        raise _invalid(_l("Enter the resident ID number."), field)
    if len(number) != 18:
        raise _invalid(
            _l("A resident ID number has 18 characters; this one has %(n)d.", n=len(number)),
            field,
        )
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise _invalid(_l("A resident ID number is 17 digits and a last digit or X."), field)
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        born = None
    if born is None or born > today or born.year < 1900:
        raise _invalid(
            _l("Characters 7 to 14 of a resident ID number are a date of birth; these are not."),
            field,
        )
    if resident_id_check(number[:17]) != number[17]:
        raise _invalid(
            _l(
                "This resident ID number does not add up: its last character is not the check "
                "character of the others. Check it against the ID card."
            ),
            field,
        )
    return number


def mask_resident_id(number: str | None) -> str:
    """What pages show of a resident ID number: the first 3 and last 4 (110***********1234)."""
    if not number:
        return ""
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def mask_credit_code(code: str | None) -> str:
    """A credit code is public (it is printed on the licence): shown whole."""
    return code or ""
