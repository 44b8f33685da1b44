"""The allocation planner: kilograms from lots to demands that rescue the most produce.

Pure: it takes plain numbers and returns plain numbers (the app builds the instance in
plan.py). The problem: choose x[l, d] >= 0 kg for every compatible pair so that every lot gives
at most what is left of it, every demand gets at most its maximum and either nothing or at
least its minimum; maximise the kilograms, then the money paid to villages (objective
"tonnage"), or the money first (objective "value").

Without minimums this is a min-cost flow, solved exactly by OR-Tools' SimpleMinCostFlow:
source -> lot (capacity: what is left) -> demand (compatible pairs) -> sink (capacity: the
demand's maximum), unit cost minus the price. "tonnage" uses `solve_max_flow_with_min_cost`
(the largest flow, and the most money among the largest); "value" adds a free source -> sink
arc so that flow goes only where it pays. Its kilograms are `bound_kg`: no plan with minimums
can do better (for "tonnage").

"Nothing or at least the minimum" makes the problem a mixed-integer one. The repair step keeps
the flow's answer where it already meets every minimum and changes only the demands below
theirs (each is topped up from what lots have left over, else released), then offers what is
left over to the demands with room; every step keeps every constraint, so the result is
always feasible, and `gap` says how far below the bound it ends.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from ortools.graph.python import min_cost_flow

OBJECTIVES = ("tonnage", "value")


@dataclass(frozen=True)
class Edge:
    """A compatible pair: lot `lot` may give demand `demand` at `price` (fen per tonne)."""

    lot: int
    demand: int
    price: int


@dataclass
class Instance:
    """Lots (kg left), demands (min and max kg) by id, and the compatible pairs."""

    lots: dict[int, int]
    demands: dict[int, tuple[int, int]]
    edges: list[Edge]


@dataclass
class Plan:
    #: (lot id, demand id) -> kg
    allocations: dict[tuple[int, int], int]
    total_kg: int
    #: fen (kg x price per tonne / 1000, rounded to the fen)
    total_value_fen: int
    bound_kg: int
    seconds: float
    #: demands the repair step released (their minimum could not be met)
    released: list[int] = field(default_factory=list)

    @property
    def gap(self) -> float:
        """How far below the flow bound: 0.0 is the bound itself."""
        return 0.0 if not self.bound_kg else (self.bound_kg - self.total_kg) / self.bound_kg


def _value_fen(allocations: dict[tuple[int, int], int], prices: dict[tuple[int, int], int]) -> int:
    return round(sum(kg * prices[key] for key, kg in allocations.items()) / 1000)


def relax(instance: Instance, objective: str = "tonnage") -> dict[tuple[int, int], int]:
    """The optimal flow without minimums: (lot, demand) -> kg (only the pairs that carry some)."""
    if objective not in OBJECTIVES:
        raise ValueError(objective)
    lot_ids = list(instance.lots)
    demand_ids = list(instance.demands)
    if not lot_ids or not demand_ids or not instance.edges:
        return {}
    lot_node = {lot_id: 1 + i for i, lot_id in enumerate(lot_ids)}
    base = 1 + len(lot_ids)
    demand_node = {d: base + i for i, d in enumerate(demand_ids)}
    sink = base + len(demand_ids)
    n_edges = len(instance.edges)
    tails = np.empty(n_edges, dtype=np.int32)
    heads = np.empty(n_edges, dtype=np.int32)
    caps = np.empty(n_edges, dtype=np.int64)
    costs = np.empty(n_edges, dtype=np.int64)
    supply_total = int(sum(instance.lots.values()))
    # the total cost must fit in 64 bits: absurd prices and quantities are compared more coarsely
    scale = 1
    top = max(e.price for e in instance.edges)
    while (top // scale) * max(supply_total, 1) > 2**60:
        scale *= 10
    for i, e in enumerate(instance.edges):
        tails[i] = lot_node[e.lot]
        heads[i] = demand_node[e.demand]
        caps[i] = min(instance.lots[e.lot], instance.demands[e.demand][1])
        costs[i] = -(e.price // scale)
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        np.zeros(len(lot_ids), dtype=np.int32),
        np.array([lot_node[i] for i in lot_ids], dtype=np.int32),
        np.array([instance.lots[i] for i in lot_ids], dtype=np.int64),
        np.zeros(len(lot_ids), dtype=np.int64),
    )
    first = flow.num_arcs()
    flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    flow.add_arcs_with_capacity_and_unit_cost(
        np.array([demand_node[d] for d in demand_ids], dtype=np.int32),
        np.full(len(demand_ids), sink, dtype=np.int32),
        np.array([instance.demands[d][1] for d in demand_ids], dtype=np.int64),
        np.zeros(len(demand_ids), dtype=np.int64),
    )
    flow.set_node_supply(0, supply_total)
    flow.set_node_supply(sink, -supply_total)
    if objective == "value":
        flow.add_arc_with_capacity_and_unit_cost(0, sink, supply_total, 0)
        status = flow.solve()
    else:
        status = flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed: {status}")
    flows = flow.flows(np.arange(first, first + n_edges, dtype=np.int32))
    carried = np.nonzero(flows)[0]
    return {(instance.edges[i].lot, instance.edges[i].demand): int(flows[i]) for i in carried}


def plan(instance: Instance, objective: str = "tonnage") -> Plan:
    """The allocation: the exact flow, repaired to respect every demand's minimum."""
    started = time.perf_counter()
    flow = relax(instance, objective)
    bound = sum(flow.values())
    allocations = repair(instance, flow)
    prices = {(e.lot, e.demand): e.price for e in instance.edges}
    released = sorted({d for (_, d) in flow} - {d for (_, d) in allocations})
    total = sum(allocations.values())
    return Plan(
        allocations=allocations,
        total_kg=total,
        total_value_fen=_value_fen(allocations, prices),
        bound_kg=bound,
        seconds=time.perf_counter() - started,
        released=released,
    )


def repair(instance: Instance, flow: dict[tuple[int, int], int]) -> dict[tuple[int, int], int]:
    """Make a flow respect the demands' minimums, keeping every other constraint.

    1. each demand below its minimum is topped up from what compatible lots have left over
       (highest price first); if that cannot reach the minimum, its allocation is released;
    2. what lots have left over goes to demands with room: first those already at or above
       their minimum, then demands with nothing whose minimum it can meet (highest price first).
    """
    alloc: dict[tuple[int, int], int] = {k: v for k, v in flow.items() if v > 0}
    got: dict[int, int] = defaultdict(int)
    used: dict[int, int] = defaultdict(int)
    for (lot, d), kg in alloc.items():
        got[d] += kg
        used[lot] += kg
    by_demand: dict[int, list[Edge]] = defaultdict(list)
    by_lot: dict[int, list[Edge]] = defaultdict(list)
    for e in instance.edges:
        by_demand[e.demand].append(e)
        by_lot[e.lot].append(e)
    for edges in (*by_demand.values(), *by_lot.values()):
        edges.sort(key=lambda e: (-e.price, e.lot, e.demand))

    def left(lot: int) -> int:
        return instance.lots[lot] - used[lot]

    def give(lot: int, d: int, kg: int) -> None:
        if kg <= 0:
            return
        alloc[(lot, d)] = alloc.get((lot, d), 0) + kg
        used[lot] += kg
        got[d] += kg

    def fill(d: int, target: int) -> bool:
        """Bring demand d up to `target` kg from leftovers, or change nothing and say no."""
        need = target - got[d]
        available = sum(max(0, left(e.lot)) for e in by_demand[d])
        if available < need:
            return False
        for e in by_demand[d]:
            if need <= 0:
                break
            kg = min(left(e.lot), need)
            give(e.lot, d, kg)
            need -= kg
        return True

    low = sorted(
        (d for d, kg in got.items() if 0 < kg < instance.demands[d][0]),
        key=lambda d: (instance.demands[d][0] - got[d], d),
    )
    for d in low:
        if fill(d, instance.demands[d][0]):
            continue
        for e in by_demand[d]:  # release it: its kilograms go back to the lots
            kg = alloc.pop((e.lot, d), 0)
            used[e.lot] -= kg
            got[d] -= kg
    # leftovers: first to demands already served, within their maximum
    for lot in instance.lots:
        for e in by_lot[lot]:
            if left(lot) <= 0:
                break
            lo, hi = instance.demands[e.demand]
            if got[e.demand] >= max(lo, 1):
                give(lot, e.demand, min(left(lot), hi - got[e.demand]))
    # then to demands with nothing, if their minimum can be met
    for d in sorted(instance.demands, key=lambda d: (instance.demands[d][0], d)):
        lo, hi = instance.demands[d]
        if got[d] == 0 and by_demand[d] and fill(d, max(lo, 1)):
            for e in by_demand[d]:
                give(e.lot, d, min(left(e.lot), hi - got[d]))
    return {k: v for k, v in alloc.items() if v > 0}


def feasible(instance: Instance, allocations: dict[tuple[int, int], int]) -> bool:
    """Does an allocation keep every constraint (for tests and the benchmark)?"""
    pairs = {(e.lot, e.demand) for e in instance.edges}
    given: dict[int, int] = defaultdict(int)
    got: dict[int, int] = defaultdict(int)
    for (lot, d), kg in allocations.items():
        if (lot, d) not in pairs or kg < 0:
            return False
        given[lot] += kg
        got[d] += kg
    if any(kg > instance.lots[lot] for lot, kg in given.items()):
        return False
    return all(
        kg == 0 or instance.demands[d][0] <= kg <= instance.demands[d][1] for d, kg in got.items()
    )
