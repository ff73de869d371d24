"""The mining benchmark's task construction and scoring (what mine-eval's numbers mean)."""

from __future__ import annotations

import numpy as np
import pytest

from mtforge.errors import ConfigError
from mtforge.mine.margin import MinedPairs
from mtforge.mine.recovery import Recovery, best_threshold, comparable, recovery_task, score_recovery

SRC = [f"quelle {i}" for i in range(20)]
TGT = [f"target sentence {i}" for i in range(20)]
DISTRACTORS = [f"distractor {i}" for i in range(300)] + ["Target sentence 3!", "TARGET   sentence 4"]


def test_the_hidden_alignment_points_at_the_true_targets_among_distractors() -> None:
    task = recovery_task("t", SRC, TGT, DISTRACTORS, ratio=10, seed=3)
    assert task.name == "t" and task.src == SRC
    assert len(task.gold) == 20 and task.distractors == 200 and len(task.tgt) == 220
    assert sorted(i for i, _ in task.gold) == list(range(20))               # every source has one gold target
    assert all(task.tgt[j] == TGT[i] for i, j in task.gold)
    assert len({j for _, j in task.gold}) == 20
    others = [t for j, t in enumerate(task.tgt) if j not in {j for _, j in task.gold}]
    assert len(others) == 200 and set(others) <= set(DISTRACTORS) and len(set(others)) == 200
    assert [j for _, j in sorted(task.gold)] != list(range(20))             # the targets are shuffled
    # A distractor equal to a gold target up to case, spacing and punctuation is never used.
    assert "Target sentence 3!" not in task.tgt and "TARGET   sentence 4" not in task.tgt
    assert comparable("Target sentence 3!") == comparable("target  sentence 3")
    assert comparable("Target sentence 3!") != comparable("target sentence 33")


def test_tasks_are_deterministic_by_seed() -> None:
    a = recovery_task("t", SRC, TGT, DISTRACTORS, ratio=3, seed=7)
    assert a == recovery_task("t", SRC, TGT, DISTRACTORS, ratio=3, seed=7)
    b = recovery_task("t", SRC, TGT, DISTRACTORS, ratio=3, seed=8)
    assert a.tgt != b.tgt and a.gold != b.gold
    assert all(b.tgt[j] == TGT[i] for i, j in b.gold)


def test_repeated_distractors_count_once() -> None:
    # 60 lines but only 40 different sentences (up to case/punctuation): 40 usable distractors.
    pool = [f"noise {i}" for i in range(40)] + [f"Noise {i}." for i in range(20)]
    assert len(set(recovery_task("t", SRC[:4], TGT[:4], pool, ratio=10).tgt)) == 44
    with pytest.raises(ConfigError, match="40 usable distractors, 44 needed"):
        recovery_task("t", SRC[:4], TGT[:4], pool, ratio=11)


def test_unpaired_sources_have_no_target_in_the_haystack() -> None:
    task = recovery_task("t", SRC, TGT, DISTRACTORS, ratio=10, unpaired=0.5, seed=1)
    paired = {i for i, _ in task.gold}
    assert len(paired) == 10 and len(task.tgt) == 10 + 200 and task.distractors == 200
    assert not {TGT[i] for i in range(20) if i not in paired} & set(task.tgt)
    assert all(task.tgt[j] == TGT[i] for i, j in task.gold)


def test_bad_settings_are_named() -> None:
    with pytest.raises(ConfigError, match="300 usable distractors, 400 needed"):
        recovery_task("t", SRC, TGT, DISTRACTORS, ratio=20)
    with pytest.raises(ConfigError, match="not aligned"):
        recovery_task("t", SRC, TGT[:5], DISTRACTORS)
    with pytest.raises(ConfigError, match="unpaired"):
        recovery_task("t", SRC, TGT, DISTRACTORS, unpaired=1.0)


def pairs(items: list[tuple[int, int, float]]) -> MinedPairs:
    src, tgt, score = zip(*items)
    return MinedPairs(np.array(src), np.array(tgt), np.array(score, np.float32))


def test_precision_recall_f1_and_the_best_threshold() -> None:
    gold = frozenset({(0, 0), (1, 1), (2, 2), (3, 3)})
    mined = pairs([(0, 0, 1.3), (1, 1, 1.2), (5, 9, 1.1), (2, 2, 1.05), (4, 8, 0.9)])
    everything = score_recovery(mined, gold)
    assert (everything.mined, everything.correct, everything.gold) == (5, 3, 4)
    assert everything.precision == pytest.approx(0.6) and everything.recall == pytest.approx(0.75)
    assert everything.f1 == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    strict = score_recovery(mined, gold, threshold=1.15)
    assert (strict.precision, strict.recall) == (1.0, 0.5) and strict.f1 == pytest.approx(2 / 3)
    # The threshold keeps scores >= it: at exactly 1.05 the pair scoring 1.05 is kept.
    assert score_recovery(mined, gold, threshold=1.05).correct == 3
    assert score_recovery(mined, gold, threshold=2.0) == Recovery(0, 0, 4)
    assert (Recovery(0, 0, 4).precision, Recovery(0, 0, 4).f1, Recovery(3, 0, 0).recall) == (0.0, 0.0, 0.0)
    threshold, f1 = best_threshold([(mined, gold)])
    # Keeping scores >= 1.05 gives 3 of 4 right with one wrong: F1 0.75, better than 1.15's 0.667.
    assert threshold == pytest.approx(1.05) and f1 == pytest.approx(0.75)


def test_the_best_threshold_maximises_the_mean_f1_over_tasks() -> None:
    gold = frozenset({(0, 0), (1, 1)})
    # Task A: the right pairs score high, a wrong one 1.0. Task B: a wrong pair scores 1.5 above its right ones.
    a = pairs([(0, 0, 2.0), (1, 1, 1.9), (2, 5, 1.0)])
    b = pairs([(2, 3, 1.5), (0, 0, 1.4), (1, 1, 1.2)])
    # Threshold 1.9: A F1 1.0, B F1 0 -> mean 0.5. Threshold 1.2: A 1.0, B (2 of 3 right, all recalled) 0.8 -> 0.9.
    # Threshold 1.0: A 0.8, B 0.8 -> 0.8.
    threshold, f1 = best_threshold([(a, gold), (b, gold)])
    assert threshold == pytest.approx(1.2) and f1 == pytest.approx(0.9)
