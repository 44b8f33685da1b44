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

When every lot has one price (as in the app) and there are no minimums, the same optimum is
found much faster (`relax`): the money then depends only on how much each lot gives, and those
amounts form a polymatroid, on which giving from the dearest lots first is optimal. So a max
flow comes first; where every max flow agrees (outside the part of the network its source still
reaches) it stands; in the rest, the lots that can all give everything at once do, and the
cheapest give one by one, by augmenting max flows (`_dearest_first`), or, where that would take
more than a few, a min-cost flow with the lots' price ranks as costs decides. With minimums the
plan keeps the per-pair formulation, whose flow it repairs.

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
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import attrgetter

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
    #: seconds spent in each phase: "arrays" (the instance as arrays), "flow" (the network and
    #: the solver), "repair", "results" (totals)
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        """How far below the flow bound: 0.0 is the bound itself."""
        return 0.0 if not self.bound_kg else (self.bound_kg - self.total_kg) / self.bound_kg


@dataclass
class _Arrays:
    """The instance as arrays, built once per plan: lots and demands by position, and each
    pair's lot and demand positions and price."""

    lot_ids: np.ndarray
    lot_cap: np.ndarray
    arc_min: np.ndarray
    demand_ids: np.ndarray
    demand_min: np.ndarray
    demand_max: np.ndarray
    tail: np.ndarray
    head: np.ndarray
    price: np.ndarray

    @classmethod
    def of(cls, instance: Instance) -> _Arrays:
        n_lots, n_demands, n = len(instance.lots), len(instance.demands), len(instance.edges)
        lot_ids = np.fromiter(instance.lots, dtype=np.int64, count=n_lots)
        lot_cap = np.fromiter(instance.lots.values(), dtype=np.int64, count=n_lots)
        lot_min = np.fromiter(
            (instance.lot_min.get(lot, 0) for lot in instance.lots), dtype=np.int64, count=n_lots
        )
        demand_ids = np.fromiter(instance.demands, dtype=np.int64, count=n_demands)
        bounds = np.fromiter(
            (kg for lo_hi in instance.demands.values() for kg in lo_hi),
            dtype=np.int64,
            count=2 * n_demands,
        ).reshape(n_demands, 2)
        edge_lots = np.fromiter(map(attrgetter("lot"), instance.edges), dtype=np.int64, count=n)
        edge_demands = np.fromiter(
            map(attrgetter("demand"), instance.edges), dtype=np.int64, count=n
        )
        return cls(
            lot_ids=lot_ids,
            lot_cap=lot_cap,
            arc_min=np.minimum(lot_min, lot_cap),
            demand_ids=demand_ids,
            demand_min=bounds[:, 0],
            demand_max=bounds[:, 1],
            tail=_positions(lot_ids, edge_lots),
            head=_positions(demand_ids, edge_demands),
            price=np.fromiter(map(attrgetter("price"), instance.edges), dtype=np.int64, count=n),
        )

    def pair_positions(self, pairs: Iterable[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        keys = np.array(list(pairs), dtype=np.int64).reshape(-1, 2)
        return _positions(self.lot_ids, keys[:, 0]), _positions(self.demand_ids, keys[:, 1])

    def prices_of(self, pairs: list[tuple[int, int]]) -> list[int]:
        """The price of each pair (which must be a compatible pair)."""
        if not pairs:
            return []
        lots, demands = self.pair_positions(pairs)
        codes = self.tail * len(self.demand_ids) + self.head
        order = np.argsort(codes, kind="stable")
        found = np.searchsorted(codes[order], lots * len(self.demand_ids) + demands)
        return self.price[order[found]].tolist()


def _positions(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The position in `ids` (distinct) of each of `wanted` (KeyError for one not there)."""
    if len(ids) and len(wanted) and ids.min() >= 0 and ids.max() < 4 * len(ids) + 1024:
        # small ids (database keys): a table, as fast as indexing
        table = np.full(int(ids.max()) + 1, -1, dtype=np.int64)
        table[ids] = np.arange(len(ids))
        inside = (wanted >= 0) & (wanted < len(table))
        found = table[np.where(inside, wanted, 0)]
        if not inside.all() or (found < 0).any():
            raise KeyError("a pair names a lot or demand that is not in the instance")
        return found
    order = np.argsort(ids, kind="stable")
    found = np.searchsorted(ids[order], wanted)
    found = np.minimum(found, max(len(ids) - 1, 0))
    if len(wanted) and (not len(ids) or not np.array_equal(ids[order][found], wanted)):
        raise KeyError("a pair names a lot or demand that is not in the instance")
    return order[found] if len(ids) else found


@dataclass
class _Network:
    """The flow network as arrays: node 0 the source, then the lots, the demands, the sink."""

    arrays: _Arrays
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

    def lot_prices(self) -> np.ndarray | None:
        """Each lot's price, when every usable pair of a lot has the same one (as in the app,
        where the price is the lot's); else None."""
        prices = np.zeros(len(self.lot_cap), dtype=np.int64)
        prices[self.tails - 1] = self.prices
        return prices if np.array_equal(prices[self.tails - 1], self.prices) else None

    def result(self, flows: np.ndarray) -> dict[tuple[int, int], int]:
        """(lot, demand) -> kg: what the network carries on each pair, plus the lower bounds."""
        result = dict(self.placed)
        carrying = np.nonzero(flows)[0]
        arcs = self.arcs[carrying]
        lots = self.arrays.lot_ids[self.arrays.tail[arcs]].tolist()
        demands = self.arrays.demand_ids[self.arrays.head[arcs]].tolist()
        for lot, d, kg in zip(lots, demands, flows[carrying].tolist(), strict=True):
            result[(lot, d)] = result.get((lot, d), 0) + kg
        return result


def _network(
    instance: Instance, keep: dict[tuple[int, int], int] | None, arrays: _Arrays | None = None
) -> _Network:
    a = arrays if arrays is not None else _Arrays.of(instance)
    lot_cap = a.lot_cap.copy()
    demand_cap = a.demand_max.copy()
    tail, head = a.tail, a.head
    usable = a.arc_min[tail] <= demand_cap[head]  # else no plan can use the pair
    placed = {k: kg for k, kg in (keep or {}).items() if kg > 0}
    if keep is not None:
        usable &= a.arc_min[tail] <= 1  # the free lots (a minimum of 1 kg constrains nothing)
    if placed:
        kept_lots, kept_demands = a.pair_positions(placed)
        kept_kg = np.fromiter(placed.values(), dtype=np.int64, count=len(placed))
        np.subtract.at(lot_cap, kept_lots, kept_kg)
        np.subtract.at(demand_cap, kept_demands, kept_kg)
        codes = tail * len(demand_cap) + head
        usable |= np.isin(codes, kept_lots * len(demand_cap) + kept_demands)
    arcs = np.nonzero(usable)[0]
    return _Network(
        arrays=a,
        lot_cap=lot_cap,
        demand_cap=demand_cap,
        arcs=arcs,
        tails=(1 + tail[arcs]).astype(np.int32),
        heads=(1 + len(lot_cap) + head[arcs]).astype(np.int32),
        prices=a.price[arcs],
        placed=placed,
    )


def _ranks(prices: np.ndarray) -> np.ndarray:
    """Small integers in the same order as `prices`, with the same signs: 1, 2, ... for the
    positive prices from the cheapest, 0 for 0, -1, -2, ... for the negative ones."""
    values, inverse = np.unique(prices, return_inverse=True)
    below, zero = int(np.count_nonzero(values < 0)), int(np.count_nonzero(values == 0))
    ranks = np.arange(len(values), dtype=np.int64) - below
    ranks[values > 0] += 1 - zero
    return ranks[inverse.reshape(-1)]


def _cost_scale(costs: np.ndarray, supply_total: int) -> int:
    """The divisor of the costs that keeps the total cost in 64 bits: the costs' greatest
    common divisor (the same optimum, fewer scaling rounds), times 10 as long as needed (absurd
    prices and quantities are then compared more coarsely)."""
    if not len(costs):
        return 1
    scale = max(1, int(np.gcd.reduce(np.abs(costs))))
    top = int(np.abs(costs).max())
    while (top // scale) * max(supply_total, 1) > 2**60:
        scale *= 10
    return scale


def _min_cost_flow(
    net: _Network,
    objective: str,
    lot_costs: np.ndarray | None,
    lot_cap: np.ndarray | None = None,
    arcs: np.ndarray | None = None,
    supply: int | None = None,
) -> np.ndarray:
    """The flow on each of `arcs` (default: all the network's pairs) of the min-cost flow on
    those pairs, with `lot_cap` (default: the network's); costs on the lots' arcs (`lot_costs`,
    per lot) or else on the pairs (minus their prices). `supply`: exactly this much flow (it
    must be feasible); else the largest flow ("tonnage") or the cheapest ("value")."""
    n_lots, n_demands, sink = len(net.lot_cap), len(net.demand_cap), net.sink
    lot_cap = net.lot_cap if lot_cap is None else lot_cap
    tails, heads = (net.tails, net.heads) if arcs is None else (net.tails[arcs], net.heads[arcs])
    supply_total = int(lot_cap.sum())
    costs = lot_costs if lot_costs is not None else net.prices
    scale = _cost_scale(costs, supply_total)
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        np.zeros(n_lots, dtype=np.int32),
        np.arange(1, 1 + n_lots, dtype=np.int32),
        lot_cap,
        np.zeros(n_lots, dtype=np.int64) if lot_costs is None else -(lot_costs // scale),
    )
    first = flow.num_arcs()
    caps = np.minimum(lot_cap[tails - 1], net.demand_cap[heads - 1 - n_lots])
    if lot_costs is None:
        pair_costs = -(net.prices // scale) if arcs is None else -(net.prices[arcs] // scale)
    else:
        pair_costs = np.zeros(len(tails), dtype=np.int64)
    flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, pair_costs)
    flow.add_arcs_with_capacity_and_unit_cost(
        np.arange(1 + n_lots, sink, dtype=np.int32),
        np.full(n_demands, sink, dtype=np.int32),
        net.demand_cap,
        np.zeros(n_demands, dtype=np.int64),
    )
    if supply is not None:
        flow.set_node_supply(0, supply)
        flow.set_node_supply(sink, -supply)
        status = flow.solve()
    else:
        flow.set_node_supply(0, supply_total)
        flow.set_node_supply(sink, -supply_total)
        if objective == "value":
            flow.add_arc_with_capacity_and_unit_cost(0, sink, supply_total, 0)
            status = flow.solve()
        else:
            status = flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed: {status}")
    return flow.flows(np.arange(first, first + len(tails), dtype=np.int32))


def _max_flow(net: _Network) -> tuple[max_flow.SimpleMaxFlow, np.ndarray]:
    """A largest flow of the network (OR-Tools' SimpleMaxFlow) and its flow on each pair."""
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
    return flow, flow.flows(np.arange(first, first + len(net.arcs), dtype=np.int32))


def _largest_cheapest(net: _Network, lot_costs: np.ndarray) -> np.ndarray:
    """The largest flow with the least cost when the costs are the lots' own: a max flow
    first, then a min-cost flow only where the max flows differ.

    In the max flow's residual network, the nodes the source still reaches (R) are the same
    for every max flow: lots outside R give all they have in every max flow, pairs from R to
    the rest are full and pairs into R from the rest empty, and the demands in R are full.
    With costs on the lots alone, how the lots outside R share their kilograms costs nothing;
    so the max flow stands there, and only R's lots and demands, with the kilograms they
    must carry, go to the min-cost flow (nothing at all when demand is scarce)."""
    flow, flows = _max_flow(net)
    reached = np.zeros(net.sink + 1, dtype=bool)
    reached[np.asarray(flow.get_source_side_min_cut(), dtype=np.int64)] = True
    inside = np.nonzero(reached[net.tails] & reached[net.heads])[0]
    if not len(inside):
        return flows
    lots = net.tails - 1
    crossing = np.zeros(len(net.lot_cap), dtype=np.int64)
    np.add.at(crossing, lots, np.where(reached[net.heads], 0, flows))
    lot_cap = np.where(reached[1 : 1 + len(net.lot_cap)], net.lot_cap - crossing, 0)
    supply = int(flows[inside].sum())
    flows = flows.copy()
    dearest = _dearest_first(net, lot_costs, lot_cap, inside, supply)
    if dearest is not None:
        flows[inside] = dearest
    else:
        flows[inside] = _min_cost_flow(net, "tonnage", lot_costs, lot_cap, inside, supply)
    return flows


#: how many of the cheapest lots `_dearest_first` tries one by one before leaving the rest to
#: the min-cost flow
DEAREST_FIRST_STEPS = 3


def _dearest_first(
    net: _Network, lot_costs: np.ndarray, lot_cap: np.ndarray, arcs: np.ndarray, supply: int
) -> np.ndarray | None:
    """The greedy rule itself, with max flows, where it is short: the flow on `arcs` (lots
    with `lot_cap`, `supply` kg in all, the largest flow) that gives from the dearest lots
    first; None where it would take more than a few max flows.

    What the largest flow leaves over is at least what the cheapest lots hold together (the
    fewest of them that hold as much). If all the others can give everything at once (one max
    flow), the greedy rule gives them everything; then the cheapest lots, the dearest of them
    first, give what an augmenting flow from each can add (paths never return to the source,
    so the lots before keep what they give), until the flow is the largest. On well connected
    networks the first of them already completes it: three max flows instead of a min-cost
    flow."""
    left = int(lot_cap.sum()) - supply
    live = np.flatnonzero(lot_cap > 0)
    cheapest_first = live[np.lexsort((live, lot_costs[live]))]
    n_bottom = int(np.searchsorted(np.cumsum(lot_cap[cheapest_first]), left)) + 1
    if left <= 0 or n_bottom > len(cheapest_first):
        return None
    bottom = cheapest_first[:n_bottom]
    top = lot_cap.copy()
    top[bottom] = 0
    flows = _augmented(net, lot_cap, arcs, np.zeros(len(arcs), dtype=np.int64), top)
    if int(flows.sum()) != int(top.sum()):
        return None
    for lot in bottom[::-1][:DEAREST_FIRST_STEPS].tolist():
        if int(flows.sum()) == supply:
            break
        give = np.zeros(len(lot_cap), dtype=np.int64)
        give[lot] = lot_cap[lot]
        flows = _augmented(net, lot_cap, arcs, flows, give)
    return flows if int(flows.sum()) == supply else None


def _augmented(
    net: _Network, lot_cap: np.ndarray, arcs: np.ndarray, base: np.ndarray, give: np.ndarray
) -> np.ndarray:
    """`base` (a flow on `arcs`, the network's pairs, from lots with `lot_cap`) made as large
    as it can be by adding at most `give` (per lot) from the source: a max flow in its
    residual network, so no lot gives less than in `base`. The new flow on `arcs`."""
    n_lots, n_demands, sink = len(net.lot_cap), len(net.demand_cap), net.sink
    tails, heads = net.tails[arcs], net.heads[arcs]
    lots, demands = tails - 1, heads - 1 - n_lots
    inflow = np.zeros(n_demands, dtype=np.int64)
    np.add.at(inflow, demands, base)
    back = np.flatnonzero(base)
    flow = max_flow.SimpleMaxFlow()
    flow.add_arcs_with_capacity(
        np.zeros(n_lots, dtype=np.int32), np.arange(1, 1 + n_lots, dtype=np.int32), give
    )
    first = flow.num_arcs()
    flow.add_arcs_with_capacity(
        tails, heads, np.minimum(lot_cap[lots], net.demand_cap[demands]) - base
    )
    flow.add_arcs_with_capacity(heads[back], tails[back], base[back])
    flow.add_arcs_with_capacity(
        np.arange(1 + n_lots, sink, dtype=np.int32),
        np.full(n_demands, sink, dtype=np.int32),
        net.demand_cap - inflow,
    )
    if flow.solve(0, sink) != flow.OPTIMAL:
        raise RuntimeError("max flow failed")
    n = len(arcs)
    result = base + flow.flows(np.arange(first, first + n, dtype=np.int32))
    result[back] -= flow.flows(np.arange(first + n, first + n + len(back), dtype=np.int32))
    return result


def relax(
    instance: Instance,
    objective: str = "tonnage",
    keep: dict[tuple[int, int], int] | None = None,
    *,
    arrays: _Arrays | None = None,
    lot_costs: bool = True,
) -> dict[tuple[int, int], int]:
    """The optimal flow without minimums: (lot, demand) -> kg (only the pairs that carry some).

    Pairs that no plan can use (the lot's minimum above the demand's maximum) carry nothing, so
    the flow stays a bound for plans that respect minimums, and a tighter one.

    With `keep` ((lot, demand) -> kg), the flow is restricted: a lot with a minimum order (of
    more than 1 kg) gives only to its pairs in `keep`, each at least the kg given there (which
    must fit in the lot and the demand together); the other lots are free.

    When each lot has one price for all its pairs (as in the app), the money depends only on
    how much each lot gives, and the flows that maximise it are those of any costs in the same
    order (the kilograms each lot gives form a polymatroid: the greedy rule, the dearest lots
    first, is optimal, and it sees only the order). So the costs go on the lots' arcs as ranks
    (1, 2, ... from the cheapest: fewer scaling rounds for the solver than the prices), and for
    "tonnage" (and "value" when every price is above 0) max flows find it, or leave the
    min-cost flow only the part where max flows differ (`_largest_cheapest`). Otherwise, or
    with `lot_costs=False`, every pair costs minus its price: the same kilograms and money, but
    where several flows have them, the one this formulation picks (`plan` keeps it when there
    are minimums, so that the flow it repairs, and so the plan, stay what they were).
    """
    if objective not in OBJECTIVES:
        raise ValueError(objective)
    if not instance.lots or not instance.demands or not instance.edges:
        return {}
    net = _network(instance, keep, arrays)
    lot_prices = net.lot_prices() if lot_costs else None
    if lot_prices is None:
        flows = _min_cost_flow(net, objective, None)
    elif objective == "tonnage" or (net.prices > 0).all():
        # (with every price above 0, the most money is also the most kilograms)
        flows = _largest_cheapest(net, _ranks(lot_prices))
    else:
        flows = _min_cost_flow(net, objective, _ranks(lot_prices))
    return net.result(flows)


def largest_flow(
    instance: Instance, *, arrays: _Arrays | None = None
) -> dict[tuple[int, int], int]:
    """A largest flow, whatever its money (OR-Tools' SimpleMaxFlow: much faster than a min-cost
    flow): as many kilograms as `relax(instance, "tonnage")`, so the same bound."""
    if not instance.lots or not instance.demands or not instance.edges:
        return {}
    net = _network(instance, None, arrays)
    return net.result(_max_flow(net)[1])


def plan(instance: Instance, objective: str = "tonnage") -> Plan:
    """The allocation: the exact flow, repaired to respect every minimum.

    With lots' minimums, a second flow reshapes the first (`kept_pairs`): lots with a minimum
    give only along the pairs kept for them, each at least the minimum, so that the repair finds
    no allocation below a lot's minimum to settle. The bound is the first flow, which for
    "tonnage" on big instances is then only a largest flow (`largest_flow`, `LARGEST_FLOW_ABOVE`):
    the second one has the money.
    """
    started = time.perf_counter()
    phases: dict[str, float] = {}

    def lap(phase: str) -> None:
        phases[phase] = time.perf_counter() - started - sum(phases.values())

    arrays = _Arrays.of(instance)
    has_minimums = bool((arrays.arc_min > 1).any())
    # without minimums the fastest exact formulation; with them the flow is repaired, and the
    # one it repairs stays the one it was (any optimal flow is exact, not every one repairs
    # as well)
    fast = not has_minimums and not (arrays.demand_min > 1).any()
    lap("arrays")
    if has_minimums and objective == "tonnage" and len(instance.edges) > LARGEST_FLOW_ABOVE:
        # the second flow gives the money: on big instances the first is only a largest one
        flow = largest_flow(instance, arrays=arrays)
    else:
        flow = relax(instance, objective, arrays=arrays, lot_costs=fast)
    bound = sum(flow.values())
    if has_minimums:
        keep = kept_pairs(instance, flow)
        flow = relax(instance, objective, keep=keep, arrays=arrays, lot_costs=False)
    lap("flow")
    allocations = (
        dict(flow)
        if _repair_changes_nothing(arrays, flow)
        else repair(instance, flow, arrays=arrays)
    )
    lap("repair")
    pairs = list(allocations)
    kgs = list(allocations.values())
    value = sum(kg * price for kg, price in zip(kgs, arrays.prices_of(pairs), strict=True))
    released = sorted({d for (_, d) in flow} - {d for (_, d) in allocations})
    lap("results")
    return Plan(
        allocations=allocations,
        total_kg=sum(kgs),
        total_value_fen=round(value / 1000),
        bound_kg=bound,
        seconds=time.perf_counter() - started,
        released=released,
        phases=phases,
    )


def _repair_changes_nothing(a: _Arrays, flow: dict[tuple[int, int], int]) -> bool:
    """Would `repair` return the flow as it is? Yes when no allocation is below its lot's
    minimum, no demand is below its own, and no compatible pair has both kilograms left in its
    lot and room in its demand (as after any largest flow without minimums): then none of its
    steps finds anything to do."""
    if not flow:
        return not ((a.lot_cap[a.tail] > 0) & (a.demand_max[a.head] > 0)).any()
    lots, demands = a.pair_positions(flow)
    kg = np.fromiter(flow.values(), dtype=np.int64, count=len(flow))
    if (kg <= 0).any() or (kg < a.arc_min[lots]).any():
        return False
    used = np.zeros(len(a.lot_ids), dtype=np.int64)
    got = np.zeros(len(a.demand_ids), dtype=np.int64)
    np.add.at(used, lots, kg)
    np.add.at(got, demands, kg)
    if ((got > 0) & (got < a.demand_min)).any():
        return False
    left, room = a.lot_cap - used, a.demand_max - got
    return not ((left[a.tail] > 0) & (room[a.head] > 0)).any()


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


def _groups(keys: np.ndarray, values: np.ndarray, order: np.ndarray) -> dict[int, list[int]]:
    """key -> its values, in `order` (a permutation of the pairs)."""
    if not len(keys):
        return {}
    by_key = np.argsort(keys[order], kind="stable")
    ranked = order[by_key]
    firsts = np.flatnonzero(np.diff(keys[ranked], prepend=keys[ranked[:1]] - 1))
    chunks = np.split(values[ranked], firsts[1:])
    return dict(zip(keys[ranked[firsts]].tolist(), (c.tolist() for c in chunks), strict=True))


def repair(
    instance: Instance, flow: dict[tuple[int, int], int], *, arrays: _Arrays | None = None
) -> dict[tuple[int, int], int]:
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
    a = arrays if arrays is not None else _Arrays.of(instance)
    # each demand's lots and each lot's demands, highest price first (then lot, then demand)
    edge_lots, edge_demands = a.lot_ids[a.tail], a.demand_ids[a.head]
    order = np.lexsort((edge_demands, edge_lots, -a.price))
    by_demand: dict[int, list[int]] = defaultdict(list, _groups(edge_demands, edge_lots, order))
    by_lot: dict[int, list[int]] = defaultdict(list, _groups(edge_lots, edge_demands, order))
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
        for lot in by_demand[d]:
            if got[d] >= target:
                break
            kg = offer(lot, d, target - got[d])
            give(lot, d, kg)
            given.append((lot, kg))
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
        for lot in by_demand[d]:  # release it: its kilograms go back to the lots
            take(lot, d, alloc.get((lot, d), 0))
    # 3. leftovers: first to demands already served, within their maximum
    for lot in instance.lots:
        for d in by_lot[lot]:
            if left(lot) <= 0:
                break
            lo, hi = instance.demands[d]
            if got[d] >= max(lo, 1):
                give(lot, d, offer(lot, d, hi))
    # then to demands with nothing, if their minimum can be met
    for d in sorted(instance.demands, key=lambda d: (instance.demands[d][0], d)):
        lo, hi = instance.demands[d]
        if got[d] == 0 and by_demand[d] and fill(d, max(lo, 1)):
            for lot in by_demand[d]:
                give(lot, d, offer(lot, d, hi))
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
