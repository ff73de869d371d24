"""The mining benchmark's task construction and scoring (what mine-eval's numbers mean)."""

from __future__ import annotations

import numpy as np
import pytest

from mtforge.errors import ConfigError
from mtforge.mine.margin import MinedPairs
from mtforge.mine.recovery import best_threshold, comparable, recovery_task, score_recovery

SRC = [f"quelle {i}" for i in range(20)]
TGT = [f"target sentence {i}" for i in range(20)]
DISTRACTORS = [f"distractor {i}" for i in range(300)] + ["Target sentence 3!", "TARGET   sentence 4"]


def test_the_hidden_alignment_points_at_the_true_targets_among_distractors() -> None:
    task = recovery_task("t", SRC, TGT, DISTRACTORS, ratio=10, seed=3)
    assert len(task.gold) == 20 and task.distractors == 200 and len(task.tgt) == 220
    assert all(task.tgt[j] == TGT[i] for i, j in task.gold)
    assert task.tgt != TGT + task.tgt[20:]                       # shuffled
    # A distractor equal to a gold target up to case, spacing and punctuation is never used.
    assert "Target sentence 3!" not in task.tgt and "TARGET   sentence 4" not in task.tgt
    assert comparable("Target sentence 3!") == comparable("target  sentence 3")


def test_unpaired_sources_have_no_target_in_the_haystack() -> None:
    task = recovery_task("t", SRC, TGT, DISTRACTORS, ratio=10, unpaired=0.5, seed=1)
    paired = {i for i, _ in task.gold}
    assert len(paired) == 10 and len(task.tgt) == 10 + 200
    assert not {TGT[i] for i in range(20) if i not in paired} & set(task.tgt)


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
    assert (everything.mined, everything.correct) == (5, 3)
    assert everything.precision == pytest.approx(0.6) and everything.recall == pytest.approx(0.75)
    assert everything.f1 == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    strict = score_recovery(mined, gold, threshold=1.15)
    assert (strict.precision, strict.recall) == (1.0, 0.5)
    threshold, f1 = best_threshold([(mined, gold)])
    # Keeping scores >= 1.05 gives 3 of 4 right with one wrong: F1 0.75, better than 1.15's 0.667.
    assert threshold == pytest.approx(1.05) and f1 == pytest.approx(0.75)
