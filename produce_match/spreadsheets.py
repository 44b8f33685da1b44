"""Cells of the spreadsheets the site writes (officials' exports, import templates).

Two rules hold for every cell, whatever text is stored:

- It can be written. XLSX is XML, which cannot carry most C0 control characters, lone
  surrogates or U+FFFE/U+FFFF: one such character in one lot's title used to make every export
  that included it fail. Each is written as U+FFFD (the replacement character), so that the
  reader sees where something could not be shown rather than words silently run together.
- It is never run as a formula. Text that a spreadsheet program could read as one (starting with
  = + - @, a tab or a carriage return) gets a leading apostrophe. Programs drop invisible
  characters and fold full-width forms before they decide (`＝1+1` typed on a Chinese keyboard,
  a zero-width space or a byte-order mark before `=`), so the check looks through them too.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

#: what a formula starts with, once invisible characters are dropped and forms folded (NFKC)
FORMULA_STARTS = frozenset("=+-@")
#: raw starts that some programs read as the start of the next cell's formula
RAW_FORMULA_STARTS = ("\t", "\r")
#: the characters XML 1.0 cannot carry (C0 controls other than tab, newline and carriage
#: return; lone surrogates; the two non-characters of the basic plane)
_UNWRITABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: Unicode categories a reader does not see: controls, format characters (zero-width space,
#: byte-order mark, direction marks), separators
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def writable(text: str) -> str:
    """The text with every character a spreadsheet file cannot hold replaced by U+FFFD."""
    return _UNWRITABLE.sub("\ufffd", text)


def _first_visible(text: str) -> str:
    """The first character a reader sees, in its folded (NFKC) form, or "" if there is none."""
    for char in text:
        # one character at a time: a long cell is not folded as a whole for its first letter
        for folded in unicodedata.normalize("NFKC", char):
            if not (folded.isspace() or unicodedata.category(folded) in _INVISIBLE_CATEGORIES):
                return folded
    return ""


def looks_like_formula(text: str) -> bool:
    """Whether a spreadsheet program might run the text as a formula."""
    return text.startswith(RAW_FORMULA_STARTS) or _first_visible(text) in FORMULA_STARTS


def neutralise(value: Any) -> Any:
    """A cell as a spreadsheet should show it: text that looks like a formula gets a quote."""
    if isinstance(value, str) and looks_like_formula(value):
        return "'" + value
    return value


def cell(value: Any) -> Any:
    """Any value as a cell: text writable and never a formula; other values unchanged."""
    return neutralise(writable(value)) if isinstance(value, str) else value


def _csv_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return cell(value)


def to_csv(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> bytes:
    """A CSV file of the rows under the header, every cell made safe, as UTF-8 with a BOM."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_csv_text(v) for v in header])
    for row in rows:
        writer.writerow([_csv_text(v) for v in row])
    # a byte-order mark so that spreadsheet programs read it as UTF-8 (Chinese names)
    return ("\ufeff" + out.getvalue()).encode("utf-8")
