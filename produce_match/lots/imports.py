"""Importing lots from a spreadsheet (.csv, .xlsx, .jsonl): read it, check every row, create.

An official collects lots in the villages in a spreadsheet; a cooperative may upload its own.
`read_file` turns the bytes into rows of text, `check` puts every row through the same rules as
the form and the API (`operations.clean`) and the permission policy, and `apply` creates the new
cooperatives and the lots. Nothing is created when any row has an error unless the caller asks
to skip the invalid rows; errors in the header (an unknown or missing column) always stop the
import, because skipping a column would silently drop data.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import event, select
from sqlalchemy.engine import FrozenResult, Result
from sqlalchemy.orm import ORMExecuteState

from produce_match import policy
from produce_match.accounts.models import Organisation, OrgKind, Role, User
from produce_match.accounts.operations import PlaceInput, resolve_place
from produce_match.accounts.rules import normalise_phone, phone_problem
from produce_match.audit.operations import record
from produce_match.catalog.models import Commodity, Region
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.inputs import load_json, text_problem
from produce_match.lots.models import MAX_HOLDBACK_PCT, Lot, Settlement
from produce_match.lots.operations import LotInput, clean, create_lot

#: the file formats read, by extension
FORMATS = ("csv", "xlsx", "jsonl")

#: every column: its name in the rules (English), then the headers accepted for it. The first
#: Chinese header is the one the template uses and errors show when the file is in Chinese.
COLUMNS: dict[str, tuple[str, ...]] = {
    "cooperative": ("cooperative", "coop", "co_op", "cooperative_name", "合作社", "合作社名称"),
    "title": ("title", "标题"),
    "commodity": ("commodity", "product", "produce", "品类", "品名", "产品", "农产品"),
    #: only for produce not in the catalogue: posted under this category's "other" entry
    "category": ("category", "kind", "类别", "大类"),
    "variety": ("variety", "品种"),
    "grade": ("grade", "等级"),
    "quantity": ("quantity", "qty", "数量"),
    "unit": ("unit", "quantity_unit", "单位", "数量单位"),
    "price": ("price", "unit_price", "价格", "单价"),
    "price_unit": ("price_unit", "计价单位", "价格单位"),
    "province": ("province", "省", "省份"),
    "county": ("county", "district", "县", "县区", "区县", "县/区"),
    "township": ("township", "town", "乡镇", "镇"),
    "village": ("village", "村"),
    "available_from": ("available_from", "available", "可供日期"),
    "spoil_by": ("spoil_by", "sell_by", "最迟销售日期"),
    "description": ("description", "描述", "说明"),
    "storage_notes": ("storage_notes", "storage", "储存条件"),
    "contact_person": ("contact_person", "contact", "联系人"),
    "phone": ("phone", "mobile", "电话", "手机", "联系电话"),
    #: when the cooperative is paid: 收货后结算 / 装车结算 / 两者皆可 (see SETTLEMENT_WORDS)
    "settlement_terms": ("settlement_terms", "settlement", "payment_terms", "结算方式", "结算"),
    #: paid on loading: the share kept until delivery, a whole percent 0-10
    "holdback_percent": (
        "holdback_percent",
        "holdback",
        "holdback_pct",
        "扣留比例",
        "留存比例",
        "扣留",
        "留存",
    ),
}
REQUIRED = ("cooperative", "commodity", "quantity", "price", "province", "county")
#: what a cooperative may leave out: its own name and place are the defaults
OWN_DEFAULTS = ("cooperative", "province", "county")
#: columns that describe a cooperative to create, not the lot
ORG_COLUMNS = ("cooperative", "contact_person", "phone")
LOT_COLUMNS = tuple(f.name for f in fields(LotInput))
ORG_NAME_MAX, CONTACT_MAX, PHONE_MAX = 120, 60, 30

_DELIVERY, _LOADING = (Settlement.on_delivery,), (Settlement.on_loading,)
#: the settlement terms as a cooperative writes them in a cell (compared as `_term_key` does):
#: one of them, or several separated by commas, 、 or /
SETTLEMENT_WORDS: dict[str, tuple[Settlement, ...]] = {
    **dict.fromkeys(
        ("收货后结算", "收货结算", "货到结算", "到货结算", "货到付款", "收货后付款"), _DELIVERY
    ),
    **dict.fromkeys(("装车结算", "装车付款", "装车后结算", "款到发货"), _LOADING),
    **dict.fromkeys(
        ("两者皆可", "两者均可", "两种都可以", "都可以", "均可", "皆可"), (*_DELIVERY, *_LOADING)
    ),
    **dict.fromkeys(("on_delivery", "paid_on_delivery", "delivery"), _DELIVERY),
    **dict.fromkeys(("on_loading", "paid_on_loading", "loading"), _LOADING),
    **dict.fromkeys(("either", "both"), (*_DELIVERY, *_LOADING)),
}
_TERM_SEPARATORS = re.compile(r"[,，、/;；]|\s+(?:or|and)\s+|[或和及]")

_CJK = re.compile(r"[\u3400-\u9fff]")


def _is_chinese(text: str) -> bool:
    return bool(_CJK.search(text))


def _header_key(text: str) -> str:
    """How a header is compared: NFKC, lower case, spaces and dashes as '_', no '*' or ':'."""
    key = unicodedata.normalize("NFKC", text).strip().lower().strip("*:：").strip()
    return re.sub(r"[\s\-]+", "_", key)


_ALIASES = {_header_key(alias): name for name, aliases in COLUMNS.items() for alias in aliases}


def required_columns(actor: User | None) -> tuple[str, ...]:
    """The columns a file must have for this importer: a cooperative's own name and place
    fill in for the columns it leaves out."""
    if actor is not None and actor.role is Role.cooperative:
        return tuple(name for name in REQUIRED if name not in OWN_DEFAULTS)
    return REQUIRED


def column_title(
    name: str, chinese: bool, columns: dict[str, tuple[str, ...]] | None = None
) -> str:
    """A column's name as the template writes it, in Chinese or in English."""
    if chinese:
        return next(alias for alias in (columns or COLUMNS)[name] if _is_chinese(alias))
    return name


def aliases_of(columns: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Every accepted header, compared as `_header_key` does, -> its column (other imports)."""
    return {_header_key(alias): name for name, aliases in columns.items() for alias in aliases}


class ImportFileError(ValidationFailed):
    """The file cannot be read at all (format, encoding, no rows); `message` is for people."""

    code = "import_file_invalid"


@dataclass
class RawRow:
    """One row of the file as text, keyed by the headers as the file spells them."""

    #: the line as people see it: the spreadsheet's row number, or the line of a .jsonl file
    line: int
    cells: dict[str, str]
    #: why the line could not be read at all (a .jsonl line that is not a JSON object)
    problem: str | None = None
    #: the header row of a .csv / .xlsx file (shared by its rows); None for .jsonl
    header: tuple[str, ...] | None = None
    header_line: int = 1
    #: cells that hold something no rule can read (a list in a .jsonl line): column -> message
    cell_problems: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RowError:
    """An error in one cell: its line, its column (as the file spells it) and the message."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        # the words and punctuation of the reader's language: 第 3 行，数量：…
        if self.column:
            return _(
                "line %(line)d, %(column)s: %(message)s",
                line=self.line,
                column=self.column,
                message=self.message,
            )
        return _("line %(line)d: %(message)s", line=self.line, message=self.message)


@dataclass
class CheckedRow:
    """A row after checking: what it says, and either its errors or what it will create."""

    line: int
    #: cell text by column name (the English names of COLUMNS)
    cells: dict[str, str]
    errors: list[RowError] = field(default_factory=list)
    cooperative: Organisation | None = None
    data: LotInput | None = None
    #: the lot's values as the rules cleaned them (for the preview)
    values: dict[str, Any] | None = None
    #: what those values refer to, for the preview to name them
    commodity: Commodity | None = None
    province: Region | None = None
    county: Region | None = None
    #: a settlement or holdback cell could not be read: the preview shows the cells as written
    terms_unread: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors and self.data is not None and self.cooperative is not None

    @property
    def settlements(self) -> tuple[Settlement, ...]:
        """The settlement terms the lot will offer (for the preview), on delivery first."""
        values = self.values or {}
        offered = {
            Settlement.on_delivery: values.get("settle_on_delivery", True),
            Settlement.on_loading: values.get("settle_on_loading", False),
        }
        return tuple(s for s, on in offered.items() if on)

    @property
    def new_cooperative(self) -> bool:
        """Names a cooperative that the import will create."""
        return self.cooperative is not None and self.cooperative.id is None

    @property
    def cooperative_name(self) -> str:
        return (
            self.cooperative.name
            if self.cooperative is not None
            else self.cells.get("cooperative", "")
        )


@dataclass
class ImportReport:
    """Every row checked; the header's errors apart, since no row can be imported with them."""

    rows: list[CheckedRow]
    file_errors: list[RowError] = field(default_factory=list)

    @property
    def errors(self) -> list[RowError]:
        """Every error, the header's first, then by line."""
        return self.file_errors + [e for row in self.rows for e in row.errors]

    @property
    def good(self) -> list[CheckedRow]:
        """The rows that importing creates: none while the header has errors."""
        if self.file_errors:
            return []
        return [row for row in self.rows if row.ok]

    @property
    def bad(self) -> list[CheckedRow]:
        return [row for row in self.rows if not row.ok]

    @property
    def new_cooperatives(self) -> list[str]:
        """Names of the cooperatives that importing the good rows creates."""
        return list(
            dict.fromkeys(
                row.cooperative.name
                for row in self.good
                if row.new_cooperative and row.cooperative is not None
            )
        )

    @property
    def importable(self) -> bool:
        """Whether some rows can be imported (skipping the others if need be)."""
        return not self.file_errors and bool(self.good)


# --- reading ----------------------------------------------------------------------------------


def file_format(filename: str) -> str:
    """'Lots.XLSX' -> 'xlsx'; an ImportFileError for any format not read."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in FORMATS:
        raise ImportFileError(
            _(
                "%(name)s is not a file we can read: upload a .csv, .xlsx or "
                ".jsonl file (in Excel: Save as, then CSV or Excel workbook).",
                name=name or "?",
            )
        )
    return ext


def read_file(filename: str, data: bytes) -> list[RawRow]:
    """The rows of a .csv, .xlsx or .jsonl file (chosen by its extension), as text."""
    fmt = file_format(filename)
    if fmt == "csv":
        rows = _table_rows(_csv_records(data))
    elif fmt == "xlsx":
        rows = _table_rows(_xlsx_records(data))
    else:
        rows = list(_jsonl_rows(data))
    if not rows:
        raise ImportFileError(_("The file has no rows of lots."))
    for row in rows:
        _refuse_unstorable_cells(row)
    return rows


def table_records(fmt: str, data: bytes) -> Iterator[tuple[int, list[str]]]:
    """The numbered rows of a .csv or .xlsx file as text, blank ones included (other imports
    read their spreadsheets so, with the same encodings and workbook rules)."""
    return _csv_records(data) if fmt == "csv" else _xlsx_records(data)


def _refuse_unstorable_cells(row: RawRow) -> None:
    """A cell holding text no column can store (a control character) is that cell's problem,
    reported like any other, as forms and the API refuse it (`inputs.text_problem`)."""
    for header, text in list(row.cells.items()):
        if problem := text_problem(text):
            del row.cells[header]
            row.cell_problems[header] = problem


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with its BOM; else GB18030, as Chinese Excel saves."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings: tuple[str, ...] = ("utf-16",)
    elif data.startswith(codecs.BOM_UTF8):
        encodings = ("utf-8-sig",)
    else:
        encodings = ("utf-8", "gb18030")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(_("The file's text encoding is unknown: save it as CSV UTF-8."))


def _csv_records(data: bytes) -> Iterator[tuple[int, list[str]]]:
    text = _decode(data)
    first_line = text.split("\n", 1)[0]
    # Excel writes commas, or semicolons in some locales; "Unicode text" is tab-separated
    delimiter = max(",\t;", key=first_line.count) if first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        # the record's number, as a spreadsheet numbers its rows (a quoted cell may hold lines)
        yield from enumerate(reader, start=1)
    except csv.Error as exc:
        raise ImportFileError(_("The CSV file is damaged: %(problem)s", problem=str(exc))) from None


def _xlsx_records(data: bytes) -> Iterator[tuple[int, list[str]]]:
    import openpyxl

    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles and extensions it ignores: nothing to do with the data
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # a damaged or disguised file raises anything from zipfile to KeyError
        raise ImportFileError(_("This is not an Excel workbook we can read (.xlsx).")) from None
    try:
        if not book.worksheets:
            return
        sheet = book.worksheets[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # in read-only mode rows come in order with their own numbers, gaps included
            for row in sheet.iter_rows():
                cells = [_xlsx_cell_text(cell) for cell in row]
                number = next((c.row for c in row if getattr(c, "row", None)), None)
                if number is not None:
                    yield number, cells
    finally:
        book.close()


def _xlsx_cell_text(cell: Any) -> str:
    """A workbook cell as people see it: a number formatted as a percent (0.05 shown as 5%)
    reads as 5%."""
    value = cell.value
    number_format = getattr(cell, "number_format", None) or ""
    is_number = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    if is_number and "%" in number_format:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if number.is_finite():
            return _cell_text(number * 100) + "%"
    return _cell_text(value)


def cell_text(value: Any) -> str:
    """A spreadsheet or JSON value as the rules read text: dates as YYYY-MM-DD, 6.8 as '6.8'."""
    return _cell_text(value)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        # Excel stores every date as a date and time; the date is what a date column means
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        # repr is the shortest text that reads back as the same float: 6.8, not 6.7999999...
        number = Decimal(repr(value)) if isinstance(value, float) else value
        if not number.is_finite():
            return str(value)
        text = format(number, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


def _table_rows(records: Iterable[tuple[int, list[str]]]) -> list[RawRow]:
    """Rows of a .csv or .xlsx file: the first non-blank row is the header."""
    header: tuple[str, ...] | None = None
    header_line = 1
    rows: list[RawRow] = []
    for number, values in records:
        if not any(v.strip() for v in values):
            continue  # blank rows: spreadsheets are full of them
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
                    problems[_nameless(index)] = _("This cell has no column header.")
                continue
            if name not in cells:  # a repeated header is reported with the header
                cells[name] = value
        rows.append(
            RawRow(number, cells, header=header, header_line=header_line, cell_problems=problems)
        )
    if header is None:
        raise ImportFileError(_("The file is empty."))
    if not rows:
        raise ImportFileError(_("The file has a header but no rows of lots."))
    return rows


def _nameless(index: int) -> str:
    """'column F': how a column without a header is named (as Excel letters its columns)."""
    letters, n = "", index + 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return _("column %(letter)s", letter=letters)


def _jsonl_rows(data: bytes) -> Iterator[RawRow]:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ImportFileError(_("A .jsonl file must be UTF-8 text.")) from None
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = load_json(line)
        except ValueError:  # not JSON, or nested deeper than any row of lots could be
            obj = None
        if not isinstance(obj, dict):
            yield RawRow(number, {}, problem=_("This line is not a JSON object."))
            continue
        cells: dict[str, str] = {}
        problems: dict[str, str] = {}
        for key, value in obj.items():
            if isinstance(value, dict | list):
                problems[str(key)] = _("Must be text or a number.")
            else:
                cells[str(key)] = _cell_text(value)
        yield RawRow(number, cells, cell_problems=problems)


# --- remembering the reference data for one import -------------------------------------------

#: the tables an import reads on every row and never changes
_REFERENCE_TABLES = frozenset({Commodity, Region})


@contextmanager
def _reference_cache() -> Iterator[None]:
    """Answer repeated queries of commodities and regions from memory, for one import.

    `clean` looks up the commodity, the province and the county of every row by name: three
    queries a row, in `check` and again in `create_lot`, though a file names the same few dozen
    again and again. The lookup functions stay as they are; this session alone, for the length
    of one import, keeps each distinct query's result (the objects stay in the session's
    identity map) and answers the same query from it. On 10,000 rows it saves a third of the
    time (bench/import_lots.py).
    """
    session = db.session()
    cache: dict[Any, FrozenResult[Any]] = {}

    def answer(state: ORMExecuteState) -> Result[Any] | None:
        if not state.is_select or state.is_relationship_load or state.is_column_load:
            return None
        entities = {d.get("entity") for d in state.statement.column_descriptions}
        if not entities or not entities <= _REFERENCE_TABLES:
            return None
        # SQLAlchemy's own key for a statement's structure, plus the values it is run with
        cache_key = state.statement._generate_cache_key()
        if cache_key is None:
            return None
        key = (
            cache_key.key,
            tuple(p.effective_value for p in cache_key.bindparams),
            tuple(sorted(state.parameters.items())) if state.parameters else (),
        )
        try:
            frozen = cache.get(key)
        except TypeError:  # a value that cannot be a key (a list for IN): not worth caching
            return None
        if frozen is None:
            frozen = cache[key] = state.invoke_statement().freeze()
        return frozen()

    event.listen(session, "do_orm_execute", answer)
    try:
        yield
    finally:
        event.remove(session, "do_orm_execute", answer)


#: the same cache, for the other imports (demands) that look up commodities and regions per row
reference_cache = _reference_cache


# --- checking ---------------------------------------------------------------------------------


@dataclass
class _Columns:
    """How one header (or one .jsonl line's keys) maps to the columns of the rules."""

    #: column name -> the header as the file spells it
    used: dict[str, str]
    chinese: bool
    errors: list[tuple[str, str]]  # (column as spelled, message)
    missing: set[str]
    #: the columns of this kind of import (the lots' by default)
    spec: dict[str, tuple[str, ...]] = field(default_factory=lambda: COLUMNS)

    def title(self, name: str) -> str:
        return self.used.get(name) or column_title(name, self.chinese, self.spec)


def _map_columns(
    headers: Sequence[str],
    columns: dict[str, tuple[str, ...]] | None = None,
    required: Sequence[str] = REQUIRED,
) -> _Columns:
    """How a header maps to the columns (the lots', or another import's `columns`)."""
    spec = columns or COLUMNS
    aliases = _ALIASES if columns is None else aliases_of(columns)
    used: dict[str, str] = {}
    errors: list[tuple[str, str]] = []
    chinese = any(_is_chinese(h) for h in headers)
    for header in headers:
        if not header:
            continue  # a column without a header is only an error where it holds something
        name = aliases.get(_header_key(header))
        if name is None:
            errors.append((header, _unknown_column(header, aliases)))
        elif name in used:
            errors.append(
                (
                    header,
                    _(
                        "Two columns mean %(column)s (%(first)s and %(second)s): keep one.",
                        column=name,
                        first=used[name],
                        second=header,
                    ),
                )
            )
        else:
            used[name] = header
    missing = {name for name in required if name not in used}
    for name in required:
        if name in missing:
            errors.append((column_title(name, chinese, spec), _("This column is required.")))
    return _Columns(used, chinese, errors, missing, spec)


def map_columns(
    headers: Sequence[str], columns: dict[str, tuple[str, ...]], required: Sequence[str]
) -> _Columns:
    """The header of another kind of import (demands) mapped by the same rules."""
    return _map_columns(headers, columns, required)


def _unknown_column(header: str, aliases: dict[str, str] | None = None) -> str:
    close = difflib.get_close_matches(
        _header_key(header), list(aliases or _ALIASES), n=1, cutoff=0.6
    )
    if close:
        return _("Unknown column. Did you mean %(name)s?", name=close[0])
    return _("Unknown column. The columns are listed on the import page and in the template.")


class _Checker:
    """Checks the rows of one import; remembers what it looked up, for the whole import."""

    def __init__(self, actor: User | None) -> None:
        self.actor = actor
        self.own: Organisation | None = None
        if actor is not None:
            policy.ensure(actor, "import", Lot)
            if actor.role is Role.cooperative:
                self.own = actor.organisation
        self.orgs: dict[str, Organisation | None] = {}
        self.new_orgs: dict[str, Organisation] = {}
        self.places: dict[tuple[str, str], tuple[Region, Region] | None] = {}
        self.columns: dict[tuple[str, ...], _Columns] = {}

    # lookups, cached for the whole import: the same few names repeat on thousands of rows

    def existing_org(self, name: str) -> Organisation | None:
        if name not in self.orgs:
            self.orgs[name] = db.session.scalar(
                select(Organisation).where(Organisation.name == name)
            )
        return self.orgs[name]

    def place(self, province: str, county: str) -> tuple[Region, Region] | None:
        key = (province, county)
        if key not in self.places:
            try:
                found = resolve_place(PlaceInput(province=province, county=county), required=True)
            except ValidationFailed:
                found = (None, None)
            region, county_region = found
            self.places[key] = (region, county_region) if region and county_region else None
        return self.places[key]

    def columns_of(self, headers: tuple[str, ...]) -> _Columns:
        if headers not in self.columns:
            self.columns[headers] = _map_columns(headers, required=required_columns(self.actor))
        return self.columns[headers]

    # one row

    def row(self, raw: RawRow, cols: _Columns) -> CheckedRow:
        cells = {name: raw.cells.get(header, "") for name, header in cols.used.items()}
        checked = CheckedRow(raw.line, {k: v.strip() for k, v in cells.items()})

        def fail(name: str, message: str) -> None:
            checked.errors.append(RowError(raw.line, cols.title(name), str(message)))

        for column, message in raw.cell_problems.items():
            checked.errors.append(RowError(raw.line, column, message))
        org = self.cooperative(checked, cols, fail)
        given = {
            name: (cells.get(name) or "").strip() or None
            for name in LOT_COLUMNS
            if name in cols.used
        }
        checked.terms_unread = not _settlement_cells(given, fail)
        data = LotInput(**given)
        checked.data = data
        if org is None:
            # the lot's own rules are still worth checking: against the user's own cooperative,
            # or against a cooperative without a place
            org = self.own or Organisation(kind=OrgKind.cooperative, name="")
        else:
            checked.cooperative = org
        try:
            checked.values = values = clean(data, org)
        except ValidationFailed as exc:
            for name, messages in exc.fields.items():
                if name in cols.missing or cols.used.get(name) in raw.cell_problems:
                    continue  # reported once already: in the header, or as the cell's problem
                for message in messages:
                    fail(name, message)
        else:
            # already in the session (and the import's cache): no query
            checked.commodity = db.session.get(Commodity, values["commodity_id"])
            checked.province = db.session.get(Region, values["province_code"])
            checked.county = db.session.get(Region, values["county_code"])
        self.jurisdiction(checked, org, fail)
        if checked.errors:
            checked.data = None
        return checked

    def cooperative(
        self, checked: CheckedRow, cols: _Columns, fail: Callable[[str, str], None]
    ) -> Organisation | None:
        name = " ".join(checked.cells.get("cooperative", "").split())
        if self.own is not None:  # a cooperative imports its own lots, and only those
            if name and name != self.own.name:
                fail(
                    "cooperative",
                    _(
                        "You can import only the lots of your own cooperative (%(name)s).",
                        name=self.own.name,
                    ),
                )
                return None
            return self.own
        if not name:
            if "cooperative" not in cols.missing:
                fail("cooperative", _("Enter the cooperative's name."))
            return None
        if len(name) > ORG_NAME_MAX:
            fail("cooperative", _("At most %(max)d characters.", max=ORG_NAME_MAX))
            return None
        org = self.existing_org(name)
        if org is not None:
            if org.kind is not OrgKind.cooperative:
                fail(
                    "cooperative", _("%(name)s is registered, but not as a cooperative.", name=name)
                )
                return None
            return org
        return self.new_cooperative(name, checked, fail)

    def new_cooperative(
        self, name: str, checked: CheckedRow, fail: Callable[[str, str], None]
    ) -> Organisation | None:
        """An unsaved cooperative, the same for every row that names it; created on import."""
        contact = " ".join(checked.cells.get("contact_person", "").split())
        phone = normalise_phone(checked.cells.get("phone"))
        bad = False
        if len(contact) > CONTACT_MAX:
            fail("contact_person", _("At most %(max)d characters.", max=CONTACT_MAX))
            bad = True
        if len(phone) > PHONE_MAX:
            fail("phone", _("At most %(max)d characters.", max=PHONE_MAX))
            bad = True
        elif problem := phone_problem(phone):
            fail("phone", problem)
            bad = True
        org = self.new_orgs.get(name)
        if org is None:
            org = Organisation(kind=OrgKind.cooperative, name=name)
            self.new_orgs[name] = org
        if org.province_code is None:  # the first row with a usable place gives its place
            place = self.place(checked.cells.get("province", ""), checked.cells.get("county", ""))
            if place is not None and self.may_place(place[0].code, place[1].code):
                org.province_code, org.county_code = place[0].code, place[1].code
        if not bad:
            org.contact_person = org.contact_person or contact or None
            org.phone = org.phone or phone or None
        return org

    def may_place(self, province_code: str, county_code: str) -> bool:
        """An official imports only lots in the office's county or province."""
        actor = self.actor
        if actor is None or actor.role is not Role.official:
            return True
        return policy.official_covers(actor, province_code, county_code)

    def jurisdiction(
        self, checked: CheckedRow, org: Organisation, fail: Callable[[str, str], None]
    ) -> None:
        """Refuse a row whose cooperative or place is outside the importing official's
        jurisdiction: a lot placed in the office's county may still belong to a cooperative
        elsewhere, and the office may not post for it."""
        actor = self.actor
        if actor is None or actor.role is not Role.official:
            return
        coop = checked.cooperative
        if (
            coop is not None
            and coop.id is not None  # a new one takes its place from the row, checked below
            and not self.may_place(coop.province_code or "", coop.county_code or "")
        ):
            fail("cooperative", _("This cooperative is outside your office's jurisdiction."))
            return
        if checked.values is not None:
            codes = (checked.values["province_code"], checked.values["county_code"])
        else:
            place = self.place(
                checked.cells.get("province") or org.province_code or "",
                checked.cells.get("county") or org.county_code or "",
            )
            if place is None:
                return  # an unknown place is already an error of its own
            codes = (place[0].code, place[1].code)
        if self.may_place(*codes):
            return
        office = actor.organisation
        column = "county" if office is not None and office.province_code == codes[0] else "province"
        fail(column, _("This place is outside your office's jurisdiction."))


def _term_key(text: str) -> str:
    key = unicodedata.normalize("NFKC", text).strip().strip("。.").strip().lower()
    return re.sub(r"[\s\-]+", "_", key)


def settlement_terms(text: str) -> tuple[Settlement, ...] | None:
    """The terms a cell names (收货后结算, 装车结算, 两者皆可, on delivery, ..., or several
    separated by commas, 、 or /), on delivery first; None if any word is unknown."""
    offered: set[Settlement] = set()
    for word in _TERM_SEPARATORS.split(text):
        if not word.strip():
            continue
        terms = SETTLEMENT_WORDS.get(_term_key(word))
        if terms is None:
            return None
        offered.update(terms)
    return tuple(s for s in Settlement if s in offered) or None


def _settlement_cells(given: dict[str, Any], fail: Callable[[str, str], None]) -> bool:
    """Read the settlement terms and the holdback as a cooperative writes them into what the
    lot rules take (`LotInput`); a cell that cannot be read is that cell's error and is left
    out, so that the rules do not report it again. False if a cell could not be read."""
    terms: tuple[Settlement, ...] = (Settlement.on_delivery,)  # the default, as in the form
    unread = False
    text = given.get("settlement_terms")
    if text is not None:
        read = settlement_terms(text)
        if read is None:
            del given["settlement_terms"]
            fail(
                "settlement_terms",
                _(
                    "“%(value)s” is not a way of being paid that we know: write 收货后结算 (on "
                    "delivery), 装车结算 (on loading) or 两者皆可 (either).",
                    value=text,
                ),
            )
            terms = ()
            unread = True
        else:
            terms = read
            given["settlement_terms"] = [s.value for s in read]
    text = given.get("holdback_percent")
    if text is None:
        return not unread
    number = unicodedata.normalize("NFKC", text).rstrip("%").strip()
    try:
        pct = Decimal(number) if re.fullmatch(r"[0-9]+(\.[0-9]*)?", number) else None
    except ArithmeticError:
        pct = None
    if pct is None or pct != pct.to_integral_value() or pct > MAX_HOLDBACK_PCT:
        del given["holdback_percent"]
        fail(
            "holdback_percent",
            _(
                "Write a whole percent from 0 to %(max)d, e.g. 5 or 5%%.",
                max=MAX_HOLDBACK_PCT,
            ),
        )
        return False
    given["holdback_percent"] = str(int(pct))
    if pct and terms and Settlement.on_loading not in terms:
        fail(
            "holdback_percent",
            _(
                "A holdback is kept only when paid on loading: write 装车结算 or 两者皆可 as "
                "the settlement terms, or leave the holdback empty."
            ),
        )
    return not unread


def check(
    rows: Sequence[RawRow], actor: User | None, progress: Callable[[int], Any] | None = None
) -> ImportReport:
    """Check every row against the lot rules and the policy; creates nothing.

    `actor` None is the command line, which may import anything; `progress` is called with 1
    after each row.
    """
    checker = _Checker(actor)
    file_errors: list[RowError] = []
    reported: set[tuple[str, ...]] = set()
    checked_rows: list[CheckedRow] = []
    with _reference_cache():
        for raw in rows:
            checked_rows.append(_check_row(checker, raw, file_errors, reported))
            if progress is not None:
                progress(1)
    return ImportReport(checked_rows, file_errors)


def _check_row(
    checker: _Checker, raw: RawRow, file_errors: list[RowError], reported: set[tuple[str, ...]]
) -> CheckedRow:
    if raw.problem:
        return CheckedRow(raw.line, {}, [RowError(raw.line, "", raw.problem)])
    headers = raw.header if raw.header is not None else (*raw.cells, *raw.cell_problems)
    cols = checker.columns_of(headers)
    checked = checker.row(raw, cols)
    if raw.header is not None:
        if headers not in reported:  # one header for the whole file: reported once
            reported.add(headers)
            file_errors += [
                RowError(raw.header_line, column, message) for column, message in cols.errors
            ]
    elif cols.errors:
        # each .jsonl line has its own keys: their errors are that line's errors
        checked.errors[:0] = [
            RowError(raw.line, column, message) for column, message in cols.errors
        ]
        checked.data = None
    return checked


# --- importing --------------------------------------------------------------------------------


def apply(
    report: ImportReport,
    actor: User | None,
    progress: Callable[[int], Any] | None = None,
    *,
    skip_invalid: bool = False,
) -> int:
    """Create the new cooperatives and the lots of the good rows; returns the number of lots.

    With any error nothing is created unless `skip_invalid`; errors in the header always stop
    it. Flushes, never commits. `progress` is called with 1 after each lot.
    """
    if report.file_errors:
        raise ValidationFailed(
            _("The file's columns are not right: nothing was imported."), code="import_invalid"
        )
    if report.bad and not skip_invalid:
        raise ValidationFailed(
            _("Some rows have errors: nothing was imported."), code="import_invalid"
        )
    count = 0
    with _reference_cache():
        for row in report.good:
            org, data = row.cooperative, row.data
            assert org is not None and data is not None
            if org.id is None:
                _create_cooperative(actor, org)
            # create_lot checks the row again: the database may have changed since `check`
            create_lot(actor, org, data)
            count += 1
            if progress is not None:
                progress(1)
    db.session.flush()
    return count


def _create_cooperative(actor: User | None, org: Organisation) -> None:
    """A cooperative named in the file: created unverified, for an administrator to verify."""
    # accounts.operations has no operation that creates just an organisation, so it is added
    # here the way create_user adds one, with its audit event.
    db.session.add(org)
    record(
        actor,
        org,
        "created",
        to_state="unverified",
        changes={"kind": OrgKind.cooperative.value, "via": "import"},
    )
