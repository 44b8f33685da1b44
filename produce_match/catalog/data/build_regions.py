#!/usr/bin/env python3
"""Build regions.csv (China's provinces, prefectures and counties) from the
adcodes.csv that ships inside the PyPI package ``cpca`` (version 0.5.5).

Standalone, standard library only.  See SOURCES.md next to this file.

Usage:
    python build_regions.py PATH/TO/cpca/resources/adcodes.csv [-o regions.csv]

The source CSV has the columns ``adcode,name,longitude,latitude`` with
12-digit codes (the 6-digit adcode followed by 000000).  Output columns:
``code,name,short_name,level,parent_code,lat,lng``.

Rules (also documented in SOURCES.md):
* level: ``XX0000`` -> province, ``XXYY00`` -> prefecture, else county.
* Placeholder rows of the national code table are dropped: the grouping
  rows ``市辖区`` (``XXYY01`` and the municipalities' ``XX0100``), ``县``
  (``500200``) and ``省直辖县级行政区划`` / ``自治区直辖县级行政区划``
  (``XX9000``).  They are not places.
* Rows without coordinates in the source are dropped (all are listed on
  stderr when the script runs).
* parent_code: empty for provinces; the province code for prefectures; for
  counties the prefecture code ``XXYY00`` when that prefecture is in the
  output, otherwise the province code ``XX0000``.  So the districts of the
  municipalities (北京/天津/上海/重庆) and the county-level units directly
  under a province (济源, 仙桃, 石河子, ...) all point at the province-level
  code (e.g. 东城区 110101 -> 110000).
* lat/lng: the source's latitude/longitude rounded to 4 decimals.
"""

import argparse
import csv
import os
import sys

# The 56 officially recognised ethnic groups (same list as cpca's
# resources/56_nations.csv), used to shorten 自治州/自治县/自治旗 names.
NATIONS = ["汉族", "蒙古族", "回族", "藏族", "维吾尔族", "苗族", "彝族", "壮族", "布依族", "朝鲜族", "满族", "侗族", "瑶族", "白族", "土家族", "哈尼族", "哈萨克族", "傣族", "黎族", "傈僳族", "佤族", "畲族", "拉祜族", "水族", "东乡族", "纳西族", "景颇族", "柯尔克孜族", "土族", "达斡尔族", "仫佬族", "羌族", "布朗族", "撒拉族", "毛南族", "仡佬族", "锡伯族", "阿昌族", "普米族", "塔吉克族", "怒族", "乌孜别克族", "俄罗斯族", "鄂温克族", "德昂族", "保安族", "裕固族", "京族", "塔塔尔族", "独龙族", "鄂伦春族", "赫哲族", "门巴族", "珞巴族", "基诺族", "高山族"]

# Tokens that may precede 自治州/自治县/自治旗: "X族", plus "X" without 族
# when X has at least two characters (博尔塔拉蒙古自治州, 察布查尔锡伯自治县,
# 鄂伦春自治旗); "各族" as in 龙胜各族自治县.
ETHNIC_TOKENS = sorted(
    set(NATIONS) | {n[:-1] for n in NATIONS if len(n) >= 3} | {"各族"},
    key=len,
    reverse=True,
)

PLACEHOLDER_NAMES = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}

# Province-level suffixes, longest first.
PROVINCE_SUFFIXES = (
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "特别行政区",
    "自治区",
    "省",
    "市",
)
# Suffixes for prefectures and counties, longest first.  "左旗/右旗/前旗/中旗/
# 后旗/联合旗" are handled separately (kept whole: 阿拉善左旗, 乌拉特前旗).
OTHER_SUFFIXES = ("地区", "林区", "特区", "新区", "矿区", "盟", "市", "县", "区", "旗")
KEEP_WHOLE_ENDINGS = ("左旗", "右旗", "前旗", "中旗", "后旗", "联合旗")
AUTONOMOUS_SUFFIXES = ("自治州", "自治县", "自治旗")


def strip_ethnic(stem):
    """Remove trailing ethnic-group tokens: '延边朝鲜族' -> '延边'.

    Returns (remaining, last_token_removed)."""
    last = ""
    changed = True
    while changed and stem:
        changed = False
        for tok in ETHNIC_TOKENS:
            if stem.endswith(tok):
                stem = stem[: -len(tok)]
                last = tok
                changed = True
                break
    return stem, last


def short_name(name, level):
    """The name people use in short; never shorter than two characters."""
    if level == "province":
        for suf in PROVINCE_SUFFIXES:
            if name.endswith(suf) and len(name) - len(suf) >= 2:
                return name[: -len(suf)]
        return name
    for suf in AUTONOMOUS_SUFFIXES:
        if name.endswith(suf):
            stem, last = strip_ethnic(name[: -len(suf)])
            if len(stem) >= 2:
                return stem
            # e.g. 鄂伦春自治旗 -> 鄂伦春, 东乡族自治县 -> 东乡, 鄂温克族自治旗 -> 鄂温克
            tok = last[:-1] if last.endswith("族") and len(last) >= 3 else last
            cand = stem + tok
            return cand if len(cand) >= 2 else name
    if name.endswith(KEEP_WHOLE_ENDINGS):
        return name
    for suf in OTHER_SUFFIXES:
        if name.endswith(suf):
            stem = name[: -len(suf)]
            # 管城回族区 -> 管城, 梅里斯达斡尔族区 -> 梅里斯
            bare, _ = strip_ethnic(stem)
            if len(bare) >= 2:
                stem = bare
            if len(stem) >= 2:
                return stem
            # too short: try the next, shorter suffix (西林区 -> 西林, 清新区
            # -> 清新); 城区/郊区/矿区/东区/和县/芒市 end up unchanged.
    return name


def level_of(code):
    if code[2:] == "0000":
        return "province"
    if code[4:] == "00":
        return "prefecture"
    return "county"


def is_placeholder(code, name):
    return name in PLACEHOLDER_NAMES or (code[2:4] == "90" and code[4:] == "00")


def fmt(value):
    return f"{round(float(value), 4):.4f}"


def build(src_path):
    """Return (rows, dropped) where dropped is a list of (code, name, reason)."""
    with open(src_path, encoding="utf-8-sig", newline="") as fh:
        records = list(csv.DictReader(fh))

    kept = {}
    dropped = []
    for rec in records:
        full = rec["adcode"].strip()
        name = rec["name"].strip()
        code = full[:6]
        if len(full) not in (6, 12) or not code.isdigit() or full[6:].strip("0"):
            dropped.append((full, name, "malformed adcode"))
            continue
        if is_placeholder(code, name):
            dropped.append((code, name, "placeholder grouping row, not a place"))
            continue
        lng, lat = rec["longitude"].strip(), rec["latitude"].strip()
        if not lng or not lat:
            dropped.append((code, name, "no coordinates in source"))
            continue
        if code in kept:
            dropped.append((code, name, "duplicate adcode"))
            continue
        kept[code] = {"code": code, "name": name, "lat": lat, "lng": lng}

    rows = []
    for code in sorted(kept):
        rec = kept[code]
        level = level_of(code)
        province = code[:2] + "0000"
        prefecture = code[:4] + "00"
        if level == "province":
            parent = ""
        elif level == "prefecture":
            parent = province
        else:
            parent = prefecture if prefecture in kept else province
        if parent and parent not in kept:
            dropped.append((code, rec["name"], f"parent {parent} missing"))
            continue
        rows.append(
            {
                "code": code,
                "name": rec["name"],
                "short_name": short_name(rec["name"], level),
                "level": level,
                "parent_code": parent,
                "lat": fmt(rec["lat"]),
                "lng": fmt(rec["lng"]),
            }
        )
    return rows, dropped


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="path of cpca's resources/adcodes.csv")
    ap.add_argument("-o", "--output", default=os.path.join(here, "regions.csv"))
    args = ap.parse_args(argv)

    rows, dropped = build(args.source)
    fields = ["code", "name", "short_name", "level", "parent_code", "lat", "lng"]
    with open(args.output, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

    counts = {}
    for r in rows:
        counts[r["level"]] = counts.get(r["level"], 0) + 1
    print("wrote %d rows to %s: %s" % (len(rows), args.output, counts), file=sys.stderr)
    reasons = {}
    for code, name, reason in dropped:
        reasons.setdefault(reason, []).append(f"{code} {name}")
    for reason, items in sorted(reasons.items()):
        print("dropped %d (%s)" % (len(items), reason), file=sys.stderr)
        if reason != "placeholder grouping row, not a place":
            for item in items:
                print("    " + item, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
