"""Building test data through the same operations the app uses."""

from __future__ import annotations

from typing import Any

from produce_match.accounts import operations as accounts
from produce_match.accounts.models import Role, User
from produce_match.extensions import db

PASSWORD = "correct-horse-42"


def make_user(
    login: str,
    role: Role,
    org: str | None = None,
    *,
    province: str | None = None,
    county: str | None = None,
    password: str = PASSWORD,
    phone: str | None = None,
) -> User:
    """A user (and its organisation, if new). Buyers get a mobile number, as registered buyers
    have one: an order needs a receiver's phone, and it defaults to the buyer's."""
    if phone is None and role is Role.buyer:
        phone = "13800138000"
    user = accounts.create_user(
        login=login,
        password=password,
        role=role,
        org_name=org,
        name=login,
        phone=phone,
        place=accounts.PlaceInput(province=province, county=county),
    )
    db.session.commit()
    return user


def make_world() -> dict[str, Any]:
    """A cooperative in Zhangwu, another in Dalian, a buyer, a county, a province and another
    county's official, and an administrator."""
    return {
        "coop": make_user("coop", Role.cooperative, "道亭村合作社", province="辽宁", county="彰武"),
        "coop2": make_user(
            "coop2", Role.cooperative, "金州樱桃合作社", province="辽宁", county="金州区"
        ),
        "buyer": make_user("buyer", Role.buyer, "南昌粮油公司", province="江西", county="东湖区"),
        "official": make_user(
            "official", Role.official, "彰武县电商办", province="辽宁", county="彰武"
        ),
        "province_official": make_user(
            "provincial", Role.official, "辽宁省农业农村厅", province="辽宁"
        ),
        "other_official": make_user(
            "jiangxi", Role.official, "东湖区商务局", province="江西", county="东湖区"
        ),
        "admin": make_user("admin", Role.admin),
    }


def make_lot(user: User, **fields: Any) -> Any:
    """A lot posted by `user`'s cooperative through the real operation, committed."""
    from produce_match.lots import operations as lots

    values = {
        "commodity": "黑豆",
        "quantity": "40",
        "unit": "t",
        "price": "6.80",
        "price_unit": "kg",
    }
    values.update(fields)
    lot = lots.create_lot(user, user.organisation, lots.LotInput(**values))
    db.session.commit()
    return lot


def make_demand(user: User, **fields: Any) -> Any:
    """A demand registered by `user`'s buyer through the real operation, committed: black beans,
    10-40 t at up to 7.50 元/kg, delivered to 东湖区 in 25 days, any grade."""
    from datetime import timedelta

    from produce_match.dates import local_today
    from produce_match.demands import operations as demands

    values = {
        "commodity": "黑豆",
        "grades": "",
        "min_quantity": "10",
        "max_quantity": "40",
        "unit": "t",
        "max_price": "7.50",
        "price_unit": "kg",
        "province": "江西",
        "county": "东湖区",
        "needed_by": (local_today() + timedelta(days=25)).isoformat(),
    }
    values.update(fields)
    demand = demands.create_demand(user, user.organisation, demands.DemandInput(**values))
    db.session.commit()
    return demand


def jpeg_bytes(width: int = 800, height: int = 600, *, gps: bool = False) -> bytes:
    """A real JPEG, optionally carrying EXIF GPS coordinates."""
    import io

    from PIL import Image

    image = Image.new("RGB", (width, height), (120, 160, 60))
    exif = Image.Exif()
    if gps:
        exif[0x010F] = "PhoneMaker"
        exif[0x8825] = {1: "N", 2: (42.0, 23.0, 11.0), 3: "E", 4: (122.0, 32.0, 19.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes() if gps else b"")
    return out.getvalue()
