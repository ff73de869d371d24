"""Task plans: module ids per sharing scheme, allocation of tasks to ranks, module holders."""

from __future__ import annotations

import pytest

from mtforge.errors import ConfigError
from mtforge.train.tasks import SHARING, Assignment, Task, allocate, make_tasks, module_holders

EN, DE, FR = "eng_Latn", "deu_Latn", "fra_Latn"
DIRECTIONS = [(EN, DE), (DE, EN), (EN, FR)]


def test_full_sharing_uses_one_encoder_and_one_decoder() -> None:
    tasks = make_tasks(DIRECTIONS, "full")
    assert [t.name for t in tasks] == [f"{EN}-{DE}", f"{DE}-{EN}", f"{EN}-{FR}"]
    assert {t.modules for t in tasks} == {("embeddings", "encoder/shared", "decoder/shared")}


def test_language_sharing_uses_an_encoder_per_source_and_a_decoder_per_target() -> None:
    tasks = make_tasks(DIRECTIONS, "language")
    assert [t.modules for t in tasks] == [
        ("embeddings", f"encoder/{EN}", f"decoder/{DE}"),
        ("embeddings", f"encoder/{DE}", f"decoder/{EN}"),
        ("embeddings", f"encoder/{EN}", f"decoder/{FR}"),
    ]
    assert tasks[0] == Task(EN, DE, EN, DE)


def test_default_sharing_is_full() -> None:
    assert make_tasks([(EN, DE)]) == [Task(EN, DE, "shared", "shared")]


def test_unknown_sharing_lists_the_options() -> None:
    with pytest.raises(ConfigError, match="'layer'") as err:
        make_tasks(DIRECTIONS, "layer")
    for option in SHARING:
        assert option in str(err.value)


def test_no_directions_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no translation directions"):
        make_tasks([], "full")


def _names(plan: list[list[Assignment]]) -> list[list[tuple[str, int, int]]]:
    return [[(a.task.name, a.shard, a.num_shards) for a in rank] for rank in plan]


def test_more_tasks_than_ranks_are_dealt_round_robin_unsharded() -> None:
    tasks = make_tasks(DIRECTIONS + [(FR, EN), (DE, FR)], "language")
    plan = allocate(tasks, 2)
    assert _names(plan) == [
        [(f"{EN}-{DE}", 0, 1), (f"{EN}-{FR}", 0, 1), (f"{DE}-{FR}", 0, 1)],
        [(f"{DE}-{EN}", 0, 1), (f"{FR}-{EN}", 0, 1)],
    ]


def test_as_many_tasks_as_ranks_gives_one_task_each() -> None:
    tasks = make_tasks(DIRECTIONS, "language")
    assert _names(allocate(tasks, 3)) == [[(t.name, 0, 1)] for t in tasks]


def test_fewer_tasks_than_ranks_are_replicated_with_distinct_shards() -> None:
    tasks = make_tasks([(EN, DE), (DE, EN)], "language")
    plan = allocate(tasks, 5)
    assert all(len(rank) == 1 for rank in plan)  # every rank has work
    assert _names(plan) == [
        [(f"{EN}-{DE}", 0, 3)], [(f"{DE}-{EN}", 0, 2)], [(f"{EN}-{DE}", 1, 3)],
        [(f"{DE}-{EN}", 1, 2)], [(f"{EN}-{DE}", 2, 3)],
    ]


@pytest.mark.parametrize("n_tasks", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("world", [1, 2, 3, 5, 8])
def test_every_task_runs_every_rank_works_and_shards_partition(n_tasks: int, world: int) -> None:
    langs = [f"l{i:02d}_Latn" for i in range(n_tasks + 1)]
    tasks = make_tasks([(langs[0], lang) for lang in langs[1:]], "language")
    plan = allocate(tasks, world)
    assert len(plan) == world and all(plan)
    for task in tasks:
        placed = [a for rank in plan for a in rank if a.task == task]
        assert placed, f"{task.name} is not allocated"
        # the replicas of a task read shards 0..n-1 of n, each exactly once
        assert sorted(a.shard for a in placed) == list(range(len(placed)))
        assert {a.num_shards for a in placed} == {len(placed)}


def test_world_size_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="world_size"):
        allocate(make_tasks([(EN, DE)]), 0)


def test_module_holders_are_the_sorted_ranks_holding_each_module() -> None:
    tasks = make_tasks([(EN, DE), (DE, EN), (EN, FR)], "language")
    holders = module_holders(allocate(tasks, 3))
    assert holders == {
        "decoder/deu_Latn": [0],
        "decoder/eng_Latn": [1],
        "decoder/fra_Latn": [2],
        "embeddings": [0, 1, 2],
        "encoder/deu_Latn": [1],
        "encoder/eng_Latn": [0, 2],
    }
    assert list(holders) == sorted(holders)  # every rank iterates groups in the same order


def test_module_holders_of_a_replicated_full_sharing_plan() -> None:
    holders = module_holders(allocate(make_tasks([(EN, DE)], "full"), 3))
    assert holders == {m: [0, 1, 2] for m in ("decoder/shared", "embeddings", "encoder/shared")}
