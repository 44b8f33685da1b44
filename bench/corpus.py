"""A deterministic corpus of realistic lots for the search benchmarks and the quality test.

    from bench.corpus import build_app, generate
    app = build_app(tmpdir)                # migrated SQLite file, catalogue and regions loaded
    with app.app_context():
        summary = generate(100_000)        # cooperatives and lots, bulk-inserted

Lots read the way produce marketplaces write them: 彰武绿芯黑豆 40吨 急售, 【滞销】洛川红富士苹果
3万斤, 寿光大棚黄瓜 一等 5万斤 产地直供. Commodities come from the catalogue, weighted (staples
common, herbs rare); places from the regions: the famous producing counties of some commodities
(彰武 black beans, 洛川 apples, 寿光 cucumbers, 五常 rice …) and a few hundred other counties.
About a third of the titles say 急售 (the broad word), about one description in six mentions another
commodity ("可搭配樱桃番茄一起发货"), and some lots are sold out, expired or withdrawn.

The same seed gives the same lots (dates are relative to today). Rows go in with SQLAlchemy Core
bulk inserts, bypassing the ORM and the search queue: rebuild the index afterwards.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout, without installing the package

from flask import Flask  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from produce_match import create_app  # noqa: E402
from produce_match.accounts.models import Organisation, OrgKind  # noqa: E402
from produce_match.catalog.models import Commodity, Region, RegionLevel  # noqa: E402
from produce_match.dates import local_today  # noqa: E402
from produce_match.extensions import db  # noqa: E402
from produce_match.lots.models import Lot, LotStatus  # noqa: E402
from produce_match.units import MassUnit, fen_per_tonne  # noqa: E402

DATA = ROOT / "produce_match" / "catalog" / "data"
SEED = 2020
#: the word about a third of all titles carry (the "broad" query)
BROAD_WORD = "急售"
BROAD_SHARE = 0.33
COOPERATIVES = 300
INSERT_CHUNK = 5000
#: how much more a cooperative of a famous producing county posts than another
FAMOUS_WEIGHT = 2.0
#: the share of a cooperative's lots that are of its speciality
SPECIALITY = 0.5
FAMOUS_SPECIALITY = 0.8

#: how often a category's commodities are posted, relative to each other
CATEGORY_WEIGHT = {
    "grain": 8.0,
    "bean": 5.0,
    "vegetable": 4.0,
    "fruit": 4.0,
    "oilseed": 3.0,
    "egg": 3.0,
    "nut": 2.0,
    "mushroom": 2.0,
    "other": 1.5,
    "spice": 1.0,
    "tea": 1.0,
    "honey": 1.0,
    "herb": 0.4,
}
#: staples, posted more often than the rest of their category
STAPLE = {
    "corn": 4.0,
    "potato": 4.0,
    "rice": 3.0,
    "wheat": 3.0,
    "apple": 3.0,
    "napa_cabbage": 2.5,
    "chicken_egg": 2.5,
    "soybean": 2.0,
    "sweet_potato": 2.0,
    "tomato": 2.0,
    "cabbage": 2.0,
    "garlic": 2.0,
    "peanut": 2.0,
    "black_bean": 1.5,
    "onion": 1.5,
    "cucumber": 1.5,
    "orange": 1.5,
    "mandarin": 1.5,
    "pear": 1.5,
    "watermelon": 1.5,
    "chili_pepper": 1.5,
    "cherry": 1.3,
    "cherry_tomato": 1.3,
    "kiwifruit": 1.2,
}
#: famous producing counties: (county name, province code, specialities)
FAMOUS = [
    ("彰武县", "210000", ["black_bean", "corn", "peanut"]),
    ("金州区", "210000", ["cherry", "apricot"]),
    ("福山区", "370000", ["cherry", "apple"]),
    ("栖霞市", "370000", ["apple"]),
    ("寿光市", "370000", ["cucumber", "tomato", "cherry_tomato", "green_pepper", "eggplant"]),
    ("金乡县", "370000", ["garlic"]),
    ("洛川县", "610000", ["apple"]),
    ("眉县", "610000", ["kiwifruit"]),
    ("五常市", "230000", ["rice", "paddy_rice", "soybean"]),
    ("舒兰市", "220000", ["rice", "paddy_rice"]),
    ("中宁县", "640000", ["goji"]),
    ("安定区", "620000", ["potato"]),
    ("威宁彝族回族苗族自治县", "520000", ["potato", "cabbage", "radish"]),
    ("武川县", "150000", ["potato", "oat"]),
    ("元谋县", "530000", ["tomato", "green_bean", "onion", "chili_pepper"]),
    ("寻乌县", "360000", ["orange", "passion_fruit"]),
    ("武鸣区", "450000", ["mandarin"]),
    ("田东县", "450000", ["mango"]),
    ("汉源县", "510000", ["sichuan_pepper", "pear"]),
    ("温宿县", "650000", ["apple", "jujube", "walnut"]),
    ("沧县", "130000", ["jujube", "chicken_egg"]),
    ("阜平县", "130000", ["shiitake", "dried_shiitake"]),
    ("秭归县", "420000", ["orange"]),
    ("岷县", "620000", ["angelica", "codonopsis", "astragalus"]),
    ("安溪县", "350000", ["oolong_tea"]),
    ("临安市", "330000", ["hickory_nut", "bamboo_shoot"]),
    ("中牟县", "410000", ["watermelon", "garlic_scape", "napa_cabbage"]),
    ("宾川县", "530000", ["grape", "mandarin"]),
    ("徐闻县", "440000", ["pineapple", "banana"]),
    ("高州市", "440000", ["lychee", "longan"]),
    ("砀山县", "340000", ["pear", "peach"]),
    ("东港市", "210000", ["strawberry", "blueberry"]),
    ("盘山县", "210000", ["mitten_crab", "rice"]),
    ("随县", "420000", ["shiitake", "dried_shiitake"]),
    ("抚松县", "220000", ["ginseng", "wood_ear"]),
    ("潜江市", "420000", ["crayfish", "paddy_rice"]),
    ("建平县", "210000", ["millet", "mung_bean", "sorghum"]),
    ("梨树县", "220000", ["corn"]),
    ("海伦市", "230000", ["soybean", "black_bean"]),
    ("灵宝市", "410000", ["apple"]),
    ("静宁县", "620000", ["apple"]),
    ("滕州市", "370000", ["potato"]),
    ("兰陵县", "370000", ["garlic", "napa_cabbage"]),
]
#: synonyms that sellers really put in titles, with how often
TITLE_NAMES = {
    "potato": [("马铃薯", 0.15), ("洋芋", 0.15)],
    "tomato": [("番茄", 0.35)],
    "sweet_potato": [("地瓜", 0.2), ("番薯", 0.1)],
    "corn": [("苞米", 0.1), ("包谷", 0.05)],
    "cherry": [("大樱桃", 0.3), ("车厘子", 0.05)],
    "cherry_tomato": [("圣女果", 0.3), ("小番茄", 0.1)],
    "soybean": [("黄豆", 0.3)],
    "kiwifruit": [("奇异果", 0.1)],
    "cabbage": [("包菜", 0.2), ("甘蓝", 0.2)],
    "napa_cabbage": [("白菜", 0.3)],
    "red_bean": [("红小豆", 0.3)],
    "mandarin": [("砂糖橘", 0.2), ("蜜橘", 0.1)],
    "orange": [("脐橙", 0.4)],
    "pear": [("酥梨", 0.2), ("雪梨", 0.1)],
    "peach": [("水蜜桃", 0.2), ("桃子", 0.2)],
    "jujube": [("大枣", 0.2)],
    "chicken_egg": [("土鸡蛋", 0.3), ("柴鸡蛋", 0.1)],
    "chestnut": [("栗子", 0.3)],
    "wood_ear": [("黑木耳", 0.5)],
    "broccoli": [("西蓝花", 0.3)],
    "chinese_yam": [("铁棍山药", 0.2)],
    "millet": [("黄小米", 0.2)],
    "chili_pepper": [("线椒", 0.1), ("尖椒", 0.1)],
    "green_pepper": [("菜椒", 0.2)],
}
#: varieties, as farmers name them (a variety that contains the commodity's name stands alone)
VARIETIES = {
    "black_bean": ["绿芯黑豆", "青仁黑豆", "黄芯黑豆", "小粒黑豆", "本地"],
    "soybean": ["黑农84", "东农", "合丰55", "非转基因", "高蛋白"],
    "corn": ["郑单958", "先玉335", "京科968", "东北", "新粮"],
    "rice": ["稻花香2号", "长粒香", "五优稻4号", "蟹田", "新米"],
    "paddy_rice": ["稻花香2号", "虾稻", "早籼", "晚粳"],
    "wheat": ["济麦22", "百农207", "新麦"],
    "potato": ["新大坪", "青薯9号", "克新1号", "威芋3号", "荷兰15", "黄心"],
    "sweet_potato": ["烟薯25", "西瓜红", "紫薯", "龙薯9号", "蜜薯"],
    "tomato": ["粉果", "大红硬果", "普罗旺斯", "铁皮"],
    "cherry_tomato": ["千禧", "黄妃", "釜山88"],
    "cucumber": ["密刺", "大棚", "水果", "旱"],
    "cherry": ["美早", "红灯", "布鲁克斯", "黄蜜", "萨米脱"],
    "apple": ["红富士", "嘎啦", "冰糖心", "秦冠", "花牛", "瑞阳"],
    "pear": ["砀山酥梨", "金花梨", "库尔勒香梨", "鸭梨"],
    "orange": ["纽荷尔", "伦晚", "赣南", "冰糖橙"],
    "mandarin": ["沃柑", "砂糖橘", "宫川", "春见"],
    "kiwifruit": ["徐香", "翠香", "红心", "海沃德"],
    "garlic": ["白皮蒜", "紫皮蒜", "5.5公分", "6.0公分", "混级"],
    "onion": ["紫皮", "黄皮", "红皮"],
    "napa_cabbage": ["北京新三号", "黄心", "秋"],
    "cabbage": ["京丰一号", "高山", "牛心"],
    "chili_pepper": ["二荆条", "朝天椒", "螺丝椒", "线椒"],
    "peanut": ["白沙1016", "四粒红", "大花生", "小花生"],
    "grape": ["夏黑", "阳光玫瑰", "红提", "巨峰"],
    "watermelon": ["麒麟瓜", "8424", "京欣", "黑美人"],
    "strawberry": ["红颜", "章姬", "甜查理"],
    "mango": ["台农一号", "桂七芒", "贵妃芒", "金煌芒"],
    "jujube": ["灰枣", "骏枣", "金丝小枣", "冬枣"],
    "goji": ["宁杞7号", "宁杞1号", "头茬"],
    "shiitake": ["808", "花菇", "光面"],
    "chicken_egg": ["散养", "林下", "农家"],
    "millet": ["黄金苗", "张杂谷", "新"],
    "lychee": ["妃子笑", "白糖罂", "桂味", "黑叶"],
    "peach": ["黄桃", "油桃", "蟠桃", "白凤"],
    "tea_leaf_fresh": ["铁观音", "龙井43"],
    "oolong_tea": ["铁观音", "清香型", "浓香型"],
    "sichuan_pepper": ["大红袍", "青花椒", "贡椒"],
}
TAGS = [
    ("滞销", 0.22),
    ("产地直供", 0.18),
    ("低价处理", 0.07),
    ("冷库货", 0.05),
    ("现货", 0.06),
    ("待售", 0.03),
    ("寻销路", 0.03),
    ("新货上市", 0.03),
]
EXTRAS = ["量大从优", "可视频看货", "支持代发", "整车优惠", "欢迎来电", "包装可定制"]
GRADES = [("一等", 0.25), ("二等", 0.2), ("特级", 0.1), ("统货", 0.25), ("", 0.2)]
VILLAGES = [
    "道亭",
    "新民",
    "红旗",
    "东升",
    "前进",
    "胜利",
    "永安",
    "太平",
    "长兴",
    "和平",
    "双河",
    "三合",
    "富民",
    "兴隆",
    "柳树",
    "杨家",
    "榆树",
    "石桥",
    "高台",
    "南岗",
    "王家",
    "李家",
    "河西",
    "北沟",
]
TOWNSHIPS = ["城关镇", "梁家子镇", "新城乡", "兴隆镇", "东风镇", "太平乡", "红星乡", "河口镇"]
SURNAMES = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "孙", "马", "胡", "郭"]
STORAGE = [
    "",
    "冷库存放",
    "干燥仓库，垫板离地存放。",
    "地窖存放，温度稳定。",
    "常温通风库。",
    "采后进预冷库0-2℃暂存，可泡沫箱加冰袋发货。",
    "村部仓库内麻袋码垛存放。",
]
REASONS = [
    "受疫情影响，外地收购商进不来，{name}一直压在仓库里。",
    "今年丰收，本地收购价压得很低，{name}卖不出去。",
    "道路封闭，物流停运，急需找到销路。",
    "原定的收购商取消了订单，货已经备好。",
    "天气转暖，存放时间有限，希望尽快整批或分批出手。",
    "往年由本地客商收走，今年还没有人来问价。",
    "村里统一收购的{name}，希望对接商超、食堂和批发市场。",
]
QUALITY = [
    "{variety}品种，个头均匀，口感好。",
    "已做农残检测，可提供检测报告。",
    "品质稳定，支持现场看货。",
    "当年新货，干净无杂质。",
    "",
]
LOGISTICS = [
    "村里可组织人手装车。",
    "支持整车发货，也可分批。",
    "量大可议价，可代办物流。",
    "可视频看货，款到发货。",
    "",
]
MENTIONS = [
    "本社另有{other}少量出售。",
    "可搭配{other}一起发货。",
    "同基地还种有{other}，欢迎咨询。",
]
#: commodities that other lots' descriptions mention most (and then any commodity)
MENTIONED = [
    "cherry_tomato",
    "cherry",
    "tomato",
    "potato",
    "sweet_potato",
    "corn",
    "black_bean",
    "soybean",
    "garlic",
    "apple",
    "chili_pepper",
    "cabbage",
]
#: a plausible asking price in yuan per jin: by category, then particular commodities
PRICE_PER_JIN = {
    "grain": (0.9, 2.0),
    "bean": (2.5, 6.0),
    "vegetable": (0.3, 3.0),
    "fruit": (1.5, 12.0),
    "nut": (8.0, 40.0),
    "mushroom": (3.0, 30.0),
    "egg": (3.5, 8.0),
    "honey": (20.0, 80.0),
    "tea": (30.0, 300.0),
    "herb": (10.0, 100.0),
    "oilseed": (2.5, 8.0),
    "spice": (10.0, 40.0),
    "other": (5.0, 40.0),
}
PRICE_OVERRIDE = {
    "corn": (0.9, 1.3),
    "wheat": (1.1, 1.4),
    "paddy_rice": (1.2, 1.8),
    "rice": (2.0, 4.5),
    "black_bean": (2.8, 4.5),
    "soybean": (2.4, 3.2),
    "potato": (0.4, 1.2),
    "napa_cabbage": (0.15, 0.6),
    "cabbage": (0.3, 0.8),
    "cherry": (8.0, 30.0),
    "apple": (1.0, 5.0),
    "pear": (1.0, 3.5),
    "orange": (1.0, 4.0),
    "mandarin": (1.0, 4.0),
    "watermelon": (0.4, 2.0),
    "kiwifruit": (2.0, 6.0),
    "tomato": (0.8, 3.0),
    "garlic": (1.5, 4.0),
    "tea_leaf_fresh": (5.0, 30.0),
}
#: quantity in jin, by category: (low, high) drawn log-uniform
QUANTITY_JIN = {
    "grain": (10_000, 600_000),
    "bean": (4_000, 200_000),
    "oilseed": (4_000, 200_000),
    "vegetable": (5_000, 300_000),
    "fruit": (3_000, 200_000),
    "nut": (1_000, 40_000),
    "mushroom": (1_000, 60_000),
    "egg": (1_000, 20_000),
    "honey": (400, 10_000),
    "tea": (100, 5_000),
    "herb": (400, 16_000),
    "spice": (600, 20_000),
    "other": (2_000, 30_000),
}
STATUSES = [
    (LotStatus.open, 0.84),
    (LotStatus.sold_out, 0.06),
    (LotStatus.withdrawn, 0.05),
    (LotStatus.expired, 0.05),
]
#: share of open lots whose spoil-by date has passed without the expiry being recorded yet
STALE_OPEN = 0.02
UNIT_ZH = {MassUnit.jin: "斤", MassUnit.kg: "公斤", MassUnit.t: "吨"}


@dataclass
class CorpusSummary:
    """What `generate` inserted, and how long it took."""

    lots: int
    cooperatives: int
    counties: int
    seconds: float
    statuses: dict[str, int] = field(default_factory=dict)
    commodities: dict[str, int] = field(default_factory=dict)
    broad_word: str = BROAD_WORD
    broad_titles: int = 0

    @property
    def lots_per_second(self) -> float:
        """Insert rate."""
        return self.lots / self.seconds if self.seconds else 0.0


@dataclass
class _County:
    """A county a cooperative is in."""

    code: str
    name: str
    short: str
    province: str
    province_short: str


@dataclass
class _Coop:
    """A cooperative as the lots need it."""

    id: int
    name: str
    county: _County
    township: str
    village: str
    speciality: str
    #: in a famous producing county: posts more, and mostly its speciality
    famous: bool


@dataclass
class _Commodity:
    """A catalogue entry as the lots need it."""

    id: int
    code: str
    name: str
    category: str
    unit: MassUnit
    shelf_life_days: int
    synonyms: list[str]


def build_app(
    tmpdir: str | Path, database_url: str | None = None, search_backend: str = "whoosh"
) -> Flask:
    """An app on a migrated database with the catalogue and the regions, no demo world."""
    folder = Path(tmpdir)
    folder.mkdir(parents=True, exist_ok=True)
    return create_app(
        {
            "DATABASE_URL": database_url or f"sqlite:///{folder / 'bench.sqlite3'}",
            "AUTO_SETUP": True,
            "LOAD_DEMO": False,
            "INSTANCE_PATH": str(folder),
            "SECRET_KEY": "bench-secret-key",
            "SEARCH_INDEX_DIR": str(folder / "search_index"),
            "UPLOAD_DIR": str(folder / "uploads"),
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "SEARCH_BACKEND": search_backend,
        }
    )


def print_header(setup: float) -> None:
    """Print the machine, its load and the database (the first lines of every bench's report)."""
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    server = ".".join(str(v) for v in db.engine.dialect.server_version_info or ())
    print(
        f"machine   {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; load average {load}"
    )
    print(f"database  {db.engine.dialect.name} {server}")
    print(f"setup     {setup:8.2f} s  (migrations, regions, catalogue)", flush=True)


def _weighted(rng: random.Random, choices: list[tuple[Any, float]]) -> Any:
    """One of `choices` by weight; whatever weight is left over picks None."""
    roll = rng.random()
    for value, weight in choices:
        if roll < weight:
            return value
        roll -= weight
    return None


def _round_quantity(value: float) -> int:
    """Two significant figures, as people post quantities (38,400 -> 38,000)."""
    if value < 10:
        return max(1, round(value))
    digits = int(math.floor(math.log10(value))) - 1
    return int(round(value / 10**digits) * 10**digits)


def _number(value: float) -> str:
    """'1.5', '40' (no trailing zeros)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _quantity_text(rng: random.Random, grams: int, unit: MassUnit) -> str:
    """The quantity as a title says it: 40吨, 3万斤, 8000斤, 500公斤."""
    jin = grams / 500
    if unit is MassUnit.t or (jin >= 40_000 and rng.random() < 0.4):
        return f"{_number(grams / 1_000_000)}吨"
    if unit is MassUnit.kg:
        return f"{_number(grams / 1000)}公斤"
    if jin >= 10_000:
        return f"{_number(jin / 10_000)}万斤"
    return f"{round(jin)}斤"


def _counties(rng: random.Random) -> tuple[list[tuple[_County, list[str]]], list[_County]]:
    """The famous counties (with their specialities) and a few hundred other rural counties."""
    rows = db.session.execute(
        select(
            Region.code, Region.name, Region.short_name, Region.level, Region.province_code
        ).order_by(Region.code)
    ).all()
    provinces = {r.code: r.short_name or r.name for r in rows if r.level is RegionLevel.province}
    counties = {
        (r.name, r.province_code): _County(
            r.code, r.name, r.short_name or r.name, r.province_code, provinces[r.province_code]
        )
        for r in rows
        if r.level is RegionLevel.county
    }
    famous = [(counties[(name, prov)], specs) for name, prov, specs in FAMOUS]
    taken = {c.code for c, _ in famous}
    rural = [
        c
        for c in counties.values()
        if c.code not in taken and c.name.endswith(("县", "市", "旗")) and len(c.short) >= 2
    ]
    rural.sort(key=lambda c: c.code)
    return famous, rng.sample(rural, 240)


def _cooperatives(
    rng: random.Random, commodities: list[_Commodity], weights: list[float], how_many: int
) -> list[dict[str, Any]]:
    """Rows for the organisations table, each with a county and a speciality."""
    famous, others = _counties(rng)
    by_code = {c.code: c for c in commodities}
    places: list[tuple[_County, str, bool]] = []
    for county, specs in famous:
        # two or three cooperatives in each famous county, one per speciality
        for spec in (specs * 2)[: max(2, min(3, len(specs)))]:
            places.append((county, spec, True))
    for county in others:
        places.append((county, rng.choices(commodities, weights)[0].code, False))
    rows: list[dict[str, Any]] = []
    names: set[str] = set()
    now = datetime.now(UTC)
    for i, (county, spec, is_famous) in enumerate(places[:how_many]):
        speciality = by_code[spec].name
        for attempt in range(20):
            village = rng.choice(VILLAGES)
            township = rng.choice(TOWNSHIPS)
            name = _coop_name(rng, county, township, village, speciality)
            if attempt == 19:
                name = f"{county.short}{village}村第{i + 1}专业合作社"
            if name not in names:
                break
        names.add(name)
        rows.append(
            {
                "name": name,
                "kind": OrgKind.cooperative,
                "contact_person": f"{rng.choice(SURNAMES)}{rng.choice(['支书', '社长', '主任'])}",
                "phone": f"139{rng.randrange(10**8):08d}",
                "province_code": county.province,
                "county_code": county.code,
                "township": township,
                "village": f"{village}村",
                "verified_at": now if rng.random() < 0.9 else None,
                "created_at": now - timedelta(days=rng.randint(30, 400)),
                "_county": county,
                "_speciality": spec,
                "_famous": is_famous,
            }
        )
    return rows


def _coop_name(
    rng: random.Random, county: _County, township: str, village: str, speciality: str
) -> str:
    """A cooperative's name, as they are registered."""
    style = rng.random()
    if style < 0.5:
        return f"{county.short}{village}村{speciality}种植专业合作社"
    if style < 0.7:
        return f"{county.short}{rng.choice(SURNAMES)}氏家庭农场"
    if style < 0.85:
        return f"{county.name}{village}村股份经济合作社"
    return f"{county.short}{township[:-1]}{speciality}产销专业合作社"


def _catalogue() -> list[_Commodity]:
    """The active commodities, in catalogue order, with their synonyms."""
    synonyms = {
        c["code"]: c["synonyms_zh"]
        for c in json.loads((DATA / "commodities.json").read_text("utf-8"))
    }
    out = []
    for c in db.session.scalars(select(Commodity).where(Commodity.active).order_by(Commodity.id)):
        out.append(
            _Commodity(
                id=c.id,
                code=c.code,
                name=c.name_zh,
                category=c.category.value,
                unit=c.unit,
                shelf_life_days=c.shelf_life_days,
                synonyms=synonyms.get(c.code, []),
            )
        )
    return out


def _weight(c: _Commodity) -> float:
    """How often a commodity is posted, relative to the others."""
    return CATEGORY_WEIGHT.get(c.category, 1.0) * STAPLE.get(c.code, 1.0)


def _title_name(rng: random.Random, c: _Commodity) -> str:
    """The name a seller puts in the title: mostly the main one, sometimes a synonym."""
    name = _weighted(rng, TITLE_NAMES.get(c.code, []))
    return name or c.name


def _lot(
    rng: random.Random,
    coop: _Coop,
    c: _Commodity,
    by_code: dict[str, _Commodity],
    today: date,
    now: datetime,
    open_only: bool = False,
) -> dict[str, Any]:
    """One lot's row for the lots table (`open_only`: open, with days before spoiling)."""
    county = coop.county
    name = _title_name(rng, c)
    variety = rng.choice(VARIETIES[c.code]) if c.code in VARIETIES and rng.random() < 0.7 else ""
    named = variety if name in variety or c.name in variety else f"{variety}{name}"
    grade = _weighted(rng, GRADES) or ""

    # quantity, as entered in the commodity's usual unit
    low, high = QUANTITY_JIN.get(c.category, (1_000, 50_000))
    jin = math.exp(rng.uniform(math.log(low), math.log(high)))
    unit = c.unit
    amount = _round_quantity(jin * 500 / unit.grams)
    quantity_g = amount * unit.grams
    # price: per jin mostly; tonnes for bulk grain, kilograms for herbs and dried goods
    low_p, high_p = PRICE_OVERRIDE.get(c.code, PRICE_PER_JIN.get(c.category, (1.0, 10.0)))
    per_jin = rng.uniform(low_p, high_p)
    if unit is MassUnit.t:
        price_unit = _weighted(rng, [(MassUnit.t, 0.5), (MassUnit.jin, 0.3)]) or MassUnit.kg
    elif unit is MassUnit.kg:
        price_unit = MassUnit.kg if rng.random() < 0.8 else MassUnit.jin
    else:
        price_unit = MassUnit.jin if rng.random() < 0.85 else MassUnit.kg
    per_unit = per_jin * price_unit.grams / 500
    price_fen = max(1, round(per_unit * 100) if per_unit < 100 else round(per_unit) * 100)

    status = _weighted(rng, STATUSES) or LotStatus.open
    if open_only:
        status = LotStatus.open
    shelf = max(3, min(300, c.shelf_life_days))
    if status is LotStatus.expired or (
        status is LotStatus.open and not open_only and rng.random() < STALE_OPEN
    ):
        spoil_by = today - timedelta(days=rng.randint(1, 30))
    else:
        spoil_by = today + timedelta(days=rng.randint(1, shelf))
    if status is LotStatus.sold_out:
        remaining_g = 0
    elif rng.random() < 0.25:
        part = quantity_g * rng.randint(1, 9) // 10 // unit.grams * unit.grams
        remaining_g = max(unit.grams, part)
    else:
        remaining_g = quantity_g
    # at least an hour old: a rebuild re-queues whatever changed in its last seconds
    created = now - timedelta(minutes=rng.randint(120, 60 * 24 * 60))
    edited = created + timedelta(minutes=rng.randint(0, 60 * 24 * 3))
    updated = min(edited, now - timedelta(hours=1))

    # the title, as sellers write it
    roll = rng.random()
    if roll < 0.55:
        place = county.short
    elif roll < 0.67:
        place = county.name
    elif roll < 0.8:
        place = f"{county.province_short}{county.short}"
    elif roll < 0.88:
        place = f"{county.short}{coop.village}"
    else:
        place = ""
    tag = BROAD_WORD if rng.random() < BROAD_SHARE else (_weighted(rng, TAGS) or "")
    qty = _quantity_text(rng, quantity_g, unit)
    style = rng.randrange(6)
    if style == 0:
        title = f"{place}{named} {qty} {tag}"
    elif style == 1:
        title = f"{place}{name} {variety} {qty} {tag}" if variety else f"{place}{name} {qty} {tag}"
    elif style == 2:
        title = f"{tag}！{place}{named}{qty}" if tag else f"{place}{named}{qty}"
    elif style == 3:
        title = f"{place}{named} {grade} {qty} {tag}"
    elif style == 4:
        title = f"【{tag}】{place}{named} {qty}" if tag else f"{place}{named} {qty}"
    else:
        title = f"{place}{named} {qty} {tag} {rng.choice(EXTRAS)}"
    title = " ".join(title.split())[:120]

    sentences = [
        rng.choice(REASONS).format(name=name),
        rng.choice(QUALITY).format(variety=variety or "本地"),
        rng.choice(LOGISTICS),
    ]
    if rng.random() < 0.17:
        code = rng.choice(MENTIONED) if rng.random() < 0.7 else rng.choice(list(by_code))
        if code != c.code:
            sentences.append(rng.choice(MENTIONS).format(other=by_code[code].name))
    return {
        "cooperative_id": coop.id,
        "commodity_id": c.id,
        "title": title,
        "variety": variety or None,
        "grade": grade or None,
        "quantity_g": quantity_g,
        "remaining_g": remaining_g,
        "quantity_unit": unit,
        "price_fen": price_fen,
        "price_unit": price_unit,
        "price_fen_per_t": fen_per_tonne(price_fen, price_unit),
        "province_code": county.province,
        "county_code": county.code,
        "township": coop.township,
        "village": coop.village,
        "available_from": min(today, (created.date() - timedelta(days=rng.randint(0, 30)))),
        "spoil_by": spoil_by,
        "timezone": "Asia/Shanghai",
        "storage_notes": rng.choice(STORAGE) or None,
        "description": "".join(sentences),
        "status": status,
        "created_by_id": None,
        "created_at": created,
        "updated_at": updated,
    }


def generate(n: int, seed: int = SEED, *, open_only: bool = False) -> CorpusSummary:
    """Insert `n` lots (and a few hundred cooperatives) into the app's database; commits.

    `open_only`: every lot open, with something left and days before spoiling (the lots an
    official sees at risk); otherwise some are sold out, expired or withdrawn.
    """
    if db.session.scalar(select(func.count()).select_from(Lot)):
        raise RuntimeError("the database already holds lots: generate() needs an empty one")
    started = time.perf_counter()
    rng = random.Random(seed)
    commodities = _catalogue()
    by_code = {c.code: c for c in commodities}
    weights = [_weight(c) for c in commodities]
    org_rows = _cooperatives(rng, commodities, weights, COOPERATIVES)
    conn = db.session.connection()
    conn.execute(
        Organisation.__table__.insert(),
        [{k: v for k, v in row.items() if not k.startswith("_")} for row in org_rows],
    )
    ids = dict(
        conn.execute(
            select(Organisation.name, Organisation.id).where(
                Organisation.name.in_([r["name"] for r in org_rows])
            )
        ).all()
    )
    coops = [
        _Coop(
            id=ids[r["name"]],
            name=r["name"],
            county=r["_county"],
            township=r["township"],
            village=r["village"],
            speciality=r["_speciality"],
            famous=r["_famous"],
        )
        for r in org_rows
    ]
    coop_weights = [FAMOUS_WEIGHT if coop.famous else 1.0 for coop in coops]
    today = local_today()
    now = datetime.now(UTC)
    statuses: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    broad = 0
    batch: list[dict[str, Any]] = []
    for _ in range(n):
        coop = rng.choices(coops, coop_weights)[0]
        if rng.random() < (FAMOUS_SPECIALITY if coop.famous else SPECIALITY):
            c = by_code[coop.speciality]
        else:
            c = rng.choices(commodities, weights)[0]
        row = _lot(rng, coop, c, by_code, today, now, open_only)
        statuses[row["status"].value] += 1
        counts[c.code] += 1
        broad += BROAD_WORD in row["title"]
        batch.append(row)
        if len(batch) >= INSERT_CHUNK:
            conn.execute(Lot.__table__.insert(), batch)
            batch = []
    if batch:
        conn.execute(Lot.__table__.insert(), batch)
    db.session.commit()
    return CorpusSummary(
        lots=n,
        cooperatives=len(coops),
        counties=len({c.county.code for c in coops}),
        seconds=time.perf_counter() - started,
        statuses=dict(statuses.most_common()),
        commodities=dict(counts.most_common()),
        broad_titles=broad,
    )


def main() -> None:
    """Generate a corpus into a temporary database and print a few of its lots."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description="Generate a corpus and show a sample.")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--show", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pm-corpus-") as tmp:
        app = build_app(tmp)
        with app.app_context():
            summary = generate(args.n, seed=args.seed)
            print(
                f"{summary.lots} lots, {summary.cooperatives} cooperatives in "
                f"{summary.counties} counties, {summary.seconds:.2f} s "
                f"({summary.lots_per_second:,.0f} lots/s)"
            )
            print(f"statuses: {summary.statuses}")
            print(f"top commodities: {list(summary.commodities.items())[:15]}")
            print(
                f"titles with {summary.broad_word}: {summary.broad_titles} "
                f"({summary.broad_titles / max(1, summary.lots):.0%})"
            )
            for lot in db.session.scalars(select(Lot).order_by(Lot.id).limit(args.show)):
                print(f"- {lot.title} | {lot.grade or ''} | {lot.description}")
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
