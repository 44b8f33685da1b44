"""What any input must be before the rest of the code reads it, in one place for every door.

Forms, the JSON API, the payment notifications and spreadsheet imports all come through here:

* text that can be stored: no NUL (PostgreSQL refuses it), no lone UTF-16 surrogate (it cannot
  be written as UTF-8), and no other C0 control character (a spreadsheet cannot hold one, and
  it breaks every export that meets it). Tab, line feed and carriage return stay: they are
  how people lay out a description, and a browser sends a textarea's line breaks as CR LF;
* JSON that is nested at most MAX_JSON_DEPTH deep (a deeper document exhausts the parser's
  stack, and nothing this service accepts is more than a few levels deep);
* a redirect target that a browser reads as a page of this site, whatever its spelling;
* a mainland mobile number, however it is typed (+86, spaces, dashes, full-width digits).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from flask_babel import lazy_gettext as _l

#: characters no text column may hold: C0 controls except tab, LF and CR; lone surrogates
UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")

#: the deepest JSON document accepted: {"a": [{"b": 1}]} is 3 deep
MAX_JSON_DEPTH = 32

#: characters a browser drops from a URL or that break a header: C0, DEL and C1 controls
_URL_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")

# [0-9], not \d: \d also matches Arabic-Indic, Devanagari ... digits, which would make one
# number look like another
_MOBILE = re.compile(r"1[3-9][0-9]{9}")


def text_problem(text: str) -> str | None:
    """Why a text cannot be stored (in the user's language), or None when it can."""
    if UNSTORABLE.search(text):
        return str(
            _l(
                "Contains a control character or broken Unicode, which cannot be stored: "
                "remove it and try again."
            )
        )
    return None


def texts_in(value: Any) -> Iterator[str]:
    """Every string inside a value (keys included), however nested, without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for key, inner in item.items():
                stack.extend((key, inner))
        elif isinstance(item, list | tuple):
            stack.extend(item)


class JSONTooDeep(ValueError):
    """A JSON document nested deeper than MAX_JSON_DEPTH."""


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (a scalar is 0)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend((inner, depth + 1) for inner in _children(item))
    return deepest


def _children(item: dict[Any, Any] | list[Any]) -> Any:
    return item.values() if isinstance(item, dict) else item


def load_json(data: str | bytes) -> Any:
    """json.loads, refusing (JSONTooDeep, a ValueError) a document nested too deeply."""
    try:
        value = json.loads(data)
    except RecursionError:  # deeper than the interpreter's stack: far deeper than allowed
        raise JSONTooDeep(f"nested deeper than {MAX_JSON_DEPTH}") from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise JSONTooDeep(f"nested deeper than {MAX_JSON_DEPTH}")
    return value


def local_target(target: str | None) -> str | None:
    """`target` if a browser would read it as a path on this site, else None.

    A redirect to what the user sent (`next`) must not leave the site. Browsers drop tabs and
    line breaks inside a URL, strip control characters and spaces around it, read a backslash
    as a slash and `//host` as another site, so `/<TAB>/evil.example` and `/\\evil.example` are
    other sites. Only a plain absolute path (with its query) is accepted, judged both as sent
    and percent-decoded (a proxy or a second redirect may decode it once more).
    """
    if not target or len(target) > 2000:
        return None
    # as sent: any control character anywhere (a header cannot carry CR or LF either)
    if _URL_CONTROLS.search(target) or not _local_path(target):
        return None
    decoded = target
    for _round in range(3):  # %252F%252F decodes to %2F%2F, then to //
        decoded, before = unquote(decoded), decoded
        if decoded == before:
            break
        if not _local_path(decoded.split("?", 1)[0].split("#", 1)[0]):
            return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _local_path(path: str) -> bool:
    return (
        path.startswith("/")
        and not path.startswith("//")
        and "\\" not in path
        and not _URL_CONTROLS.search(path)
    )


def normalise_phone(text: str | None) -> str:
    """'+86 138-0013-8000' or '１３８ ００１３ ８０００' -> '13800138000'.

    NFKC first, so that full-width digits and signs (an input method's default) are the ASCII
    ones; then spaces, dashes and brackets go, and the +86 / 0086 of a mainland number.
    """
    raw = unicodedata.normalize("NFKC", text or "").strip()
    digits = re.sub(r"[\s()\-]", "", raw)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    return digits


def is_mobile(phone: str) -> bool:
    """A mainland mobile number: 11 ASCII digits starting with 13-19."""
    return bool(_MOBILE.fullmatch(phone))


def mobile_number(text: str | None) -> str | None:
    """The 11 digits of a mainland mobile number however it is typed, or None if it is not one."""
    phone = normalise_phone(text)
    return phone if is_mobile(phone) else None
