"""Share links: made once per (target, channel, sharer), derived for visitors, resolved."""

from __future__ import annotations

from sqlalchemy import func, select

from produce_match.audit.models import AuditEvent
from produce_match.extensions import db
from produce_match.sharing import operations as sharing
from produce_match.sharing.models import Channel, ShareLink, TargetKind


def _target(lot):
    return sharing.Target(TargetKind.lot, lot.id)


def test_a_sharers_links_are_made_once_and_reused(users, lot):
    coop = users["coop"]
    assert sharing.links_of(_target(lot), coop) is None  # nothing made yet
    first = sharing.make_links(coop, _target(lot))
    db.session.commit()
    assert set(first) == set(Channel) and len(set(first.values())) == len(Channel)
    again = sharing.make_links(coop, _target(lot))
    db.session.commit()
    assert again == first
    assert sharing.links_of(_target(lot), coop) == first
    assert db.session.scalar(select(func.count()).select_from(ShareLink)) == len(Channel)
    made = db.session.scalars(
        select(AuditEvent).where(AuditEvent.subject_type == "share_links")
    ).all()
    assert len(made) == len(Channel) and {e.actor_id for e in made} == {coop.id}
    # another sharer gets links of their own
    other = sharing.make_links(users["buyer"], _target(lot))
    assert set(other.values()).isdisjoint(first.values())
    link = db.session.scalar(select(ShareLink).where(ShareLink.code == first[Channel.douyin]))
    assert (link.kind, link.lot_id, link.channel, link.sharer_id) == (
        TargetKind.lot,
        lot.id,
        Channel.douyin,
        coop.id,
    )


def test_visitors_links_are_derived_and_signed(users, lot):
    codes = sharing.links_of(_target(lot), None)
    assert codes == sharing.links_of(_target(lot), None)  # the same every time, no row
    assert db.session.scalar(select(func.count()).select_from(ShareLink)) == 0
    resolved = sharing.resolve(codes[Channel.weibo])
    assert resolved.target == _target(lot) and resolved.channel is Channel.weibo
    assert resolved.link_id is None
    # a changed signature, id or channel names nothing
    code = codes[Channel.weibo]
    forged = code[:-1] + ("a" if code[-1] != "a" else "b")
    assert sharing.resolve(forged) is None
    assert sharing.resolve("1" + code) is None
    assert sharing.resolve("") is None and sharing.resolve("x" * 17) is None


def test_shop_and_demand_targets_have_their_own_codes(users, lot):
    shop = sharing.Target(TargetKind.shop, users["official"].organisation_id)
    codes = sharing.links_of(shop, None)
    assert sharing.resolve(codes[Channel.print]).target == shop
    assert codes[Channel.print] != sharing.links_of(_target(lot), None)[Channel.print]
