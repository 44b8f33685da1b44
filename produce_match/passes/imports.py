"""Importing a whitelist (白名单) from a spreadsheet (.csv, .xlsx): read it, check every row.

The lots import's machinery reads the file (encodings, Excel workbooks, header languages, "line
N, column: reason"); every row goes through the same rules as the whitelist form
(`passes.operations.check_entry`). An import is all rows or none: `passes.operations.add_entries`
adds them, each audited, once not one row has an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from flask_babel import ngettext

from produce_match.accounts.models import Organisation
from produce_match.dates import local_today
from produce_match.errors import ValidationFailed
from produce_match.inputs import text_problem
from produce_match.lots.imports import (
    ImportFileError,
    RawRow,
    RowError,
    column_title,
    map_columns,
    table_records,
)
from produce_match.passes.operations import EntryInput, check_entry

__all__ = ["COLUMNS", "ImportFileError", "check", "read_file"]

#: the file formats read, by extension
FORMATS = ("csv", "xlsx")
#: the largest file and the most rows one import takes: a county's whitelist is a few hundred
MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 2000

#: every column: its English name, then the headers accepted for it; the first Chinese header
#: is the template's
COLUMNS: dict[str, tuple[str, ...]] = {
    "organisation": (
        "organisation",
        "organization",
        "organisation_name",
        "organization_name",
        "name",
        "单位名称",
        "单位",
        "企业名称",
        "名称",
    ),
    "valid_from": ("valid_from", "from", "start", "生效日期", "开始日期", "起始日期"),
    "valid_until": ("valid_until", "until", "end", "截止日期", "有效期至", "结束日期"),
    "reason": ("reason", "列入理由", "理由", "原因"),
}
REQUIRED = ("organisation", "valid_until", "reason")
#: the template's columns, in order
TEMPLATE = ("organisation", "valid_from", "valid_until", "reason")


def title(name: str, chinese: bool = True) -> str:
    """A column's header as the template writes it."""
    return column_title(name, chinese, COLUMNS)


@dataclass
class CheckedEntry:
    """A row after checking: what it says, and either its errors or the entry it adds."""

    line: int
    #: cell text by column name (the English names of COLUMNS)
    cells: dict[str, str]
    errors: list[RowError] = field(default_factory=list)
    organisation: Organisation | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and self.organisation is not None

    @property
    def data(self) -> EntryInput:
        """The row as the whitelist's operations take it."""
        return EntryInput(
            organisation=self.organisation.id if self.organisation else None,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            reason=self.reason,
        )


@dataclass
class WhitelistReport:
    rows: list[CheckedEntry]
    #: errors of the header: no row can be imported with them
    file_errors: list[RowError] = field(default_factory=list)

    @property
    def errors(self) -> list[RowError]:
        return self.file_errors + [e for row in self.rows for e in row.errors]

    @property
    def good(self) -> list[CheckedEntry]:
        return [] if self.file_errors else [row for row in self.rows if row.ok]

    @property
    def bad(self) -> list[CheckedEntry]:
        return [row for row in self.rows if not row.ok]

    @property
    def importable(self) -> bool:
        """All rows or none: only a file without a single error is imported."""
        return not self.file_errors and bool(self.rows) and not self.bad


# --- reading ----------------------------------------------------------------------------------


def file_format(filename: str) -> str:
    """'名单.XLSX' -> 'xlsx'; an ImportFileError for any other format."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in FORMATS:
        raise ImportFileError(
            _(
                "%(name)s is not a spreadsheet we can read: upload a .csv or .xlsx file (in "
                "Excel: Save as, then CSV UTF-8 or Excel workbook).",
                name=name or "?",
            )
        )
    return ext


def read_file(filename: str, data: bytes) -> list[RawRow]:
    """The rows of a .csv or .xlsx file under its header, as text."""
    fmt = file_format(filename)
    if len(data) > MAX_BYTES:
        raise ImportFileError(
            _(
                "The file is larger than %(mb)d MB: a whitelist is a short list. Remove what "
                "is not the four columns, or split it.",
                mb=MAX_BYTES // (1024 * 1024),
            )
        )
    rows = _rows(table_records(fmt, data))
    if len(rows) > MAX_ROWS:
        raise ImportFileError(
            ngettext(
                "The file has more than %(num)d row. Split it and import each part.",
                "The file has more than %(num)d rows. Split it and import each part.",
                MAX_ROWS,
            )
        )
    return rows


def _rows(records: Iterable[tuple[int, list[str]]]) -> list[RawRow]:
    """The first non-blank row is the header; blank rows are skipped."""
    header: tuple[str, ...] | None = None
    header_line = 1
    rows: list[RawRow] = []
    for number, values in records:
        if not any(v.strip() for v in values):
            continue
        if header is None:
            header = tuple(v.strip() for v in values)
            header_line = number
            continue
        cells: dict[str, str] = {}
        problems: dict[str, str] = {}
        for index, value in enumerate(values):
            name = header[index] if index < len(header) else ""
            if not name:
                if value.strip():
                    problems[_("column %(letter)s", letter=_letter(index))] = _(
                        "This cell has no column header."
                    )
                continue
            if problem := text_problem(value):  # a control character: no column stores it
                problems.setdefault(name, problem)
                continue
            cells.setdefault(name, value)
        rows.append(
            RawRow(number, cells, header=header, header_line=header_line, cell_problems=problems)
        )
        if len(rows) > MAX_ROWS:
            break  # enough to say it is too long
    if header is None:
        raise ImportFileError(_("The file is empty."))
    if not rows:
        raise ImportFileError(_("The file has a header but no organisations under it."))
    return rows


def _letter(index: int) -> str:
    letters, n = "", index + 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


# --- checking ---------------------------------------------------------------------------------


def check(rows: Sequence[RawRow], today: date | None = None) -> WhitelistReport:
    """Check every row against the whitelist's rules; adds nothing."""
    today = today or local_today()
    file_errors: list[RowError] = []
    reported: set[tuple[str, ...]] = set()
    checked: list[CheckedEntry] = []
    seen: dict[int, int] = {}  # organisation id -> the line that names it first
    for raw in rows:
        headers = raw.header or ()
        cols = map_columns(headers, COLUMNS, REQUIRED)
        if headers not in reported:
            reported.add(headers)
            file_errors += [RowError(raw.header_line, c, m) for c, m in cols.errors]
        cells = {name: raw.cells.get(header, "").strip() for name, header in cols.used.items()}
        row = CheckedEntry(raw.line, cells)
        for column, problem in raw.cell_problems.items():
            row.errors.append(RowError(raw.line, column, problem))
        data = EntryInput(
            organisation=cells.get("organisation") or None,
            valid_from=cells.get("valid_from") or None,
            valid_until=cells.get("valid_until") or None,
            reason=cells.get("reason") or None,
        )
        try:
            org, start, end, reason = check_entry(data, today)
        except ValidationFailed as exc:
            for name, messages in exc.fields.items():
                if name in cols.missing:
                    continue  # reported once, with the header
                for message in messages:
                    row.errors.append(RowError(row.line, cols.title(name), str(message)))
        else:
            if org.id in seen:
                message = _(
                    "The file names this organisation on line %(line)d already.", line=seen[org.id]
                )
                row.errors.append(RowError(row.line, cols.title("organisation"), message))
            seen.setdefault(org.id, row.line)
            row.organisation, row.valid_from, row.valid_until, row.reason = org, start, end, reason
        checked.append(row)
    return WhitelistReport(checked, file_errors)
