"""Every command-line job leaves the search index in step with the lots it wrote.

A job that writes lots with a statement instead of through the ORM's objects (`flask lots
expire` did) must queue them for the index all the same: after every job has run,
`flask search check --no-repair` finds nothing to repair, on both search backends.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from flask import Flask
from sqlalchemy import select, update

from produce_match.accounts.models import User
from produce_match.dates import local_today
from produce_match.extensions import db
from produce_match.lots.models import Lot, LotStatus
from produce_match.lots.updates import update_lots
from produce_match.orders import operations as orders
from produce_match.orders.models import Order, OrderStatus
from produce_match.search.service import service
from tests.conftest import SEARCH_BACKENDS
from tests.factories import make_lot

both = pytest.mark.parametrize("search_backend", SEARCH_BACKENDS)

TODAY = local_today()
SOON = (TODAY + timedelta(days=20)).isoformat()

#: commands that are no job over the data: Alembic's and the API document's own, a server that
#: runs until stopped, a configuration check, and the search index's commands under test here
NOT_JOBS = {
    "check-deploy",
    "openapi list-config-prefixes",
    "openapi print",
    "openapi write",
    "search check",
    "search rebuild",
    "search sync",
    # runs the queue's consumer until stopped; the tasks it runs are the jobs above
    "worker",
}


def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> set[str]:
    """Every command of the app's command line, as typed ("lots expire")."""
    found = set()
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found |= commands(command, (*prefix, name))
        else:
            found.add(" ".join((*prefix, name)))
    return found


def jobs(tmp_path: Path) -> list[tuple[str, list[str]]]:
    """Every job with arguments that make it do its work, in an order in which each can."""
    lots_file = tmp_path / "lots.csv"
    lots_file.write_text(
        "合作社,品类,数量,单位,价格,计价单位,省,县,最迟销售日期\n"
        f"道亭村合作社,黑豆,40,吨,6.8,公斤,辽宁,彰武,{SOON}\n"
        f"新民村合作社,大白菜,20000,斤,0.6,斤,辽宁,彰武,{SOON}\n",
        encoding="utf-8",
    )
    demands_file = tmp_path / "demands.csv"
    demands_file.write_text(
        "采购商,品类,等级,最少数量,最多数量,单位,最高价格,计价单位,省,县,最迟到货日期\n"
        f"南昌粮油公司,黑豆,,10,40,吨,7.5,公斤,江西,东湖区,{SOON}\n",
        encoding="utf-8",
    )
    backup = str(tmp_path / "backups" / "pm.backup")
    user = ["--login", "newcoop", "--password", "correct-horse-42", "--role", "cooperative"]
    report = ["--county", "彰武县", "--out", str(tmp_path / "report.xlsx")]
    return [
        ("init-db", []),
        ("catalog load", ["--update"]),
        ("users create", [*user, "--org", "新合作社", "--province", "辽宁", "--county", "彰武"]),
        # first: a restore rebuilds the index, which would hide what the jobs before it left
        ("backup create", [backup]),
        ("backup check", []),
        ("backup restore", [backup, "--yes"]),
        ("lots import", [str(lots_file)]),
        ("demands import", [str(demands_file)]),
        ("lots expire", []),
        ("orders expire", []),
        ("payments reconcile", ["--min-age", "0"]),
        ("demands digest", []),
        ("match plan", []),
        ("monitor report", report),
    ]


def spoil(lot: Lot) -> None:
    """As if the lot's spoil-by date had passed (written, and indexed, as an edit would be)."""
    lot.spoil_by = TODAY - timedelta(days=1)
    db.session.commit()


@both
def test_every_job_keeps_the_index_in_step(app: Flask, runner: Any, tmp_path: Path) -> None:
    every = {c for c in commands(app.cli) if not c.startswith("db ")}  # Alembic's own
    ran = {"demo load"} | {command for command, _args in jobs(tmp_path)}
    assert every - NOT_JOBS == ran, "a new command: run it here (or say in NOT_JOBS why not)"

    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    coop = db.session.scalar(select(User).where(User.login == "daoting"))
    buyer = db.session.scalar(select(User).where(User.login == "buyer"))
    open_lots = db.session.scalars(
        select(Lot)
        .where(Lot.cooperative_id == coop.organisation_id, Lot.status == LotStatus.open)
        .order_by(Lot.id)
    ).all()
    # a lot past its spoil-by date, for `lots expire`
    spoil(open_lots[0])
    # an order whose reservation ran out, and a lot sold out to an order before it spoiled,
    # for `orders expire`: both give their quantity back to the lot
    order = orders.place_order(buyer, open_lots[1], "1", "t")
    order.reserved_until = order.created_at - timedelta(minutes=1)
    whole = open_lots[2]
    orders.place_order(buyer, whole, str(whole.remaining_g // 1000), "kg")
    db.session.commit()
    spoil(whole)
    order_id, spoilt_id = order.id, open_lots[0].id
    service().process_queue()
    assert service().check(repair=False).clean

    for command, args in jobs(tmp_path):
        db.session.commit()  # each job runs in the test's session: leave it nothing pending
        result = runner.invoke(args=[*command.split(), *args])
        assert result.exit_code == 0, (command, result.output)
        db.session.commit()
        db.session.expire_all()

    assert db.session.get(Order, order_id).status is OrderStatus.expired
    assert db.session.get(Lot, spoilt_id).status is LotStatus.expired
    result = runner.invoke(args=["search", "check", "--no-repair"])
    assert result.exit_code == 0, result.output
    assert "missing: 0  stale: 0  extra: 0" in result.output


@both
def test_a_statement_that_writes_lots_queues_them(app: Flask, users: dict[str, Any]) -> None:
    lot = make_lot(users["coop"])
    service().process_queue()
    rows = update_lots(update(Lot).where(Lot.id == lot.id).values(status=LotStatus.withdrawn))
    assert [row.id for row in rows] == [lot.id]
    db.session.commit()
    assert service().check(repair=False).clean


def test_a_statement_that_writes_lots_past_the_helper_is_refused(app: Flask, users: Any) -> None:
    lot = make_lot(users["coop"])
    with pytest.raises(RuntimeError, match="update_lots"):
        db.session.execute(update(Lot).where(Lot.id == lot.id).values(status=LotStatus.withdrawn))
    db.session.rollback()
