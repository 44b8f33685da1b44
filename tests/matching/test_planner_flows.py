"""The planner's flows when each lot has one price (as in the app): its costs on the lots' arcs,
as ranks, and a max flow before the min-cost flow, against the formulation with a cost on every
pair (an independent OR-Tools min-cost flow built here) and against brute force: exactly the
same kilograms and money; and the repair skipped only where it would change nothing."""

from __future__ import annotations

import random

import numpy as np
import pytest
from ortools.graph.python import min_cost_flow

from produce_match.matching import planner
from produce_match.matching.planner import (
    Edge,
    Instance,
    feasible,
    kept_pairs,
    largest_flow,
    plan,
    relax,
    repair,
)

from .test_planner import brute_force


def per_pair_optimum(instance: Instance, objective: str = "tonnage") -> tuple[int, int]:
    """(kg, money) of the optimal flow without minimums, every pair costing minus its price
    (the planner's formulation before the lots' costs). No lots' minimums here."""
    lots, demands = list(instance.lots), list(instance.demands)
    node = {("lot", lot): 1 + i for i, lot in enumerate(lots)}
    node.update({("demand", d): 1 + len(lots) + i for i, d in enumerate(demands)})
    sink = 1 + len(lots) + len(demands)
    supply = sum(instance.lots.values())
    flow = min_cost_flow.SimpleMinCostFlow()
    for lot in lots:
        flow.add_arc_with_capacity_and_unit_cost(0, node[("lot", lot)], instance.lots[lot], 0)
    pair_arcs = []
    for e in instance.edges:
        cap = min(instance.lots[e.lot], instance.demands[e.demand][1])
        arc = flow.add_arc_with_capacity_and_unit_cost(
            node[("lot", e.lot)], node[("demand", e.demand)], cap, -e.price
        )
        pair_arcs.append((arc, e.price))
    for d in demands:
        flow.add_arc_with_capacity_and_unit_cost(
            node[("demand", d)], sink, instance.demands[d][1], 0
        )
    flow.set_node_supply(0, supply)
    flow.set_node_supply(sink, -supply)
    if objective == "value":
        flow.add_arc_with_capacity_and_unit_cost(0, sink, supply, 0)
        assert flow.solve() == flow.OPTIMAL
    else:
        assert flow.solve_max_flow_with_min_cost() == flow.OPTIMAL
    kg = sum(flow.flow(arc) for arc, _ in pair_arcs)
    money = sum(flow.flow(arc) * price for arc, price in pair_arcs)
    return kg, money


def lot_priced_instance(seed: int, *, n_lots: int, n_demands: int, density: float) -> Instance:
    """Lots and demands of random sizes (supply sometimes short, sometimes plentiful), one price
    per lot from a few values (ties) with 0 among them, and about `density` of the pairs."""
    rng = random.Random(seed)
    lots = {7 * i + 3: rng.randint(1, 40) for i in range(n_lots)}
    most = rng.choice([10, 25, 60])
    demands = {1000 + 11 * d: (0, rng.randint(0, most)) for d in range(n_demands)}
    price = {lot: rng.choice([0, 100, 250, 250, 400, 900, 900]) for lot in lots}
    edges = [Edge(lot, d, price[lot]) for lot in lots for d in demands if rng.random() < density]
    rng.shuffle(edges)
    return Instance(lots, demands, edges)


def _money(instance: Instance, allocation: dict[tuple[int, int], int]) -> int:
    prices = {(e.lot, e.demand): e.price for e in instance.edges}
    return sum(kg * prices[k] for k, kg in allocation.items())


@pytest.mark.parametrize("seed", range(150))
def test_lot_costs_give_the_per_pair_optimum(seed):
    instance = lot_priced_instance(
        seed, n_lots=random.Random(seed).randint(2, 25), n_demands=12, density=0.3
    )
    assert instance.edges and planner._network(instance, None).lot_prices() is not None
    for objective in ("tonnage", "value"):
        flow = relax(instance, objective)
        assert feasible(instance, flow)
        kg, money = per_pair_optimum(instance, objective)
        assert sum(flow.values()) == kg or objective == "value"
        assert _money(instance, flow) == money
    result = plan(instance)
    assert (result.total_kg, _money(instance, result.allocations)) == per_pair_optimum(instance)
    assert result.bound_kg == result.total_kg == sum(largest_flow(instance).values())
    assert result.total_value_fen == round(_money(instance, result.allocations) / 1000)


@pytest.mark.parametrize("seed", range(60))
def test_lot_costs_against_brute_force(seed):
    rng = random.Random(seed)
    lots = {i: rng.randint(1, 4) for i in range(1, rng.randint(2, 3) + 1)}
    demands = {d: (0, rng.randint(1, 4)) for d in range(10, 10 + rng.randint(2, 3))}
    price = {lot: rng.choice([0, 100, 250, 400]) for lot in lots}
    pairs = [(lot, d) for lot in lots for d in demands]
    rng.shuffle(pairs)
    edges = [Edge(lot, d, price[lot]) for lot, d in pairs[: rng.randint(2, 6)]]
    instance = Instance(lots, demands, edges)
    result = plan(instance)
    assert (result.total_kg, _money(instance, result.allocations)) == brute_force(instance)
    value, _kg = brute_force(instance, "value")
    assert _money(instance, plan(instance, "value").allocations) == value


def test_the_max_flow_decides_where_every_max_flow_agrees():
    # lot 1 (dear) and lot 2 (cheap) compete for demand 10; lot 3 alone serves demand 11, and
    # demand 12 wants more than lot 4 holds: only lots 1 and 2 are left to the min-cost flow
    instance = Instance(
        lots={1: 5, 2: 5, 3: 4, 4: 3},
        demands={10: (0, 6), 11: (0, 9), 12: (0, 8)},
        edges=[Edge(1, 10, 900), Edge(2, 10, 100), Edge(3, 11, 100), Edge(4, 12, 250)],
    )
    assert relax(instance) == {(1, 10): 5, (2, 10): 1, (3, 11): 4, (4, 12): 3}
    assert plan(instance).total_value_fen == round((5 * 900 + 100 + 4 * 100 + 3 * 250) / 1000)


def test_a_flow_with_room_left_is_repaired():
    instance = Instance(
        lots={1: 5, 2: 5}, demands={10: (0, 6)}, edges=[Edge(1, 10, 9), Edge(2, 10, 9)]
    )
    arrays = planner._Arrays.of(instance)
    assert not planner._repair_changes_nothing(arrays, {(1, 10): 5})  # demand 10 has room
    assert planner._repair_changes_nothing(arrays, {(1, 10): 5, (2, 10): 1})
    assert not planner._repair_changes_nothing(arrays, {(1, 10): 5, (2, 10): 0})
    instance.demands = {10: (4, 6)}
    assert not planner._repair_changes_nothing(planner._Arrays.of(instance), {(1, 10): 3})
    instance.lot_min = {2: 2}
    assert not planner._repair_changes_nothing(
        planner._Arrays.of(instance), {(1, 10): 5, (2, 10): 1}
    )


def test_ranks_keep_the_order_and_the_sign():
    prices = np.array([900, -5, 0, 250, 900, -70, 3, 0], dtype=np.int64)
    ranks = planner._ranks(prices)
    assert ranks.tolist() == [3, -1, 0, 2, 3, -2, 1, 0]
    assert planner._ranks(np.array([40, 7, 40], dtype=np.int64)).tolist() == [2, 1, 2]


@pytest.mark.parametrize("seed", range(200))
def test_the_repair_is_skipped_only_where_it_changes_nothing(seed):
    rng = random.Random(seed)
    instance = lot_priced_instance(seed, n_lots=6, n_demands=5, density=0.5)
    instance.demands = {
        d: (rng.choice([0, 0, 1, rng.randint(0, hi)]), hi)
        for d, (_, hi) in instance.demands.items()
    }
    if rng.random() < 0.4:
        instance.lot_min = {lot: rng.randint(1, 12) for lot in instance.lots if rng.random() < 0.5}
    arrays = planner._Arrays.of(instance)
    flow = relax(instance)
    if instance.lot_min:
        flow = relax(instance, keep=kept_pairs(instance, flow))
    # also flows with kilograms taken off some pairs (room and leftovers for the repair)
    for candidate in (flow, {k: kg - rng.randint(0, kg) for k, kg in flow.items()}):
        if planner._repair_changes_nothing(arrays, candidate):
            assert repair(instance, candidate) == candidate
    assert feasible(instance, plan(instance).allocations)
    if not instance.lot_min and all(lo <= 1 for lo, _ in instance.demands.values()):
        assert planner._repair_changes_nothing(arrays, flow)  # a largest flow: nothing to do


@pytest.mark.parametrize("seed", range(30))
def test_the_repairs_lists_are_in_the_order_of_the_rule(seed):
    # each demand's lots and each lot's demands, the highest price first, then lot, then demand
    rng = random.Random(seed)
    instance = Instance(
        lots={rng.randint(-50, 50): 5 for _ in range(12)},
        demands={rng.randint(100, 200): (0, 5) for _ in range(15)},
        edges=[],
    )
    instance.edges = [
        Edge(lot, d, rng.choice([0, 7, 300, 300, 10**12]))
        for lot in instance.lots
        for d in instance.demands
        if rng.random() < 0.4
    ]
    a = planner._Arrays.of(instance)
    order = np.lexsort((a.demand_ids[a.head], a.lot_ids[a.tail], -a.price))
    by_demand: dict[int, list[int]] = {}
    by_lot: dict[int, list[int]] = {}
    for e in sorted(instance.edges, key=lambda e: (-e.price, e.lot, e.demand)):
        by_demand.setdefault(e.demand, []).append(e.lot)
        by_lot.setdefault(e.lot, []).append(e.demand)
    lots, demands = a.lot_ids[a.tail], a.demand_ids[a.head]
    assert planner._groups(demands, lots, order) == by_demand
    assert planner._groups(lots, demands, order) == by_lot
    assert planner._groups(lots[:0], demands[:0], order[:0]) == {}


@pytest.mark.parametrize("ids", [[5, 2, 9, 0], [10**12, -3, 7, 4]])  # a table; a search
def test_positions_of_ids(ids):
    ids = np.array(ids, dtype=np.int64)
    wanted = np.array([9, 2, 5, 2, 0] if ids[0] == 5 else [7, 10**12, -3], dtype=np.int64)
    assert ids[planner._positions(ids, wanted)].tolist() == wanted.tolist()
    with pytest.raises(KeyError):
        planner._positions(ids, np.array([3], dtype=np.int64))
    with pytest.raises(KeyError):
        planner._positions(ids, np.array([-1, 10**13], dtype=np.int64))


@pytest.mark.parametrize("steps", [0, 1, 3, 50])
def test_the_dearest_lots_first_by_max_flows_is_the_optimum(steps, monkeypatch):
    # the greedy rule by max flows where it is short, the min-cost flow otherwise: both exact
    monkeypatch.setattr(planner, "DEAREST_FIRST_STEPS", steps)
    outcomes = []
    dearest_first = planner._dearest_first

    def spy(*args):
        flows = dearest_first(*args)
        outcomes.append(flows is not None)
        return flows

    monkeypatch.setattr(planner, "_dearest_first", spy)
    for seed in range(40):
        rng = random.Random(seed)
        instance = lot_priced_instance(
            seed, n_lots=rng.randint(5, 60), n_demands=rng.randint(5, 40), density=0.4
        )
        flow = relax(instance)
        assert (sum(flow.values()), _money(instance, flow)) == per_pair_optimum(instance)
        assert feasible(instance, flow)
    assert False in outcomes and (True in outcomes or steps == 0)


def test_an_augmented_flow_keeps_what_each_lot_gives():
    # lot 1 gives demand 10 all it has; lot 2 can reach demand 10 only if lot 1 moves to 11
    instance = Instance(
        lots={1: 4, 2: 4},
        demands={10: (0, 4), 11: (0, 4)},
        edges=[Edge(1, 10, 1), Edge(1, 11, 1), Edge(2, 10, 1)],
    )
    net = planner._network(instance, None)
    arcs = np.arange(len(net.arcs))
    base = np.array([4, 0, 0], dtype=np.int64)  # (1, 10), (1, 11), (2, 10)
    flows = planner._augmented(net, net.lot_cap, arcs, base, np.array([0, 4], dtype=np.int64))
    assert flows.tolist() == [0, 4, 4]
    nothing = planner._augmented(net, net.lot_cap, arcs, base, np.zeros(2, dtype=np.int64))
    assert nothing.tolist() == [4, 0, 0]


@pytest.mark.parametrize("seed", range(40))
def test_with_every_price_above_zero_the_most_money_is_the_largest_flow(seed):
    instance = lot_priced_instance(seed, n_lots=12, n_demands=10, density=0.35)
    instance.edges = [Edge(e.lot, e.demand, e.price + 50) for e in instance.edges]
    flow = relax(instance, "value")
    kg, money = per_pair_optimum(instance, "value")
    assert (sum(flow.values()), _money(instance, flow)) == (kg, money)
    assert kg == sum(largest_flow(instance).values())
