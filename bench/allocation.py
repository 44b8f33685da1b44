"""Benchmark: the allocation planner against its flow bound and two greedy baselines.

    .venv/bin/python bench/allocation.py                  # 2,000 x 5,000 and 20,000 x 50,000
    .venv/bin/python bench/allocation.py --sizes small    # only 2,000 lots x 5,000 demands
    .venv/bin/python bench/allocation.py --per-lot 50 --seed 7
    .venv/bin/python bench/allocation.py --demand scarce   # more demand than produce
    .venv/bin/python bench/allocation.py --lot-minimums 0.8  # 80% of lots with a minimum order

Each instance has lots of 1-60 t at 2-20 元/kg with a spoil-by day, and demands of 2-22 t (about
as much in all as the lots hold; `--demand scarce`: 2-40 t); every lot is compatible with about
`--per-lot` demands (drawn at random, as the rule would leave them).
Each instance is solved three times: without minimums (the planner must reach the exact optimum,
which is the flow bound), with minimums of 10-60% of each demand's maximum, and with those and a
minimum order of 2-10 t (whole tonnes) on a share of the lots (`--lot-minimums`, default 0.5; 0
skips this run); pairs where a lot's minimum is more than the demand takes are left out, as the
rule would. With minimums the planner repairs the flow and the gap to the bound is reported.
The baselines: value-sorted greedy (the dearest pairs first) and urgency-first greedy (the
soonest-spoiling lots first, each to its dearest demands), each skipping a pair that would get
less than its lot's minimum, both followed by releasing the demands left below their minimum.
Times are the planner's own (building the instance is not counted); kilograms are compared with
the flow bound.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout, without installing the package

from produce_match.matching.planner import Edge, Instance, feasible, plan  # noqa: E402

SIZES = {"small": (2_000, 5_000), "large": (20_000, 50_000)}


def generate(
    n_lots: int,
    n_demands: int,
    per_lot: int,
    seed: int,
    *,
    minimums: bool,
    max_demand_kg: int = 22_000,
    lot_minimums: float = 0.0,
) -> tuple[Instance, dict[int, int]]:
    """An instance and each lot's days before spoiling (for the urgency-first baseline).

    `lot_minimums`: the share of lots with a minimum order (2-10 t)."""
    rng = np.random.default_rng(seed)
    lots_kg = rng.integers(1_000, 60_001, n_lots)
    prices = rng.integers(200_000, 2_000_001, n_lots)  # fen per tonne: 2-20 元/kg
    spoil = rng.integers(1, 60, n_lots)
    max_kg = rng.integers(2_000, max_demand_kg + 1, n_demands)
    share = rng.uniform(0.1, 0.6, n_demands) if minimums else np.zeros(n_demands)
    min_kg = np.maximum(np.ceil(max_kg * share).astype(np.int64), 0)
    # about `per_lot` distinct demands for each lot
    picks = rng.integers(0, n_demands, (n_lots, per_lot))
    codes = np.unique(np.arange(n_lots)[:, None] * n_demands + picks)
    lot_idx, dem_idx = np.divmod(codes, n_demands)
    lots = {i: int(kg) for i, kg in enumerate(lots_kg)}
    demands = {d: (int(min_kg[d]), int(max_kg[d])) for d in range(n_demands)}
    # drawn last: the rest of the instance is the same as without lot minimums
    has_min = rng.uniform(0, 1, n_lots) < lot_minimums
    lot_min_kg = rng.integers(2, 11, n_lots) * 1000
    lot_min = {i: int(lot_min_kg[i]) for i in np.nonzero(has_min)[0].tolist()}
    # the rule leaves out pairs where the lot's minimum is more than the demand takes
    arc_min = np.minimum(np.where(has_min, lot_min_kg, 0), lots_kg)
    fits = arc_min[lot_idx] <= max_kg[dem_idx]
    edges = [
        Edge(int(lot), int(d), int(prices[lot]))
        for lot, d in zip(lot_idx[fits].tolist(), dem_idx[fits].tolist(), strict=True)
    ]
    return Instance(lots, demands, edges, lot_min), {i: int(s) for i, s in enumerate(spoil)}


def _release_below_minimum(
    instance: Instance, alloc: dict[tuple[int, int], int]
) -> dict[tuple[int, int], int]:
    got: dict[int, int] = defaultdict(int)
    for (_, d), kg in alloc.items():
        got[d] += kg
    return {k: v for k, v in alloc.items() if got[k[1]] >= instance.demands[k[1]][0]}


def _greedy(instance: Instance, order: list[Edge]) -> dict[tuple[int, int], int]:
    left = dict(instance.lots)
    room = {d: hi for d, (_, hi) in instance.demands.items()}
    alloc: dict[tuple[int, int], int] = {}
    for e in order:
        kg = min(left[e.lot], room[e.demand])
        if kg > 0 and kg >= instance.arc_min(e.lot):
            alloc[(e.lot, e.demand)] = kg
            left[e.lot] -= kg
            room[e.demand] -= kg
    return _release_below_minimum(instance, alloc)


def greedy_by_value(instance: Instance) -> dict[tuple[int, int], int]:
    return _greedy(instance, sorted(instance.edges, key=lambda e: -e.price))


def greedy_by_urgency(instance: Instance, spoil: dict[int, int]) -> dict[tuple[int, int], int]:
    return _greedy(instance, sorted(instance.edges, key=lambda e: (spoil[e.lot], -e.price)))


def run(
    name: str,
    n_lots: int,
    n_demands: int,
    per_lot: int,
    seed: int,
    max_demand_kg: int,
    lot_minimums: float,
) -> None:
    variants = [(False, 0.0), (True, 0.0)] + ([(True, lot_minimums)] if lot_minimums else [])
    for minimums, lot_share in variants:
        started = time.perf_counter()
        instance, spoil = generate(
            n_lots,
            n_demands,
            per_lot,
            seed,
            minimums=minimums,
            max_demand_kg=max_demand_kg,
            lot_minimums=lot_share,
        )
        built = time.perf_counter() - started
        result = plan(instance, "tonnage")
        assert feasible(instance, result.allocations)
        bound = result.bound_kg
        label = f"{name} {n_lots:,} x {n_demands:,} ({len(instance.edges):,} pairs)"
        label += ", with minimums" if minimums else ", no minimums"
        if lot_share:
            label += f" and lot minimums ({len(instance.lot_min):,} lots)"
        print(f"\n{label}  [instance built in {built:.1f} s]")
        print(
            f"  planner        {result.seconds:7.2f} s  {result.total_kg:>14,} kg  "
            f"{100 * result.total_kg / bound:7.3f}% of bound  (bound {bound:,} kg, "
            f"{len(result.released)} demands released)"
        )
        for title, fn, fn_args in (
            ("greedy value", greedy_by_value, (instance,)),
            ("greedy urgency", greedy_by_urgency, (instance, spoil)),
        ):
            t0 = time.perf_counter()
            alloc = fn(*fn_args)
            seconds = time.perf_counter() - t0
            assert feasible(instance, alloc)
            kg = sum(alloc.values())
            print(
                f"  {title:<14} {seconds:7.2f} s  {kg:>14,} kg  {100 * kg / bound:7.3f}% of bound"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", choices=["small", "large", "all"], default="all")
    parser.add_argument("--per-lot", type=int, default=50)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument(
        "--demand",
        choices=["balanced", "scarce"],
        default="balanced",
        help="balanced: demands of 2-22 t (as much in all as the lots hold); "
        "scarce: 2-40 t (1.7 times as much: many demands are only partly served)",
    )
    parser.add_argument(
        "--lot-minimums",
        type=float,
        default=0.5,
        metavar="SHARE",
        help="the share of lots with a minimum order of 2-10 t in the third run (0: no third run)",
    )
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}")
    print("load average (1, 5, 15 min):", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    names = list(SIZES) if args.sizes == "all" else [args.sizes]
    random.seed(args.seed)
    for name in names:
        max_demand_kg = 22_000 if args.demand == "balanced" else 40_000
        run(name, *SIZES[name], args.per_lot, args.seed, max_demand_kg, args.lot_minimums)


if __name__ == "__main__":
    main()
