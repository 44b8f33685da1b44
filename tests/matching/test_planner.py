"""The allocation planner against brute force on small instances: feasible, and optimal
without minimums; with minimums feasible, between the brute-force optimum and the bound."""

from __future__ import annotations

import itertools
import random

import pytest

from produce_match.matching.planner import Edge, Instance, feasible, plan, relax


def brute_force(instance: Instance, objective: str = "tonnage") -> tuple[int, int]:
    """The best (kg, value) (or (value, kg) for "value") over every integer allocation."""
    caps = [min(instance.lots[e.lot], instance.demands[e.demand][1]) for e in instance.edges]
    best = (-1, -1)
    for xs in itertools.product(*(range(c + 1) for c in caps)):
        allocation = {(e.lot, e.demand): x for e, x in zip(instance.edges, xs, strict=True)}
        if not feasible(instance, allocation):
            continue
        kg = sum(xs)
        value = sum(x * e.price for e, x in zip(instance.edges, xs, strict=True))
        key = (kg, value) if objective == "tonnage" else (value, kg)
        best = max(best, key)
    return best


def random_instance(seed: int, *, minimums: bool) -> Instance:
    rng = random.Random(seed)
    lots = {i: rng.randint(1, 4) for i in range(1, rng.randint(2, 3) + 1)}
    demands = {}
    for d in range(10, 10 + rng.randint(2, 3)):
        hi = rng.randint(1, 4)
        demands[d] = (rng.randint(1, hi) if minimums else 0, hi)
    pairs = [(lot, d) for lot in lots for d in demands]
    rng.shuffle(pairs)
    edges = [Edge(lot, d, rng.choice([100, 250, 400])) for lot, d in pairs[: rng.randint(2, 6)]]
    return Instance(lots, demands, edges)


def _value(instance: Instance, allocation: dict) -> int:
    prices = {(e.lot, e.demand): e.price for e in instance.edges}
    return sum(kg * prices[k] for k, kg in allocation.items())


@pytest.mark.parametrize("seed", range(40))
def test_without_minimums_the_plan_is_the_optimum(seed):
    instance = random_instance(seed, minimums=False)
    result = plan(instance, "tonnage")
    assert feasible(instance, result.allocations)
    kg, value = brute_force(instance)
    assert result.total_kg == kg == result.bound_kg
    assert _value(instance, result.allocations) == value  # then the most money
    assert result.gap == 0


@pytest.mark.parametrize("seed", range(20))
def test_value_objective_is_the_most_money(seed):
    instance = random_instance(seed, minimums=False)
    result = plan(instance, "value")
    assert feasible(instance, result.allocations)
    value, _kg = brute_force(instance, "value")
    assert _value(instance, result.allocations) == value


@pytest.mark.parametrize("seed", range(60))
def test_with_minimums_the_plan_is_feasible_and_under_the_bound(seed):
    instance = random_instance(seed, minimums=True)
    result = plan(instance, "tonnage")
    assert feasible(instance, result.allocations)
    kg, _value = brute_force(instance)
    assert result.total_kg <= kg <= result.bound_kg
    assert 0 <= result.gap <= 1


def test_repair_gives_a_released_demands_kilograms_to_another():
    # the flow splits lot 1 between two demands; demand 11 gets 2 kg but needs 3
    instance = Instance(
        lots={1: 5},
        demands={10: (1, 3), 11: (3, 3)},
        edges=[Edge(1, 10, 500), Edge(1, 11, 100)],
    )
    assert sum(relax(instance).values()) == 5
    result = plan(instance)
    assert feasible(instance, result.allocations)
    # 3 + 2 is infeasible; the best feasible is 3 to one of them
    assert result.total_kg == 3 and result.bound_kg == 5


def test_a_minimum_met_from_leftovers_is_kept():
    instance = Instance(
        lots={1: 4, 2: 4},
        demands={10: (4, 4), 11: (3, 6)},
        edges=[Edge(1, 10, 300), Edge(2, 10, 300), Edge(2, 11, 100)],
    )
    result = plan(instance)
    assert feasible(instance, result.allocations)
    assert result.total_kg == 8


def test_empty_instances():
    assert plan(Instance({}, {}, [])).total_kg == 0
    assert plan(Instance({1: 5}, {}, [])).allocations == {}


def test_huge_prices_and_quantities_do_not_overflow():
    # 1,000,000 t at 200,000,000 fen per tonne: costs beyond 64 bits unless scaled
    instance = Instance(
        lots={1: 10**9, 2: 10**9},
        demands={10: (0, 10**9), 11: (0, 10**9)},
        edges=[Edge(1, 10, 2 * 10**11), Edge(2, 10, 10**11), Edge(2, 11, 10**11)],
    )
    result = plan(instance)
    assert feasible(instance, result.allocations) and result.total_kg == 2 * 10**9
