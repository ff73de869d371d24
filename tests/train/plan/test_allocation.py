"""Allocation of tasks to ranks: the local search against brute force, curriculum, capacity,
replication and manual allocations."""

from __future__ import annotations

import itertools
import random

import pytest

from mtforge.errors import ConfigError
from mtforge.train.plan import AllocationConfig, Slot, allocate, allocation_cost
from mtforge.train.plan.allocation import search_allocation


def _shared_modules(pairs: list[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """Tasks of the paper's 'shared' scheme: shared embeddings and encoder, decoder per target."""
    return {f"{s}-{t}": ("embeddings/shared", "encoder/0/full", f"decoder/0/{t}") for s, t in pairs}


def _independent_modules(pairs: list[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    return {f"{s}-{t}": ("embeddings/shared", f"encoder/0/{s}", f"decoder/0/{t}") for s, t in pairs}


def _brute_force(modules, config: AllocationConfig, steps=None) -> float:
    """The least cost over every feasible assignment of one rank per task."""
    names = list(modules)
    world = config.nodes * config.gpus_per_node
    steps = steps or {}
    best = float("inf")
    for assignment in itertools.product(range(world), repeat=len(names)):
        ranks = [[n for n, r in zip(names, assignment) if r == rank] for rank in range(world)]
        if config.slots_per_gpu and any(len(t) > config.slots_per_gpu for t in ranks):
            continue
        if any(all(steps.get(n, 0) > 0 for n in t) for t in ranks):  # empty or idle at step 0
            continue
        best = min(best, allocation_cost(ranks, modules, config.gpus_per_node, config))
    return best


def _cost(modules, config, steps=None) -> float:
    ranks = search_allocation(modules, config, start_steps=steps)
    return allocation_cost(ranks, modules, config.gpus_per_node, config)


def test_cost_counts_copies_nodes_and_balance() -> None:
    modules = {"a": ("x", "y"), "b": ("x", "z"), "c": ("z",)}
    config = AllocationConfig(nodes=2, gpus_per_node=1, node_weight=10, device_weight=1, balance_weight=1)
    # x on both ranks (1 extra copy, on 1 extra node); y, z on one rank each; loads 1 and 2.
    assert allocation_cost([["a"], ["b", "c"]], modules, 1, config) == pytest.approx(1 + 10 + 0.5)
    # the same ranks on one node: no extra node copy
    assert allocation_cost([["a"], ["b", "c"]], modules, 2, config) == pytest.approx(1 + 0.5)
    # x and z both copied across the two nodes
    assert allocation_cost([["a", "c"], ["b"]], modules, 1, config) == pytest.approx(2 + 20 + 0.5)


def test_tasks_grouped_by_target_language_when_that_is_optimal() -> None:
    langs = ["de", "fr", "cs", "en"]
    pairs = [(langs[(i + k) % 4], t) for i, t in enumerate(langs) for k in (1, 2)]  # 2 tasks into each language
    modules = _shared_modules(pairs)
    config = AllocationConfig(nodes=2, gpus_per_node=2)
    ranks = search_allocation(modules, config)
    targets = [{name.split("-")[1] for name in names} for names in ranks]
    assert all(len(t) == 1 for t in targets), ranks  # each rank decodes into one language
    assert len({frozenset(t) for t in targets}) == 4
    assert _cost(modules, config) == pytest.approx(_brute_force(modules, config))


@pytest.mark.parametrize(
    ("n_tasks", "nodes", "gpus", "slots", "seed"),
    [(6, 2, 2, None, 0), (7, 1, 3, 3, 1), (8, 2, 1, None, 2), (6, 2, 2, 2, 3), (8, 1, 2, 4, 4), (7, 2, 2, None, 5)],
)
def test_local_search_matches_brute_force_on_random_instances(n_tasks, nodes, gpus, slots, seed) -> None:
    rng = random.Random(seed)
    langs = ["en", "de", "fr", "cs"]
    pairs = rng.sample([(s, t) for s in langs for t in langs if s != t], n_tasks)
    modules = _independent_modules(pairs)
    config = AllocationConfig(nodes=nodes, gpus_per_node=gpus, slots_per_gpu=slots, node_weight=rng.choice([2.0, 10.0]))
    assert _cost(modules, config) == pytest.approx(_brute_force(modules, config))


def test_no_rank_idle_at_step_zero_under_a_curriculum() -> None:
    pairs = [("en", "de"), ("fr", "de"), ("en", "fr"), ("de", "fr")]
    modules = _shared_modules(pairs)
    # Grouping by target would leave the rank of the late *-fr tasks idle at step 0.
    steps = {"en-fr": 1000, "de-fr": 1000}
    config = AllocationConfig(nodes=2, gpus_per_node=1)
    ranks = search_allocation(modules, config, start_steps=steps)
    assert all(any(steps.get(n, 0) == 0 for n in names) for names in ranks), ranks
    assert allocation_cost(ranks, modules, 1, config) == pytest.approx(_brute_force(modules, config, steps))
    # without the curriculum, grouping by target is what the search does
    free = search_allocation(modules, config)
    assert sorted(sorted(n.split("-")[1] for n in names) for names in free) == [["de", "de"], ["fr", "fr"]]


def test_too_few_step_zero_tasks_is_an_error_naming_the_counts() -> None:
    modules = _shared_modules([("en", "de"), ("fr", "de"), ("en", "fr")])
    with pytest.raises(ConfigError, match="3 ranks but only 1 tasks start at step 0"):
        allocate(modules, AllocationConfig(gpus_per_node=3), start_steps={"fr-de": 5, "en-fr": 5})


def test_capacity_is_respected_and_checked() -> None:
    modules = _shared_modules([("en", "de"), ("fr", "de"), ("cs", "de"), ("en", "fr")])
    ranks = search_allocation(modules, AllocationConfig(gpus_per_node=2, slots_per_gpu=2, balance_weight=0))
    assert sorted(len(r) for r in ranks) == [2, 2]  # the de tasks would otherwise share a rank
    with pytest.raises(ConfigError, match="= 3 slots cannot hold 4 tasks"):
        allocate(modules, AllocationConfig(gpus_per_node=3, slots_per_gpu=1))


def test_search_is_deterministic_for_a_seed() -> None:
    langs = ["en", "de", "fr", "cs", "es"]
    modules = _independent_modules([(s, t) for s in langs for t in langs if s != t])
    config = AllocationConfig(nodes=2, gpus_per_node=2, seed=7)
    first = allocate(modules, config)
    assert allocate(modules, config) == first
    assert sorted(slot.task for slots in first for slot in slots) == sorted(modules)
    assert all(slots for slots in first)


def test_fewer_tasks_than_ranks_are_replicated_in_blocks() -> None:
    modules = _shared_modules([("en", "de"), ("de", "en")])
    ranks = allocate(modules, AllocationConfig(nodes=1, gpus_per_node=5))
    assert ranks == [
        [Slot(task="en-de", shard=0, num_shards=3)],
        [Slot(task="en-de", shard=1, num_shards=3)],
        [Slot(task="en-de", shard=2, num_shards=3)],
        [Slot(task="de-en", shard=0, num_shards=2)],
        [Slot(task="de-en", shard=1, num_shards=2)],
    ]
    with pytest.raises(ConfigError, match="de-en .* idle at step 0"):
        allocate(modules, AllocationConfig(gpus_per_node=5), start_steps={"de-en": 10})


EN_DE, DE_EN, EN_FR = "eng_Latn-deu_Latn", "deu_Latn-eng_Latn", "eng_Latn-fra_Latn"
REAL = {EN_DE: ("m",), DE_EN: ("m",), EN_FR: ("m",)}


def test_manual_allocation_with_replicas() -> None:
    config = AllocationConfig(gpus_per_node=3, ranks=[["en-de", "de-en"], ["eng_Latn-fra_Latn"], ["de-en"]])
    assert allocate(REAL, config) == [
        [Slot(task=EN_DE), Slot(task=DE_EN, shard=0, num_shards=2)],
        [Slot(task=EN_FR)],
        [Slot(task=DE_EN, shard=1, num_shards=2)],
    ]


@pytest.mark.parametrize(
    ("ranks", "message"),
    [
        ([["en-de", "de-en"], []], "rank 1 has no task"),
        ([["en-de", "de-en"], ["fr-en"]], r"rank 1 names 'fr-en' \(fra_Latn-eng_Latn\), which is not a planned task"),
        ([["en-de"], ["de-en"]], "task eng_Latn-fra_Latn is on no rank"),
        ([["en-de", "de-en", "en-fr"]], "lists 1 ranks but nodes × gpus_per_node = 1 × 2 = 2"),
        ([["en-de", "en-de"], ["de-en", "en-fr"]], "rank 0 lists a task twice"),
        ([["en-de", "de-en"], ["en-fr"]], "rank 1 has no task at step 0"),
    ],
)
def test_manual_allocation_errors(ranks, message) -> None:
    config = AllocationConfig(gpus_per_node=2, ranks=ranks)
    with pytest.raises(ConfigError, match=message):
        allocate(REAL, config, start_steps={EN_FR: 100})


def test_manual_allocation_over_capacity() -> None:
    config = AllocationConfig(gpus_per_node=1, slots_per_gpu=2, ranks=[["en-de", "de-en", "en-fr"]])
    with pytest.raises(ConfigError, match="rank 0 has 3 tasks but slots_per_gpu is 2"):
        allocate(REAL, config)


def test_english_centric_plans_reach_the_blocks_optimum_moves_alone_cannot():
    """48 English-centric tasks with language-specific modules on 8 ranks of one node: the
    optimum splits eng→X and X→eng onto 4 ranks each (English's encoder and decoder on 4 ranks,
    the embeddings on all 8: 7 + 3 + 3 copies, perfectly balanced = 13). Single moves and swaps
    cannot get there from a start that spreads English's modules everywhere, since no single
    move removes a copy (without the grouped start the search ends at 19); the grouped start
    begins there."""
    others = [f"l{i:02d}" for i in range(24)]
    modules = _independent_modules([("eng", x) for x in others] + [(x, "eng") for x in others])
    config = AllocationConfig(nodes=1, gpus_per_node=8)
    ranks = search_allocation(modules, config)
    assert allocation_cost(ranks, modules, 8, config) == pytest.approx(13)
    for tasks in ranks:
        assert len({t.startswith("eng-") for t in tasks}) == 1  # a rank holds one direction group


def test_grouped_order_puts_tasks_sharing_a_module_together():
    from mtforge.train.plan.allocation import grouped_order

    modules = [[0, 1, 5], [0, 2, 1], [0, 3, 4], [0, 1, 6], [0, 4, 7]]  # 0 everywhere; 1 thrice; 4 twice
    assert grouped_order(modules) == [1, 0, 3, 2, 4]
