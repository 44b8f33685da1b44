"""The allocation planner: kilograms from lots to demands that rescue the most produce.

Pure: it takes plain numbers and returns plain numbers (the app builds the instance in
plan.py). The problem: choose x[l, d] >= 0 kg for every compatible pair so that every lot gives
at most what is left of it, every demand gets at most its maximum and either nothing or at
least its minimum, and every allocation is either nothing or at least its lot's minimum order
(or all that is left of the lot, when that is less: `Instance.arc_min`); maximise the
kilograms, then the money paid to villages (objective "tonnage"), or the money first
(objective "value").

Without minimums this is a min-cost flow, solved exactly by OR-Tools' SimpleMinCostFlow:
source -> lot (capacity: what is left) -> demand (compatible pairs) -> sink (capacity: the
demand's maximum), unit cost minus the price. "tonnage" uses `solve_max_flow_with_min_cost`
(the largest flow, and the most money among the largest); "value" adds a free source -> sink
arc so that flow goes only where it pays. Its kilograms are `bound_kg`: no plan with minimums
can do better (for "tonnage").

"Nothing or at least the minimum" makes the problem a mixed-integer one. The flow splits lots
freely, often below their minimum; so when lots have one, a second flow first reshapes it
(`kept_pairs`): each lot with a minimum keeps the first flow's pairs, the largest first, as many
as its kilograms and the demands' maximums allow, each with the lot's minimum as a lower bound,
and gives along no other pair; the other lots stay free. That flow has no allocation below its
lot's minimum, and it is the one that maximises the money (so for "tonnage" on big instances the
first is only a largest flow, `largest_flow`, found much faster). The repair step then keeps the
flow's answer where it already meets every minimum. It first settles any allocation below its
lot's minimum (raised to it from the lot's leftover, within the demand's maximum, or removed),
then the demands below theirs (each is topped up from what lots have left over, else released),
then offers what is left over to the demands with room; no step opens an allocation below its
lot's minimum, and every step keeps every other constraint, so the result is always feasible,
and `gap` says how far below the bound (the first flow) it ends.

The lot's minimum is kept simple: an allocation may take all that is left of the lot (as the
order system allows) when that is less than the minimum, but a plan does not count on orders
being placed one after another, so the last few kilograms of a lot that others have partly
taken are not offered below its minimum.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from ortools.graph.python import max_flow, min_cost_flow

OBJECTIVES = ("tonnage", "value")
#: pairs above which, with lots' minimums, the first flow of a "tonnage" plan is only a largest
#: flow: seconds faster than the min-cost flow on a million pairs, as good a guide there (the
#: benchmark), but a worse one for the money on small instances, where the min-cost flow is cheap
LARGEST_FLOW_ABOVE = 200_000


@dataclass(frozen=True)
class Edge:
    """A compatible pair: lot `lot` may give demand `demand` at `price` (fen per tonne)."""

    lot: int
    demand: int
    price: int


@dataclass
class Instance:
    """Lots (kg left), demands (min and max kg) by id, the compatible pairs, and the lots'
    minimum orders (kg; lots without one are simply not in `lot_min`)."""

    lots: dict[int, int]
    demands: dict[int, tuple[int, int]]
    edges: list[Edge]
    lot_min: dict[int, int] = field(default_factory=dict)

    def arc_min(self, lot: int) -> int:
        """The fewest kg an allocation from `lot` may carry, unless it carries none: the lot's
        minimum order, or all that is left of the lot when that is less."""
        return min(self.lot_min.get(lot, 0), self.lots[lot])


@dataclass
class Plan:
    #: (lot id, demand id) -> kg
    allocations: dict[tuple[int, int], int]
    total_kg: int
    #: fen (kg x price per tonne / 1000, rounded to the fen)
    total_value_fen: int
    bound_kg: int
    seconds: float
    #: demands the flow served and the plan does not (the repair step released them: their
    #: minimum could not be met, or their only pairs were below their lots' minimums)
    released: list[int] = field(default_factory=list)

    @property
    def gap(self) -> float:
        """How far below the flow bound: 0.0 is the bound itself."""
        return 0.0 if not self.bound_kg else (self.bound_kg - self.total_kg) / self.bound_kg


def _value_fen(allocations: dict[tuple[int, int], int], prices: dict[tuple[int, int], int]) -> int:
    return round(sum(kg * prices[key] for key, kg in allocations.items()) / 1000)


@dataclass
class _Network:
    """The flow network as arrays: node 0 the source, then the lots, the demands, the sink."""

    lot_cap: np.ndarray
    demand_cap: np.ndarray
    #: the usable pairs: indexes into instance.edges, their lot and demand nodes, and prices
    arcs: np.ndarray
    tails: np.ndarray
    heads: np.ndarray
    prices: np.ndarray
    #: lower bounds, placed beforehand, outside the network (which carries the rest)
    placed: dict[tuple[int, int], int]

    @property
    def sink(self) -> int:
        return 1 + len(self.lot_cap) + len(self.demand_cap)

    def pair_caps(self) -> np.ndarray:
        lots = self.tails - 1
        demands = self.heads - 1 - len(self.lot_cap)
        return np.minimum(self.lot_cap[lots], self.demand_cap[demands])

    def result(self, instance: Instance, flows: np.ndarray) -> dict[tuple[int, int], int]:
        """(lot, demand) -> kg: what the network carries on each pair, plus the lower bounds."""
        result = dict(self.placed)
        for i in np.nonzero(flows)[0].tolist():
            e = instance.edges[int(self.arcs[i])]
            result[(e.lot, e.demand)] = result.get((e.lot, e.demand), 0) + int(flows[i])
        return result


def _network(instance: Instance, keep: dict[tuple[int, int], int] | None) -> _Network:
    lot_ids = list(instance.lots)
    demand_ids = list(instance.demands)
    lot_pos = {lot_id: i for i, lot_id in enumerate(lot_ids)}
    demand_pos = {d: i for i, d in enumerate(demand_ids)}
    lot_cap = np.array([instance.lots[i] for i in lot_ids], dtype=np.int64)
    arc_min = np.array([instance.arc_min(i) for i in lot_ids], dtype=np.int64)
    demand_cap = np.array([instance.demands[d][1] for d in demand_ids], dtype=np.int64)
    n = len(instance.edges)
    tail = np.fromiter((lot_pos[e.lot] for e in instance.edges), dtype=np.int64, count=n)
    head = np.fromiter((demand_pos[e.demand] for e in instance.edges), dtype=np.int64, count=n)
    price = np.fromiter((e.price for e in instance.edges), dtype=np.int64, count=n)
    usable = arc_min[tail] <= demand_cap[head]  # else no plan can use the pair
    placed = {k: kg for k, kg in (keep or {}).items() if kg > 0}
    if keep is not None:
        usable &= arc_min[tail] <= 1  # the free lots (a minimum of 1 kg constrains nothing)
    if placed:
        kept = np.array([(lot_pos[lot], demand_pos[d], kg) for (lot, d), kg in placed.items()])
        np.subtract.at(lot_cap, kept[:, 0], kept[:, 2])
        np.subtract.at(demand_cap, kept[:, 1], kept[:, 2])
        codes = tail * len(demand_ids) + head
        usable |= np.isin(codes, kept[:, 0] * len(demand_ids) + kept[:, 1])
    arcs = np.nonzero(usable)[0]
    return _Network(
        lot_cap=lot_cap,
        demand_cap=demand_cap,
        arcs=arcs,
        tails=(1 + tail[arcs]).astype(np.int32),
        heads=(1 + len(lot_ids) + head[arcs]).astype(np.int32),
        prices=price[arcs],
        placed=placed,
    )


def relax(
    instance: Instance,
    objective: str = "tonnage",
    keep: dict[tuple[int, int], int] | None = None,
) -> dict[tuple[int, int], int]:
    """The optimal flow without minimums: (lot, demand) -> kg (only the pairs that carry some).

    Pairs that no plan can use (the lot's minimum above the demand's maximum) carry nothing, so
    the flow stays a bound for plans that respect minimums, and a tighter one.

    With `keep` ((lot, demand) -> kg), the flow is restricted: a lot with a minimum order (of
    more than 1 kg) gives only to its pairs in `keep`, each at least the kg given there (which
    must fit in the lot and the demand together); the other lots are free.
    """
    if objective not in OBJECTIVES:
        raise ValueError(objective)
    if not instance.lots or not instance.demands or not instance.edges:
        return {}
    net = _network(instance, keep)
    n_lots, n_demands, sink = len(net.lot_cap), len(net.demand_cap), net.sink
    supply_total = int(net.lot_cap.sum())
    # costs divided by the prices' greatest common divisor (the same optimum, fewer scaling
    # rounds); the total cost must fit in 64 bits: absurd prices and quantities are compared
    # more coarsely
    scale = max(1, int(np.gcd.reduce(net.prices))) if len(net.prices) else 1
    top = int(net.prices.max()) if len(net.prices) else 0
    while (top // scale) * max(supply_total, 1) > 2**60:
        scale *= 10
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        np.zeros(n_lots, dtype=np.int32),
        np.arange(1, 1 + n_lots, dtype=np.int32),
        net.lot_cap,
        np.zeros(n_lots, dtype=np.int64),
    )
    first = flow.num_arcs()
    flow.add_arcs_with_capacity_and_unit_cost(
        net.tails, net.heads, net.pair_caps(), -(net.prices // scale)
    )
    flow.add_arcs_with_capacity_and_unit_cost(
        np.arange(1 + n_lots, sink, dtype=np.int32),
        np.full(n_demands, sink, dtype=np.int32),
        net.demand_cap,
        np.zeros(n_demands, dtype=np.int64),
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
    return net.result(instance, flow.flows(np.arange(first, first + len(net.arcs), dtype=np.int32)))


def largest_flow(instance: Instance) -> dict[tuple[int, int], int]:
    """A largest flow, whatever its money (OR-Tools' SimpleMaxFlow: much faster than a min-cost
    flow): as many kilograms as `relax(instance, "tonnage")`, so the same bound."""
    if not instance.lots or not instance.demands or not instance.edges:
        return {}
    net = _network(instance, None)
    n_lots, n_demands, sink = len(net.lot_cap), len(net.demand_cap), net.sink
    flow = max_flow.SimpleMaxFlow()
    flow.add_arcs_with_capacity(
        np.zeros(n_lots, dtype=np.int32), np.arange(1, 1 + n_lots, dtype=np.int32), net.lot_cap
    )
    first = flow.num_arcs()
    flow.add_arcs_with_capacity(net.tails, net.heads, net.pair_caps())
    flow.add_arcs_with_capacity(
        np.arange(1 + n_lots, sink, dtype=np.int32),
        np.full(n_demands, sink, dtype=np.int32),
        net.demand_cap,
    )
    status = flow.solve(0, sink)
    if status != flow.OPTIMAL:
        raise RuntimeError(f"max flow failed: {status}")
    return net.result(instance, flow.flows(np.arange(first, first + len(net.arcs), dtype=np.int32)))


def plan(instance: Instance, objective: str = "tonnage") -> Plan:
    """The allocation: the exact flow, repaired to respect every minimum.

    With lots' minimums, a second flow reshapes the first (`kept_pairs`): lots with a minimum
    give only along the pairs kept for them, each at least the minimum, so that the repair finds
    no allocation below a lot's minimum to settle. The bound is the first flow, which for
    "tonnage" on big instances is then only a largest flow (`largest_flow`, `LARGEST_FLOW_ABOVE`):
    the second one has the money.
    """
    started = time.perf_counter()
    has_minimums = any(instance.arc_min(lot) > 1 for lot in instance.lots)
    if has_minimums and objective == "tonnage" and len(instance.edges) > LARGEST_FLOW_ABOVE:
        # the second flow gives the money: on big instances the first is only a largest one
        flow = largest_flow(instance)
    else:
        flow = relax(instance, objective)
    bound = sum(flow.values())
    if has_minimums:
        flow = relax(instance, objective, keep=kept_pairs(instance, flow))
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


def kept_pairs(instance: Instance, flow: dict[tuple[int, int], int]) -> dict[tuple[int, int], int]:
    """The pairs a lot with a minimum keeps for the second flow, each with its lot's minimum as
    a lower bound: the flow's own pairs, the largest first, while the lot and the demand have
    room for all the minimums kept (so that the second flow always has a solution)."""
    kept: dict[tuple[int, int], int] = {}
    given: dict[int, int] = defaultdict(int)
    placed: dict[int, int] = defaultdict(int)
    for (lot, d), _kg in sorted(flow.items(), key=lambda item: (-item[1], item[0])):
        least = instance.arc_min(lot)
        if least <= 1:
            continue
        if given[lot] + least <= instance.lots[lot] and placed[d] + least <= instance.demands[d][1]:
            kept[(lot, d)] = least
            given[lot] += least
            placed[d] += least
    return kept


def repair(instance: Instance, flow: dict[tuple[int, int], int]) -> dict[tuple[int, int], int]:
    """Make a flow respect the minimums (the lots' and the demands'), keeping every other
    constraint.

    1. allocations below their lot's minimum (`Instance.arc_min`): for each lot, they are all
       taken back, then given the lot's minimum again, the nearest to it first, while what the
       lot has left and the demand's maximum allow; the others stay removed (their demand may
       now be below its own minimum: step 2);
    2. each demand below its minimum is topped up from what compatible lots have left over
       (highest price first); if that cannot reach the minimum, its allocation is released;
    3. what lots have left over goes to demands with room: first those already at or above
       their minimum, then demands with nothing whose minimum it can meet (highest price first).
    Only `give` adds kilograms, and only as much as `offer` allows: within what the lot has
    left and the demand's maximum, and a new allocation at least its lot's minimum (more than
    asked for, when that is what it takes, never less).
    """
    alloc: dict[tuple[int, int], int] = {k: v for k, v in flow.items() if v > 0}
    got: dict[int, int] = defaultdict(int)
    used: dict[int, int] = defaultdict(int)
    for (lot, d), kg in alloc.items():
        got[d] += kg
        used[lot] += kg
    by_demand: dict[int, list[Edge]] = defaultdict(list)  # highest price first
    by_lot: dict[int, list[Edge]] = defaultdict(list)  # highest price first
    for e in sorted(instance.edges, key=lambda e: (-e.price, e.lot, e.demand)):
        by_demand[e.demand].append(e)
        by_lot[e.lot].append(e)
    arc_min = {lot: instance.arc_min(lot) for lot in instance.lots}

    def left(lot: int) -> int:
        return instance.lots[lot] - used[lot]

    def offer(lot: int, d: int, want: int) -> int:
        """How much `lot` may give `d` now, as near to `want` as the constraints allow."""
        room = min(left(lot), instance.demands[d][1] - got[d])
        kg = min(room, want)
        if (lot, d) not in alloc and kg < arc_min[lot]:
            kg = arc_min[lot] if arc_min[lot] <= room else 0
        return max(kg, 0)

    def give(lot: int, d: int, kg: int) -> None:
        if kg <= 0:
            return
        alloc[(lot, d)] = alloc.get((lot, d), 0) + kg
        used[lot] += kg
        got[d] += kg

    def take(lot: int, d: int, kg: int) -> None:
        rest = alloc.pop((lot, d), 0) - kg
        if rest > 0:
            alloc[(lot, d)] = rest
        used[lot] -= kg
        got[d] -= kg

    def fill(d: int, target: int) -> bool:
        """Bring demand d up to `target` kg from leftovers, or change nothing and say no."""
        given: list[tuple[int, int]] = []
        for e in by_demand[d]:
            if got[d] >= target:
                break
            kg = offer(e.lot, d, target - got[d])
            give(e.lot, d, kg)
            given.append((e.lot, kg))
        if got[d] >= target:
            return True
        for lot, kg in given:
            take(lot, d, kg)
        return False

    # 1. allocations below their lot's minimum
    short: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for (lot, d), kg in alloc.items():
        if kg < arc_min[lot]:
            short[lot].append((arc_min[lot] - kg, d))
    for lot, deficits in short.items():
        deficits.sort()
        for _, d in deficits:
            take(lot, d, alloc[(lot, d)])
        for _, d in deficits:
            give(lot, d, offer(lot, d, arc_min[lot]))
    # 2. demands below their minimum
    low = sorted(
        (d for d, kg in got.items() if 0 < kg < instance.demands[d][0]),
        key=lambda d: (instance.demands[d][0] - got[d], d),
    )
    for d in low:
        if fill(d, instance.demands[d][0]):
            continue
        for e in by_demand[d]:  # release it: its kilograms go back to the lots
            take(e.lot, d, alloc.get((e.lot, d), 0))
    # 3. leftovers: first to demands already served, within their maximum
    for lot in instance.lots:
        for e in by_lot[lot]:
            if left(lot) <= 0:
                break
            lo, hi = instance.demands[e.demand]
            if got[e.demand] >= max(lo, 1):
                give(lot, e.demand, offer(lot, e.demand, hi))
    # then to demands with nothing, if their minimum can be met
    for d in sorted(instance.demands, key=lambda d: (instance.demands[d][0], d)):
        lo, hi = instance.demands[d]
        if got[d] == 0 and by_demand[d] and fill(d, max(lo, 1)):
            for e in by_demand[d]:
                give(e.lot, d, offer(e.lot, d, hi))
    return dict(alloc)


def feasible(instance: Instance, allocations: dict[tuple[int, int], int]) -> bool:
    """Does an allocation keep every constraint (for tests and the benchmark)?"""
    pairs = {(e.lot, e.demand) for e in instance.edges}
    given: dict[int, int] = defaultdict(int)
    got: dict[int, int] = defaultdict(int)
    for (lot, d), kg in allocations.items():
        if (lot, d) not in pairs or kg < 0:
            return False
        if 0 < kg < instance.arc_min(lot):
            return False
        given[lot] += kg
        got[d] += kg
    if any(kg > instance.lots[lot] for lot, kg in given.items()):
        return False
    return all(
        kg == 0 or instance.demands[d][0] <= kg <= instance.demands[d][1] for d, kg in got.items()
    )
