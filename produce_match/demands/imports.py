"""Importing demands from a spreadsheet (.csv, .xlsx, .jsonl), with the lots' machinery.

The same formats, encodings, header languages and error reporting as the lots import
(`lots.imports`: `read_file`, the header mapping, `RowError`s as "line N, column: reason"), and
every row goes through the same rules as the demand form (`demands.operations.clean`). Buyers
named in the file that do not exist are created, unverified. Nothing is created when any row
has an error unless the caller skips the invalid rows; header errors always stop it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from produce_match.accounts.models import Organisation, OrgKind, User
from produce_match.accounts.rules import normalise_phone, phone_problem
from produce_match.audit.operations import record
from produce_match.demands.operations import DemandInput, clean, create_demand
from produce_match.errors import ValidationFailed
from produce_match.extensions import db
from produce_match.lots.imports import (
    ORG_NAME_MAX,
    ImportFileError,
    RawRow,
    RowError,
    map_columns,
    read_file,
    reference_cache,
)

__all__ = ["COLUMNS", "ImportFileError", "apply", "check", "read_file"]

COLUMNS: dict[str, tuple[str, ...]] = {
    "buyer": ("buyer", "buyer_name", "company", "采购商", "买家", "采购单位", "公司"),
    "commodity": ("commodity", "product", "produce", "品类", "品名", "产品", "农产品"),
    "grades": ("grades", "grade", "等级", "可接受等级"),
    "min_quantity": ("min_quantity", "min_qty", "minimum", "最少数量", "最小数量", "起购量"),
    "max_quantity": ("max_quantity", "max_qty", "maximum", "最多数量", "最大数量", "需求量"),
    "unit": ("unit", "quantity_unit", "单位", "数量单位"),
    "max_price": ("max_price", "price", "最高价格", "最高价", "价格上限"),
    "price_unit": ("price_unit", "计价单位", "价格单位"),
    "province": ("province", "省", "省份", "交货省"),
    "county": ("county", "district", "县", "县区", "区县", "县/区", "交货县"),
    "needed_by": ("needed_by", "need_by", "deadline", "最迟到货日期", "需要日期", "到货日期"),
    "max_distance_km": ("max_distance_km", "max_distance", "最远距离", "最远距离公里"),
    "notes": ("notes", "note", "备注", "说明"),
    "contact_person": ("contact_person", "contact", "联系人"),
    "phone": ("phone", "mobile", "电话", "手机", "联系电话"),
}
REQUIRED = ("buyer", "commodity", "max_quantity", "max_price", "province", "county", "needed_by")
DEMAND_COLUMNS = tuple(f.name for f in fields(DemandInput))
CONTACT_MAX, PHONE_MAX = 60, 30


@dataclass
class CheckedDemand:
    line: int
    cells: dict[str, str]
    errors: list[RowError] = field(default_factory=list)
    buyer: Organisation | None = None
    data: DemandInput | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and self.data is not None and self.buyer is not None


@dataclass
class DemandReport:
    rows: list[CheckedDemand]
    file_errors: list[RowError] = field(default_factory=list)

    @property
    def errors(self) -> list[RowError]:
        return self.file_errors + [e for row in self.rows for e in row.errors]

    @property
    def good(self) -> list[CheckedDemand]:
        return [row for row in self.rows if row.ok]

    @property
    def bad(self) -> list[CheckedDemand]:
        return [row for row in self.rows if not row.ok]

    @property
    def new_buyers(self) -> list[str]:
        return list(
            dict.fromkeys(
                row.buyer.name
                for row in self.good
                if row.buyer is not None and row.buyer.id is None
            )
        )


class _Checker:
    def __init__(self) -> None:
        self.orgs: dict[str, Organisation | None] = {}
        self.new_orgs: dict[str, Organisation] = {}
        self.columns: dict[tuple[str, ...], Any] = {}

    def columns_of(self, headers: tuple[str, ...]) -> Any:
        if headers not in self.columns:
            self.columns[headers] = map_columns(headers, COLUMNS, REQUIRED)
        return self.columns[headers]

    def buyer(
        self, name: str, cells: dict[str, str], fail: Callable[[str, str], None]
    ) -> Organisation | None:
        if not name:
            fail("buyer", _("Enter the buyer's name."))
            return None
        if len(name) > ORG_NAME_MAX:
            fail("buyer", _("At most %(max)d characters.", max=ORG_NAME_MAX))
            return None
        if name not in self.orgs:
            self.orgs[name] = db.session.scalar(
                select(Organisation).where(Organisation.name == name)
            )
        org = self.orgs[name]
        if org is not None:
            if org.kind is not OrgKind.buyer:
                fail("buyer", _("%(name)s is registered, but not as a buyer.", name=name))
                return None
            return org
        org = self.new_orgs.get(name)
        if org is None:  # created on import, unverified, for an administrator to verify
            org = self.new_orgs[name] = Organisation(kind=OrgKind.buyer, name=name)
        contact = " ".join(cells.get("contact_person", "").split())
        phone = normalise_phone(cells.get("phone"))
        if len(contact) > CONTACT_MAX:
            fail("contact_person", _("At most %(max)d characters.", max=CONTACT_MAX))
        elif len(phone) > PHONE_MAX:
            fail("phone", _("At most %(max)d characters.", max=PHONE_MAX))
        elif problem := phone_problem(phone):
            fail("phone", problem)
        else:
            org.contact_person = org.contact_person or contact or None
            org.phone = org.phone or phone or None
        return org

    def row(self, raw: RawRow, file_errors: list[RowError], reported: set[Any]) -> CheckedDemand:
        if raw.problem:
            return CheckedDemand(raw.line, {}, [RowError(raw.line, "", raw.problem)])
        headers = raw.header if raw.header is not None else (*raw.cells, *raw.cell_problems)
        cols = self.columns_of(headers)
        cells = {name: raw.cells.get(header, "").strip() for name, header in cols.used.items()}
        checked = CheckedDemand(raw.line, cells)

        def fail(name: str, message: str) -> None:
            checked.errors.append(RowError(raw.line, cols.title(name), str(message)))

        if raw.header is not None:
            if headers not in reported:
                reported.add(headers)
                file_errors += [
                    RowError(raw.header_line, column, message) for column, message in cols.errors
                ]
        else:
            checked.errors += [RowError(raw.line, c, m) for c, m in cols.errors]
        for column, problem in raw.cell_problems.items():
            checked.errors.append(RowError(raw.line, column, problem))
        org = (
            self.buyer(" ".join(cells.get("buyer", "").split()), cells, fail)
            if "buyer" in cols.used
            else None
        )
        data = DemandInput(
            **{name: cells.get(name) or None for name in DEMAND_COLUMNS if name in cols.used}
        )
        try:
            values = clean(data, org or Organisation(kind=OrgKind.buyer, name=""))
        except ValidationFailed as exc:
            for name, messages in exc.fields.items():
                if name in cols.missing or cols.used.get(name) in raw.cell_problems:
                    continue  # reported once: with the header, or as the cell's problem
                for message in messages:
                    fail(name, message)
        else:
            if org is not None and org.id is None and org.province_code is None:
                # a new buyer is placed where its first demand is delivered
                org.province_code, org.county_code = values["province_code"], values["county_code"]
        if not checked.errors:
            checked.buyer, checked.data = org, data
        return checked


def check(rows: Sequence[RawRow], progress: Callable[[int], Any] | None = None) -> DemandReport:
    """Check every row against the demand rules; creates nothing."""
    checker = _Checker()
    file_errors: list[RowError] = []
    reported: set[Any] = set()
    checked: list[CheckedDemand] = []
    with reference_cache():
        for raw in rows:
            checked.append(checker.row(raw, file_errors, reported))
            if progress is not None:
                progress(1)
    return DemandReport(checked, file_errors)


def apply(
    report: DemandReport,
    actor: User | None = None,
    progress: Callable[[int], Any] | None = None,
    *,
    skip_invalid: bool = False,
) -> int:
    """Create the new buyers and the demands of the good rows; returns the number of demands."""
    if report.file_errors:
        raise ValidationFailed(
            _("The file's columns are not right: nothing was imported."), code="import_invalid"
        )
    if report.bad and not skip_invalid:
        raise ValidationFailed(
            _("Some rows have errors: nothing was imported."), code="import_invalid"
        )
    count = 0
    with reference_cache():
        for row in report.good:
            assert row.buyer is not None and row.data is not None
            if row.buyer.id is None:
                db.session.add(row.buyer)
                record(
                    actor,
                    row.buyer,
                    "created",
                    to_state="unverified",
                    changes={"kind": OrgKind.buyer.value, "via": "import"},
                )
            create_demand(actor, row.buyer, row.data)
            count += 1
            if progress is not None:
                progress(1)
    db.session.flush()
    return count
