"""The mining benchmark: hide the alignment of real parallel data and mine it back.

A :class:`RecoveryTask` takes ``n`` gold pairs, shuffles the target side and mixes it with
at least ``ratio × n`` unrelated *distractor* sentences of the target language (sentences
equal to a gold target up to case, spacing and punctuation are left out of the distractors,
so that every "wrong" pair really is wrong). Mining the sources against that haystack and
comparing the mined pairs with the hidden gold gives precision, recall and F1.

With ``unpaired > 0`` that share of the sources has its translation withheld from the
haystack: such a source has no right answer, and mining it at all is a false positive. This
is the harder, realistic case (most sentences of two monolingual crawls have no translation
in the other), and the one a threshold must be calibrated on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from mtforge.errors import ConfigError
from mtforge.mine.margin import MinedPairs

_NON_WORD = re.compile(r"[\W_]+")


def comparable(text: str) -> str:
    """``text`` lower-cased with punctuation and spacing removed (what "the same sentence" means here)."""
    return _NON_WORD.sub("", text.casefold())


@dataclass(frozen=True)
class RecoveryTask:
    """Sources, a shuffled haystack of targets, and the hidden gold alignment ``{(src, tgt)}``."""

    name: str
    src: list[str]
    tgt: list[str]
    gold: frozenset[tuple[int, int]]

    @property
    def distractors(self) -> int:
        return len(self.tgt) - len(self.gold)


def recovery_task(name: str, src: Sequence[str], tgt: Sequence[str], distractors: Iterable[str], *,
                  ratio: int = 10, unpaired: float = 0.0, seed: int = 0) -> RecoveryTask:
    """Gold pairs ``src[i]``↔``tgt[i]`` hidden among ``ratio × len(src)`` distractors, with the
    targets of an ``unpaired`` share of the sources left out (see the module docstring)."""
    if len(src) != len(tgt):
        raise ConfigError(f"{name}: {len(src)} source and {len(tgt)} target sentences are not aligned")
    if not 0 <= unpaired < 1:
        raise ConfigError(f"{name}: unpaired must be in [0, 1), got {unpaired}")
    golden = {comparable(t) for t in tgt}
    pool, seen = [], set(golden)
    for sentence in distractors:
        key = comparable(sentence)
        if key and key not in seen:
            seen.add(key)
            pool.append(sentence)
    needed = ratio * len(src)
    if len(pool) < needed:
        raise ConfigError(f"{name}: {len(pool)} usable distractors, {needed} needed ({ratio}× {len(src)} pairs)")
    rng = np.random.default_rng(seed)
    chosen = [pool[i] for i in sorted(rng.choice(len(pool), needed, replace=False))]
    paired = np.sort(rng.permutation(len(src))[:round(len(src) * (1 - unpaired))])
    haystack = [tgt[i] for i in paired] + chosen
    order = rng.permutation(len(haystack))
    position = np.empty(len(haystack), dtype=np.int64)
    position[order] = np.arange(len(haystack))
    return RecoveryTask(name, list(src), [haystack[i] for i in order],
                        frozenset((int(i), int(position[j])) for j, i in enumerate(paired)))


@dataclass(frozen=True)
class Recovery:
    """How well mined pairs recover a task's gold alignment."""

    mined: int
    correct: int
    gold: int

    @property
    def precision(self) -> float:
        return self.correct / self.mined if self.mined else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score_recovery(pairs: MinedPairs, gold: frozenset[tuple[int, int]], threshold: float | None = None) -> Recovery:
    """Precision/recall/F1 of ``pairs`` (those scoring at least ``threshold``) against ``gold``."""
    keep = pairs.scores >= threshold if threshold is not None else np.ones(len(pairs), dtype=bool)
    found = set(zip(pairs.src_ids[keep].tolist(), pairs.tgt_ids[keep].tolist()))
    return Recovery(len(found), len(found & gold), len(gold))


def best_threshold(pairs_by_task: Sequence[tuple[MinedPairs, frozenset[tuple[int, int]]]]) -> tuple[float, float]:
    """The threshold (among the mined scores) that maximises the mean F1 over tasks, and that F1."""
    candidates = np.unique(np.concatenate([p.scores for p, _ in pairs_by_task]))
    if len(candidates) > 2000:
        candidates = np.quantile(candidates, np.linspace(0, 1, 2001))
    best = (float("-inf"), -1.0)
    for threshold in candidates:
        f1 = float(np.mean([score_recovery(p, gold, float(threshold)).f1 for p, gold in pairs_by_task]))
        if f1 > best[1]:
            best = (float(threshold), f1)
    return best
