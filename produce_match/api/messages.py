"""marshmallow's English validation messages, translated through our catalogue."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

_FIXED = {
    "Missing data for required field.": _l("This field is required."),
    "Field may not be null.": _l("This field may not be empty."),
    "Unknown field.": _l("Unknown field."),
    "Not a valid string.": _l("Not a valid text."),
    "Not a valid integer.": _l("Not a whole number."),
    "Not a valid number.": _l("Not a valid number."),
    "Not a valid boolean.": _l("Not true or false."),
    "Not a valid date.": _l("Not a valid date (YYYY-MM-DD)."),
    "Not a valid datetime.": _l("Not a valid date and time."),
    "Not a valid email address.": _l("Enter a valid e-mail address."),
    "Invalid input type.": _l("Invalid input type."),
    "Invalid value.": _l("Invalid value."),
    "Not a valid list.": _l("Not a valid list."),
    "Not a time of day (HH:MM).": _l("Not a time of day (HH:MM)."),
    "Not a valid mapping type.": _l("Not a valid object."),
    "Give channels, quiet_hours or both.": _l("Give channels, quiet_hours or both."),
}

_PATTERNS = [
    (re.compile(r"Shorter than minimum length (\d+)\."), _l("At least %(n)s characters.")),
    (re.compile(r"Longer than maximum length (\d+)\."), _l("At most %(n)s characters.")),
    (re.compile(r"Must be greater than or equal to (-?[\d.]+)\.?$"), _l("At least %(n)s.")),
    (re.compile(r"Must be less than or equal to (-?[\d.]+)\.?$"), _l("At most %(n)s.")),
    (
        re.compile(
            r"Must be greater than or equal to (-?[\d.]+) and less than or equal to (-?[\d.]+)\."
        ),
        _l("Between %(n)s and %(m)s."),
    ),
    (re.compile(r"Must be one of: (.*)\."), _l("Must be one of: %(n)s.")),
]


def translate(message: str) -> str:
    """The user's-language version of a marshmallow message, or the message itself."""
    if message in _FIXED:
        return str(_FIXED[message])
    for pattern, template in _PATTERNS:
        match = pattern.fullmatch(message)
        if match:
            groups = match.groups()
            return str(template) % {"n": groups[0], "m": groups[1] if len(groups) > 1 else ""}
    return message
