"""Chinese vehicle plates: what a plate may look like, written one way, and shown partly masked.

A civil plate is the province's one-character abbreviation, the letter of the issuing city
(I and O are never used), then:

- ordinary plates (blue, yellow for trucks): five letters or digits (辽A12345, 京AB1234), a
  trailer's four and 挂 (辽A1234挂), a coach trainer's four and 学;
- new-energy plates (green, since 2016), six: a small vehicle's letter (D, F, or since 2021
  A–K), one letter or digit, four digits (粤BD12345, 粤BFA1234), a large vehicle's five
  digits then its letter (辽A12345D).

Spaces, dots and dashes people type between the parts are dropped, letters upper-cased.
"""

from __future__ import annotations

import re

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_CITY = "A-HJ-NP-Z"  # no I, no O
_CHAR = "A-HJ-NP-Z0-9"
_NEV = "A-HJK"  # the letters of new-energy plates: D and F first, A–K (not I) since 2021

_PATTERNS = (
    rf"[{PROVINCES}][{_CITY}][{_CHAR}]{{5}}",  # ordinary
    rf"[{PROVINCES}][{_CITY}][{_CHAR}]{{4}}[挂学]",  # trailer, coach trainer
    rf"[{PROVINCES}][{_CITY}][{_NEV}][{_CHAR}][0-9]{{4}}",  # small new-energy
    rf"[{PROVINCES}][{_CITY}][0-9]{{5}}[{_NEV}]",  # large new-energy (trucks, buses)
)
_PLATE = re.compile("^(?:" + "|".join(_PATTERNS) + ")$")
_NOISE = re.compile(r"[\s·•.\-_]")


def normalise_plate(text: str | None) -> str:
    """The plate as it is written on the vehicle, without spaces or dots, upper-case."""
    return _NOISE.sub("", text or "").upper()


def is_plate(plate: str) -> bool:
    """Is `plate` (normalised) a civil Chinese plate, new-energy plates included?"""
    return bool(_PLATE.match(plate))


def is_new_energy(plate: str) -> bool:
    return is_plate(plate) and len(plate) == 8


def mask_plate(plate: str) -> str:
    """辽A12345 → 辽A·***45: enough to match the vehicle in front of you, not to look it up."""
    if len(plate) < 5:
        return "*" * len(plate)
    return f"{plate[:2]}·{'*' * (len(plate) - 4)}{plate[-2:]}"
