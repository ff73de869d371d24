"""Task sampling: which task each rank trains at each step, and how many ranks use each module.

Every rank must be able to recompute every other rank's choice from (plan, rank, step, seed)
alone: the gradient average divides by :func:`module_users`, which no collective checks.
"""

from __future__ import annotations

import random
from collections import Counter

from mtforge.langcodes import parse_direction
from mtforge.train.plan import MetaConfig, Plan, Slot, preset, resolve_plan
from mtforge.train.sampling import active_slots, module_users, sampled_slot

TRIANGLE = ["en-de", "de-en", "en-fr", "fr-en", "de-fr", "fr-de"]


def make_plan(directions: list[str], *, ranks: int = 1, sizes: list[int] | None = None, **fields) -> Plan:
    """The "shared" preset over ``directions`` on ``ranks`` ranks; ``sizes`` per direction (default 100 each)."""
    meta = MetaConfig.model_validate({**preset("shared", encoder_layers=1, decoder_layers=1),
                                      "directions": directions, "allocation": {"gpus_per_node": ranks}, **fields})
    counts = sizes or [100] * len(directions)
    return resolve_plan(meta, sizes={parse_direction(d): n for d, n in zip(directions, counts)})


def sampled_tasks(plan: Plan, rank: int, steps: range, seed: int) -> list[str | None]:
    slots = (sampled_slot(plan, rank, step, seed) for step in steps)
    return [None if slot is None else slot.task for slot in slots]


def test_a_rank_with_one_slot_always_trains_it() -> None:
    plan = make_plan(["en-de", "de-en"], ranks=2)
    assert [len(slots) for slots in plan.ranks] == [1, 1]
    for rank in range(2):
        for seed in (1, 2):
            assert {sampled_slot(plan, rank, step, seed) for step in range(1, 101)} == {plan.ranks[rank][0]}


def test_a_curriculum_task_is_sampled_only_after_its_start_step() -> None:
    start = 30
    plan = make_plan(TRIANGLE, curriculum={"en-fr": start})
    late = "eng_Latn-fra_Latn"
    assert len(plan.ranks[0]) == len(TRIANGLE)
    assert late not in {s.task for s in active_slots(plan, 0, start)}
    assert late in {s.task for s in active_slots(plan, 0, start + 1)}
    before = sampled_tasks(plan, 0, range(1, start + 1), seed=4)
    after = sampled_tasks(plan, 0, range(start + 1, start + 301), seed=4)
    assert late not in before
    assert after.count(late) > 20  # about 1/6 of 300 once introduced


def test_sampling_frequencies_follow_the_task_weights() -> None:
    plan = make_plan(["en-de", "de-en", "en-fr"], sizes=[100, 300, 600])
    weights = {t.name: t.weight for t in plan.tasks}
    assert sorted(weights.values()) == [0.1, 0.3, 0.6]
    counts = Counter(sampled_tasks(plan, 0, range(1, 3001), seed=11))
    for task, weight in weights.items():
        assert abs(counts[task] / 3000 - weight) < 0.03, (task, counts[task], weight)


def test_choices_depend_only_on_seed_rank_and_step() -> None:
    plan = make_plan(TRIANGLE, ranks=2)
    steps = range(1, 201)
    first = sampled_tasks(plan, 1, steps, seed=7)
    assert sampled_tasks(plan, 1, steps, seed=7) == first
    # another rank can recompute this rank's choice for any step, in any order
    shuffled = list(steps)
    random.Random(0).shuffle(shuffled)
    assert {step: sampled_slot(plan, 1, step, 7).task for step in shuffled} == dict(zip(steps, first))
    assert sampled_tasks(plan, 1, steps, seed=8) != first
    assert sampled_tasks(plan, 0, steps, seed=7) != first  # ranks draw independently
    assert len(set(first)) == len(plan.ranks[1]) > 1


def test_module_users_counts_the_ranks_whose_sampled_task_uses_the_module() -> None:
    plan = make_plan(TRIANGLE, ranks=2, curriculum={"fr-de": 20})
    holders = plan.holders()
    fewer_users_than_holders = False
    for step in range(1, 61):
        expected: Counter[str] = Counter()
        for rank in range(plan.world_size):
            expected.update(plan.task(sampled_slot(plan, rank, step, 3).task).modules)
        users = module_users(plan, step, 3)
        assert {m: n for m, n in users.items() if n} == dict(expected), step
        assert all(users.get(m, 0) <= len(ranks) for m, ranks in holders.items())
        fewer_users_than_holders |= any(0 < users.get(m, 0) < len(ranks) for m, ranks in holders.items())
    assert fewer_users_than_holders  # the plan is one where users and holders differ


def test_a_rank_whose_tasks_have_not_started_trains_nothing() -> None:
    plan = make_plan(["en-de", "de-en", "en-fr"], ranks=2, curriculum={"de-en": 10})
    # The allocator never leaves a rank without a step-0 task; give rank 1 only the late one.
    plan = plan.model_copy(update={"ranks": [[Slot(task="eng_Latn-deu_Latn")], [Slot(task="deu_Latn-eng_Latn")]]})
    assert active_slots(plan, 1, 10) == []
    assert sampled_slot(plan, 1, 10, seed=1) is None
    assert sampled_slot(plan, 1, 11, seed=1) == Slot(task="deu_Latn-eng_Latn")
    assert module_users(plan, 10, 1) == {m: 1 for m in plan.task("en-de").modules}
    assert module_users(plan, 11, 1)["embeddings/shared"] == 2
