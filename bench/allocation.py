"""Benchmark: the allocation planner against its flow bound and two greedy baselines.

    .venv/bin/python bench/allocation.py                  # 2,000 x 5,000 and 20,000 x 50,000
    .venv/bin/python bench/allocation.py --sizes small    # only 2,000 lots x 5,000 demands
    .venv/bin/python bench/allocation.py --per-lot 50 --seed 7
    .venv/bin/python bench/allocation.py --demand scarce   # more demand than produce
    .venv/bin/python bench/allocation.py --lot-minimums 0.8  # 80% of lots with a minimum order
    .venv/bin/python bench/allocation.py --sizes large --lot-minimums 0  # the issue's row

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
the flow bound. Each planner line is followed by its phases (the instance as arrays; the network
and the solver; the repair; the totals) and its CPU time. Without minimums the formulation the
planner had before (a cost on every pair, one min-cost flow, the repair run in full, though
today's repair, a little faster) solves the same instance too, and the ratio of the times is
printed, with a check that both give the same kilograms and money (`--no-old`: skip it).
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
from ortools.graph.python import min_cost_flow

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout, without installing the package

from produce_match.matching.planner import (  # noqa: E402
    Edge,
    Instance,
    feasible,
    plan,
    repair,
)

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


def old_plan(instance: Instance) -> tuple[dict[tuple[int, int], int], int, dict[str, float]]:
    """The planner as it was, without minimums: the network built pair by pair, every pair
    costing minus its price, `solve_max_flow_with_min_cost`, then the repair in full.
    (allocations, money in fen, seconds by phase)."""
    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    lot_ids, demand_ids = list(instance.lots), list(instance.demands)
    lot_pos = {lot: i for i, lot in enumerate(lot_ids)}
    demand_pos = {d: i for i, d in enumerate(demand_ids)}
    lot_cap = np.array([instance.lots[i] for i in lot_ids], dtype=np.int64)
    demand_cap = np.array([instance.demands[d][1] for d in demand_ids], dtype=np.int64)
    n = len(instance.edges)
    tail = np.fromiter((lot_pos[e.lot] for e in instance.edges), dtype=np.int64, count=n)
    head = np.fromiter((demand_pos[e.demand] for e in instance.edges), dtype=np.int64, count=n)
    price = np.fromiter((e.price for e in instance.edges), dtype=np.int64, count=n)
    n_lots, n_demands = len(lot_ids), len(demand_ids)
    sink, supply = 1 + n_lots + n_demands, int(lot_cap.sum())
    scale = max(1, int(np.gcd.reduce(price)))
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        np.zeros(n_lots, dtype=np.int32),
        np.arange(1, 1 + n_lots, dtype=np.int32),
        lot_cap,
        np.zeros(n_lots, dtype=np.int64),
    )
    first = flow.num_arcs()
    flow.add_arcs_with_capacity_and_unit_cost(
        (1 + tail).astype(np.int32),
        (1 + n_lots + head).astype(np.int32),
        np.minimum(lot_cap[tail], demand_cap[head]),
        -(price // scale),
    )
    flow.add_arcs_with_capacity_and_unit_cost(
        np.arange(1 + n_lots, sink, dtype=np.int32),
        np.full(n_demands, sink, dtype=np.int32),
        demand_cap,
        np.zeros(n_demands, dtype=np.int64),
    )
    flow.set_node_supply(0, supply)
    flow.set_node_supply(sink, -supply)
    phases["arrays"] = time.perf_counter() - t0
    assert flow.solve_max_flow_with_min_cost() == flow.OPTIMAL
    phases["solver"] = time.perf_counter() - t0 - sum(phases.values())
    flows = flow.flows(np.arange(first, first + n, dtype=np.int32))
    result: dict[tuple[int, int], int] = {}
    for i in np.nonzero(flows)[0].tolist():
        e = instance.edges[i]
        result[(e.lot, e.demand)] = result.get((e.lot, e.demand), 0) + int(flows[i])
    phases["arrays"] += time.perf_counter() - t0 - sum(phases.values())
    allocations = repair(instance, result)
    phases["repair"] = time.perf_counter() - t0 - sum(phases.values())
    prices = {(e.lot, e.demand): e.price for e in instance.edges}
    value = round(sum(kg * prices[key] for key, kg in allocations.items()) / 1000)
    phases["results"] = time.perf_counter() - t0 - sum(phases.values())
    return allocations, value, phases


def _phases(phases: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in phases.items())


def run(
    name: str,
    n_lots: int,
    n_demands: int,
    per_lot: int,
    seed: int,
    max_demand_kg: int,
    lot_minimums: float,
    old: bool = True,
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
        cpu = time.process_time()
        result = plan(instance, "tonnage")
        cpu = time.process_time() - cpu
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
        print(f"    phases: {_phases(result.phases)}; CPU {cpu:.2f} s")
        if old and not minimums:
            cpu_old = time.process_time()
            t0 = time.perf_counter()
            allocations, value, phases = old_plan(instance)
            seconds, cpu_old = time.perf_counter() - t0, time.process_time() - cpu_old
            same = (sum(allocations.values()), value) == (result.total_kg, result.total_value_fen)
            assert same, "the planner and the formulation before differ"
            print(
                f"  planner before {seconds:7.2f} s  {sum(allocations.values()):>14,} kg  "
                f"(same kilograms and money)  new/old: {result.seconds / seconds:.2f} "
                f"(CPU {cpu:.2f} / {cpu_old:.2f} s = {cpu / cpu_old:.2f})"
            )
            print(f"    phases: {_phases(phases)}")
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
    parser.add_argument(
        "--no-old",
        action="store_true",
        help="do not run the formulation before (without minimums) for the ratio",
    )
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}")
    print("load average (1, 5, 15 min):", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    names = list(SIZES) if args.sizes == "all" else [args.sizes]
    random.seed(args.seed)
    for name in names:
        max_demand_kg = 22_000 if args.demand == "balanced" else 40_000
        run(
            name,
            *SIZES[name],
            args.per_lot,
            args.seed,
            max_demand_kg,
            args.lot_minimums,
            old=not args.no_old,
        )


if __name__ == "__main__":
    main()
