"""How grades of produce are written and compared (一等, 特级, A ...): pure functions.

Lots name one grade, demands the grades they take; the matching rule compares them by `grade_key`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable


def grade_key(grade: str | None) -> str:
    """How grades are compared: NFKC, no spaces, case-folded ('一 等' == '一等', 'A' == 'a')."""
    return "".join(unicodedata.normalize("NFKC", grade or "").split()).casefold()


def split_grades(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """'一等、特级, 二等' -> ('一等', '特级', '二等'): separated by , ， 、 ; or /; no repeats."""
    if text is None:
        return ()
    if isinstance(text, str):
        for sep in "，、;；/":
            text = text.replace(sep, ",")
        parts: Iterable[str] = text.split(",")
    else:
        parts = text
    seen: dict[str, str] = {}
    for part in parts:
        clean = " ".join(str(part).split())
        if clean and grade_key(clean) not in seen:
            seen[grade_key(clean)] = clean
    return tuple(seen.values())
