"""Exports of the officials' area: lots, deals, payments and the ledger, as XLSX or CSV.

Every cell goes through `spreadsheets.cell`: text that a spreadsheet would read as a formula
stays text (a lot titled `=HYPERLINK(...)` or `＝HYPERLINK(...)` is never a link in the office's
spreadsheet), and characters a file cannot hold are replaced rather than breaking the export.
Numbers are exact integers (grams, fen) next to their readable form. Instants are written as the
clock in China shows them, and their column says so.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _

from produce_match import spreadsheets
from produce_match.dates import local_datetime
from produce_match.monitor import queries
from produce_match.monitor.models import Problem
from produce_match.passes import figures as pass_figures
from produce_match.payments.models import channel_label
from produce_match.units import format_mass, format_money, format_price

#: the most characters an XLSX cell holds (spreadsheet programs refuse a file with more)
XLSX_CELL_MAX = 32_767


def china_time(instant: datetime | None) -> datetime | None:
    """An instant as the clock in China shows it, to the second, without a zone (a spreadsheet
    cell holds none: the column's name says which)."""
    if instant is None:
        return None
    return local_datetime(instant).replace(tzinfo=None, microsecond=0)


@dataclass
class Sheet:
    name: str
    header: list[str]
    rows: list[list[Any]]


def _lots(scope: queries.Scope) -> Sheet:
    rows = []
    for item in queries.at_risk(scope, best=0):  # the number of buyers, not who they are
        lot = item.lot
        rows.append(
            [
                lot.id,
                lot.title,
                lot.commodity.display_name(),
                lot.cooperative.name,
                lot.county.name,
                lot.township or "",
                lot.village or "",
                lot.remaining_g,
                format_mass(lot.remaining_g, lot.quantity_unit),
                lot.price_fen_per_t,
                format_price(lot.price_fen_per_t, lot.price_unit),
                lot.spoil_by.isoformat(),
                item.days_left,
                item.buyers,
                _("yes") if item.flagged else "",
            ]
        )
    header = [
        _("Lot"), _("Title"), _("Commodity"), _("Cooperative"), _("County"), _("Township"),
        _("Village"), _("Left (g)"), _("Left"), _("Price (fen/t)"), _("Price"), _("Spoil-by"),
        _("Days left"), _("Compatible buyers"), _("No buyer 7 days before spoiling"),
    ]  # fmt: skip
    return Sheet(_("Lots"), header, rows)


def _deals(scope: queries.Scope, filters: queries.DealFilters) -> Sheet:
    refs = queries.References(scope)
    rows = []
    for order in queries.deals(scope, filters):
        lot = order.lot
        ref = refs.for_order(order)
        rows.append(
            [
                order.id,
                china_time(order.created_at),
                str(order.status.label),
                lot.title,
                lot.commodity.display_name(),
                order.cooperative_org.name,
                lot.township or "",
                lot.village or "",
                order.buyer_org.name,
                order.quantity_g,
                format_mass(order.quantity_g, order.unit),
                order.shipped_g or "",
                order.accepted_g if order.accepted_g is not None else "",
                order.price_fen_per_t,
                order.amount_fen,
                format_money(order.amount_fen),
                ref.price_fen_per_t if ref else "",
                str(queries.premium_percent(order.price_fen_per_t, ref.price_fen_per_t))
                if ref
                else "",
                *_destination(order),
            ]
        )
    header = [
        _("Order"), _("Placed (China time)"), _("Status"), _("Lot"), _("Commodity"),
        _("Cooperative"), _("Township"), _("Village"), _("Buyer"), _("Ordered (g)"), _("Ordered"),
        _("Shipped (g)"), _("Accepted (g)"), _("Price (fen/t)"), _("Amount (fen)"), _("Amount"),
        _("Reference price (fen/t)"), _("Premium (%)"),
        _("Delivery province"), _("Delivery county"), _("Delivery address"), _("Receiver"),
        _("Receiver's phone"),
    ]  # fmt: skip
    return Sheet(_("Deals"), header, rows)


def _destination(order: Any) -> list[str]:
    """Where a deal's goods go and who receives them (the export is for oversight)."""
    province, county = order.delivery_province, order.delivery_county
    return [
        province.name if province else "",
        county.name if county else "",
        order.delivery_address or "",
        order.receiver_name or "",
        order.receiver_phone or "",
    ]


def _payments(scope: queries.Scope, period: queries.Period) -> Sheet:
    rows = [
        [
            entry.id,
            china_time(entry.created_at),
            order.id,
            str(entry.kind.label),
            order.cooperative_org.name,
            order.lot.township or "",
            order.lot.village or "",
            order.buyer_org.name,
            entry.amount_fen,
            format_money(entry.amount_fen),
            channel_label(entry.provider),
            entry.provider_ref or "",
        ]
        for entry, order in queries.payments(scope, period)
    ]
    header = [
        _("Entry"), _("When (China time)"), _("Order"), _("Kind"), _("Cooperative"), _("Township"),
        _("Village"), _("Buyer"), _("Amount (fen)"), _("Amount"), _("Payment channel"),
        _("Provider's reference"),
    ]  # fmt: skip
    return Sheet(_("Payments"), header, rows)


def _follow_up_notes(problem: Problem) -> str:
    """A ledger entry's follow-ups in one cell, one line each: when, who, what."""
    return "\n".join(
        _(
            "%(when)s %(who)s: %(note)s",
            when=local_datetime(f.created_at).strftime("%Y-%m-%d %H:%M"),
            who=f.author.name or f.author.login,
            note=f.note,
        )
        for f in problem.follow_ups
    )


def _problems(
    scope: queries.Scope, status: str | None = None, category: str | None = None
) -> Sheet:
    rows = [
        [
            p.id,
            china_time(p.raised_at),
            str(p.category.label),
            str(p.status.label),
            p.cooperative.name,
            p.township or "",
            p.village or "",
            p.lot_id or "",
            p.lot.title if p.lot else "",
            p.description,
            (p.assignee.name or p.assignee.login) if p.assignee else "",
            len(p.follow_ups),
            _follow_up_notes(p),
            china_time(p.closed_at),
            p.outcome or "",
        ]
        for p in queries.problems(scope, status, category)
    ]
    header = [
        _("Entry"), _("Raised (China time)"), _("Category"), _("Status"), _("Cooperative"),
        _("Township"), _("Village"), _("Lot"), _("Lot title"), _("Description"),
        _("Assigned to"), _("Follow-ups"), _("Follow-up notes"), _("Closed (China time)"),
        _("Outcome"),
    ]  # fmt: skip
    return Sheet(_("Problem ledger"), header, rows)


def _passes(scope: queries.Scope, period: queries.Period) -> Sheet:
    """The transport passes from or to the place asked for in the period: plates and
    applicants (the export is for oversight), never the driver's phone."""
    rows = [
        [
            p.number,
            str(p.status.label),
            p.applicant_org.name,
            p.plate,
            p.origin,
            p.destination,
            _(
                "%(start)s to %(end)s",
                start=p.valid_from.isoformat(),
                end=p.valid_until.isoformat(),
            ),
            p.commodity.display_name(),
            p.cargo_g,
            format_mass(p.cargo_g, p.cargo_unit),
            china_time(p.created_at),
            china_time(p.decided_at),
            p.wait_minutes if p.wait_minutes is not None else "",
            _("whitelist") if p.whitelist_entry_id is not None else "",
            china_time(p.exited_at),
            china_time(p.entered_at),
            china_time(p.delivered_at),
            _("yes") if pass_figures.is_overdue(p) else "",
        ]
        for p in pass_figures.asked_in(scope, period)
    ]
    header = [
        _("Pass number"), _("Status"), _("Applicant"), _("Plate"), _("Origin"), _("Destination"),
        _("Valid"), _("Commodity"), _("Cargo (g)"), _("Cargo"), _("Asked (China time)"),
        _("Decided (China time)"), _("Minutes to decide"), _("Approved by"),
        _("Exit (China time)"), _("Entry (China time)"), _("Delivered (China time)"),
        _("Overdue"),
    ]  # fmt: skip
    return Sheet(_("Transport passes"), header, rows)


def _summary(figures: queries.Figures) -> Sheet:
    f = figures
    rows = [
        [_("Place"), f.scope.name or _("everywhere")],
        [_("From"), f.period.start.isoformat()],
        [_("To"), f.period.end.isoformat()],
        [_("Lots open"), f.lots_open],
        [_("Stranded (g)"), f.g_open],
        [_("At risk within 3 days (g)"), f.g_at_risk_3d],
        [_("At risk within 7 days (g)"), f.g_at_risk_7d],
        [_("Ordered (g)"), f.g_ordered],
        [_("Paid (g)"), f.g_paid],
        [_("Dispatched (g)"), f.g_dispatched],
        [_("Delivered (g)"), f.g_delivered],
        [_("Paid out to villages (fen)"), f.paid_out_fen],
        [_("Paid out to villages"), format_money(f.paid_out_fen)],
        [_("Days from dispatch to payout"), str(f.days_to_payout or "")],
        [_("Days from loading to payout (median)"), str(f.days_to_payout_median or "")],
        [_("Settled on loading"), str(f.on_loading_percent or "")],
        [_("Premium over the reference price (fen)"), f.premium_fen],
        [_("Problems open"), f.problems_open],
        [_("Problems closed"), f.problems_closed],
    ]
    return Sheet(_("Summary"), [_("Figure"), _("Value")], rows)


KINDS = ("lots", "deals", "payments", "problems")
#: exported on their own (the whole report keeps its sheets)
OTHER_KINDS = ("passes",)


def steps(
    kind: str,
    scope: queries.Scope,
    period: queries.Period,
    filters: queries.DealFilters | None = None,
    problem_filters: tuple[str | None, str | None] = (None, None),
) -> list[Callable[[], Sheet]]:
    """The sheets of one export (`kind` in KINDS or OTHER_KINDS), or of the whole report
    (`report`), as steps that each build one sheet (the export job reports its progress
    between them).

    `filters` are the deals page's; `problem_filters` the ledger page's (status, category).
    """
    filters = filters or queries.DealFilters(period=period)
    makers: dict[str, Callable[[], Sheet]] = {
        "lots": lambda: _lots(scope),
        "deals": lambda: _deals(scope, filters),
        "payments": lambda: _payments(scope, period),
        "problems": lambda: _problems(scope, *problem_filters),
        "passes": lambda: _passes(scope, period),
    }
    if kind == "report":
        return [lambda: _summary(queries.figures(scope, period, at_risk_limit=0))] + [
            makers[k] for k in KINDS
        ]
    return [makers[kind]]


def sheets(
    kind: str,
    scope: queries.Scope,
    period: queries.Period,
    filters: queries.DealFilters | None = None,
    problem_filters: tuple[str | None, str | None] = (None, None),
) -> list[Sheet]:
    """The sheets of one export, built at once (see `steps`)."""
    return [step() for step in steps(kind, scope, period, filters, problem_filters)]


def report_steps(scope: queries.Scope, period: queries.Period) -> Iterable[Callable[[], Sheet]]:
    """The report's sheets as steps (for the command line's progress bar)."""
    filters = queries.DealFilters(period=period)
    return [
        lambda: _summary(queries.figures(scope, period, at_risk_limit=0)),
        lambda: _lots(scope),
        lambda: _deals(scope, filters),
        lambda: _payments(scope, period),
        lambda: _problems(scope),
    ]


def to_xlsx(items: list[Sheet]) -> bytes:
    """A workbook of the sheets, every cell made safe (see `spreadsheets.cell`).

    Written row by row (openpyxl's write-only workbook): no sheet of cells kept in memory, and
    no second pass over them, for the 10,000 rows of a province's or the country's lots."""
    from openpyxl import Workbook  # only when a workbook is written: it is slow to import
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment

    wrapped = Alignment(wrap_text=True, vertical="top")
    book = Workbook(write_only=True)

    def text(ws: Any, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        cell = WriteOnlyCell(ws, value=value)
        # text that begins with "=" must stay text where openpyxl would guess a formula
        cell.data_type = "s"
        if "\n" in value:  # descriptions, follow-ups: show every line
            cell.alignment = wrapped
        return cell

    for sheet in items:
        ws = book.create_sheet(title=sheet.name[:31])
        ws.append([text(ws, spreadsheets.cell(h)) for h in sheet.header])
        for row in sheet.rows:
            ws.append([text(ws, _xlsx_cell(v)) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_cell(value: Any) -> Any:
    value = spreadsheets.cell(value)
    if isinstance(value, str) and len(value) > XLSX_CELL_MAX:
        return value[: XLSX_CELL_MAX - 1] + "…"
    return value


def to_csv(sheet: Sheet) -> bytes:
    """One sheet as CSV (UTF-8 with a byte-order mark), every cell made safe."""
    return spreadsheets.to_csv(sheet.header, sheet.rows)
