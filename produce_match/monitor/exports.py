"""Exports of the officials' area: lots, deals, payments and the ledger, as XLSX or CSV.

Every text cell that a spreadsheet would read as a formula (starting with = + - @, a tab or a
carriage return) is written with a leading apostrophe, so that it stays text: a lot titled
`=HYPERLINK(...)` is never a link in the office's spreadsheet. Numbers are exact integers
(grams, fen) next to their readable form.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from produce_match.monitor import queries
from produce_match.units import format_mass, format_money, format_price

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A cell as a spreadsheet should show it: text that looks like a formula gets a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


@dataclass
class Sheet:
    name: str
    header: list[str]
    rows: list[list[Any]]


def _lots(scope: queries.Scope) -> Sheet:
    rows = []
    for item in queries.at_risk(scope):
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
                order.created_at.date().isoformat(),
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
            ]
        )
    header = [
        _("Order"), _("Placed"), _("Status"), _("Lot"), _("Commodity"), _("Cooperative"),
        _("Township"), _("Village"), _("Buyer"), _("Ordered (g)"), _("Ordered"),
        _("Shipped (g)"), _("Accepted (g)"), _("Price (fen/t)"), _("Amount (fen)"), _("Amount"),
        _("Reference price (fen/t)"), _("Premium (%)"),
    ]  # fmt: skip
    return Sheet(_("Deals"), header, rows)


def _payments(scope: queries.Scope, period: queries.Period) -> Sheet:
    rows = [
        [
            entry.id,
            entry.created_at.isoformat(timespec="seconds"),
            order.id,
            str(entry.kind.label),
            order.cooperative_org.name,
            order.lot.township or "",
            order.lot.village or "",
            order.buyer_org.name,
            entry.amount_fen,
            format_money(entry.amount_fen),
            entry.provider,
            entry.provider_ref or "",
        ]
        for entry, order in queries.payments(scope, period)
    ]
    header = [
        _("Entry"), _("When (UTC)"), _("Order"), _("Kind"), _("Cooperative"), _("Township"),
        _("Village"), _("Buyer"), _("Amount (fen)"), _("Amount"), _("Provider"),
        _("Provider's reference"),
    ]  # fmt: skip
    return Sheet(_("Payments"), header, rows)


def _problems(
    scope: queries.Scope, status: str | None = None, category: str | None = None
) -> Sheet:
    rows = [
        [
            p.id,
            p.raised_at.isoformat(timespec="seconds"),
            str(p.category.label),
            str(p.status.label),
            p.cooperative.name,
            p.township or "",
            p.village or "",
            p.lot_id or "",
            p.description,
            (p.assignee.name or p.assignee.login) if p.assignee else "",
            len(p.follow_ups),
            p.closed_at.isoformat(timespec="seconds") if p.closed_at else "",
            p.outcome or "",
        ]
        for p in queries.problems(scope, status, category)
    ]
    header = [
        _("Entry"), _("Raised (UTC)"), _("Category"), _("Status"), _("Cooperative"),
        _("Township"), _("Village"), _("Lot"), _("Description"), _("Assigned to"),
        _("Follow-ups"), _("Closed (UTC)"), _("Outcome"),
    ]  # fmt: skip
    return Sheet(_("Problem ledger"), header, rows)


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
        [_("Premium over the reference price (fen)"), f.premium_fen],
        [_("Problems open"), f.problems_open],
        [_("Problems closed"), f.problems_closed],
    ]
    return Sheet(_("Summary"), [_("Figure"), _("Value")], rows)


KINDS = ("lots", "deals", "payments", "problems")


def sheets(
    kind: str,
    scope: queries.Scope,
    period: queries.Period,
    filters: queries.DealFilters | None = None,
    problem_filters: tuple[str | None, str | None] = (None, None),
) -> list[Sheet]:
    """The sheets of one export (`kind` in KINDS), or of the whole report (`report`).

    `filters` are the deals page's; `problem_filters` the ledger page's (status, category).
    """
    filters = filters or queries.DealFilters(period=period)
    makers: dict[str, Callable[[], Sheet]] = {
        "lots": lambda: _lots(scope),
        "deals": lambda: _deals(scope, filters),
        "payments": lambda: _payments(scope, period),
        "problems": lambda: _problems(scope, *problem_filters),
    }
    if kind == "report":
        return [_summary(queries.figures(scope, period))] + [makers[k]() for k in KINDS]
    return [makers[kind]()]


def report_steps(scope: queries.Scope, period: queries.Period) -> Iterable[Callable[[], Sheet]]:
    """The report's sheets as steps (for the command line's progress bar)."""
    filters = queries.DealFilters(period=period)
    return [
        lambda: _summary(queries.figures(scope, period)),
        lambda: _lots(scope),
        lambda: _deals(scope, filters),
        lambda: _payments(scope, period),
        lambda: _problems(scope),
    ]


def to_xlsx(items: list[Sheet]) -> bytes:
    from openpyxl import Workbook  # only when a workbook is written: it is slow to import

    book = Workbook()
    book.remove(book.active)
    for sheet in items:
        ws = book.create_sheet(title=sheet.name[:31])
        ws.append([neutralise(h) for h in sheet.header])
        for row in sheet.rows:
            ws.append([neutralise(v) for v in row])
        # text that begins with "=" must stay text even where openpyxl would guess a formula
        for cells in ws.iter_rows():
            for cell in cells:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_csv(sheet: Sheet) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([neutralise(h) for h in sheet.header])
    for row in sheet.rows:
        writer.writerow([neutralise(v) for v in row])
    # a byte-order mark so that spreadsheet programs read it as UTF-8 (Chinese names)
    return ("\ufeff" + out.getvalue()).encode("utf-8")
