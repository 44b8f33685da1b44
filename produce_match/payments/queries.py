"""Reads: an order's money for its page, and the money overviews of an organisation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, func, select

from produce_match.accounts.models import Role, User
from produce_match.extensions import db
from produce_match.lots.models import Lot
from produce_match.orders.models import Order, OrderStatus, Party
from produce_match.orders.permissions import order_party
from produce_match.payments.models import (
    OPEN_PAYMENTS,
    EntryKind,
    InstructionState,
    LedgerEntry,
    Payment,
    PaymentInstruction,
)
from produce_match.payments.operations import ledger_sums, payout_account
from produce_match.payments.providers import REGISTRY, methods, paid_direct
from produce_match.policy import can


@dataclass
class OrderMoney:
    """Everything the order page shows about money."""

    order: Order
    payments: list[Payment]
    entries: list[LedgerEntry]
    instructions: list[PaymentInstruction]
    sums: dict[str, int]
    can_pay: bool
    methods: tuple[str, ...]
    open_payment: Payment | None
    manual_refunds: list[PaymentInstruction] = field(default_factory=list)
    has_bank_account: bool = False
    #: whose words the page speaks: buyer, cooperative or official (administrators too)
    side: str = "official"
    #: money came through the platform (online) / straight to the cooperative (transfer)
    paid_online: bool = False
    paid_direct: bool = False

    def offers(self) -> list[tuple[str, Any]]:
        """The pay buttons: each offered way of paying not already under way, with its words.
        A bank transfer is offered only once the cooperative has given its account."""
        under_way = (
            self.open_payment.method.value
            if self.open_payment is not None and self.open_payment.pay_url
            else None
        )
        return [
            (name, REGISTRY[name].pay_label)
            for name in self.methods
            if name != under_way and (name != "transfer" or self.has_bank_account)
        ]

    @property
    def held_online(self) -> bool:
        """An online way of paying is offered: its money is held by the platform."""
        return any(name not in paid_direct() for name in self.methods)


def order_money(user: User | None, order: Order) -> OrderMoney | None:
    """The order's payments, ledger and refunds/payouts, if `user` may see them."""
    if not can(user, "view_payments", order):
        return None
    pays = list(
        db.session.scalars(select(Payment).where(Payment.order_id == order.id).order_by(Payment.id))
    )
    entries = list(
        db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.order_id == order.id).order_by(LedgerEntry.id)
        )
    )
    instructions = list(
        db.session.scalars(
            select(PaymentInstruction)
            .where(PaymentInstruction.order_id == order.id)
            .order_by(PaymentInstruction.id)
        )
    )
    open_payment = next(
        (p for p in reversed(pays) if p.status in OPEN_PAYMENTS),
        None,
    )
    return OrderMoney(
        order=order,
        payments=pays,
        entries=entries,
        instructions=instructions,
        sums=ledger_sums(order.id),
        can_pay=can(user, "start_payment", order)
        and order.current_status is OrderStatus.awaiting_payment,
        methods=methods(),
        open_payment=open_payment,
        manual_refunds=[i for i in instructions if i.status is InstructionState.manual],
        has_bank_account=payout_account(order.cooperative_org_id) is not None,
        side=side_of(user, order),
        paid_online=any(
            e.kind is EntryKind.charge and e.provider not in paid_direct() for e in entries
        ),
        paid_direct=any(
            e.kind is EntryKind.charge and e.provider in paid_direct() for e in entries
        ),
    )


def side_of(user: User | None, order: Order) -> str:
    """Whose words an order's money is told in for `user`: buyer, cooperative or official."""
    party = order_party(user, order)
    return party.value if party in (Party.buyer, Party.cooperative) else "official"


@dataclass
class Row:
    Order: Order  # noqa: N815 - named like the query's column, for the template
    charge: int
    refund: int
    payout: int
    direct: int = 0  #: paid straight to the cooperative (transfer), not settled yet

    @property
    def received(self) -> int:
        """What is in the cooperative's account: paid out, or paid straight to it."""
        return self.payout + self.direct


@dataclass
class Overview:
    side: str  #: cooperative | buyer | official
    rows: list[Any]
    totals: dict[str, int]


def overview(user: User) -> Overview | None:
    """Per order and in total: received (cooperative), paid and refunded (buyer), or, for an
    official, the money of every order of the lots in the office's jurisdiction."""
    org = user.organisation
    if user.role is Role.official and org is not None and org.province_code:
        side = "official"
        condition = Lot.province_code == org.province_code
        if org.county_code:
            condition = and_(condition, Lot.county_code == org.county_code)
    elif user.organisation_id is not None and user.role in (Role.cooperative, Role.buyer):
        side = "cooperative" if user.role is Role.cooperative else "buyer"
        owner = Order.cooperative_org_id if side == "cooperative" else Order.buyer_org_id
        condition = owner == user.organisation_id
    else:
        return None

    def total(kind: EntryKind) -> Any:
        return func.coalesce(
            func.sum(case((LedgerEntry.kind == kind, LedgerEntry.amount_fen), else_=0)), 0
        )

    # what was paid straight to the cooperative (a transfer) and is not settled yet: in its
    # account already, never held by the platform
    signed = case((LedgerEntry.kind == EntryKind.charge, 1), else_=-1) * LedgerEntry.amount_fen
    direct = func.coalesce(
        func.sum(case((LedgerEntry.provider.in_(sorted(paid_direct())), signed), else_=0)), 0
    )
    rows = db.session.execute(
        select(
            Order,
            total(EntryKind.charge).label("charge"),
            total(EntryKind.refund).label("refund"),
            total(EntryKind.payout).label("payout"),
            direct.label("direct"),
        )
        .join(LedgerEntry, LedgerEntry.order_id == Order.id)
        .join(Lot, Lot.id == Order.lot_id)
        .where(condition)
        .group_by(Order.id)
        .order_by(Order.id.desc())
    ).all()
    rows = [
        Row(order, int(charge), int(refund), int(payout), int(direct))
        for order, charge, refund, payout, direct in rows
    ]
    totals = {
        "charge": sum(r.charge for r in rows),
        "refund": sum(r.refund for r in rows),
        "payout": sum(r.payout for r in rows),
        "direct": sum(r.direct for r in rows),
    }
    # held by the platform: what came online and is neither refunded nor paid out yet
    totals["held"] = totals["charge"] - totals["refund"] - totals["payout"] - totals["direct"]
    return Overview(side=side, rows=rows, totals=totals)
