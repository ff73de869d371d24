"""Mining F1 on real data (``mtforge mine-eval``): recovery tasks built from Tatoeba and
FLORES-200 (:mod:`.recovery`), mined with the project's own index + margin code, scored per
language and margin function.

Thresholds are *calibrated* on FLORES-200 **dev** tasks with half of the sources unpaired
(the threshold that maximises mean F1 over the calibration languages; with every source
paired the best threshold would be "keep everything") and then *applied* to held-out tasks: Tatoeba (English
distractors are other Tatoeba sets' English sentences — same domain, hard) and FLORES-200
devtest (distractors from OLDI Seed, NTREX-128 and TICO-19 English).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mtforge.embed.cache import EmbeddingCache
from mtforge.errors import InputNotFoundError
from mtforge.langcodes import normalise
from mtforge.mine.build import mine_vectors
from mtforge.mine.margin import MARGINS, MinedPairs
from mtforge.mine.recovery import RecoveryTask, best_threshold, recovery_task, score_recovery
from mtforge.mine.tatoeba import load_tatoeba, read_lines, tatoeba_languages

ENGLISH = "eng_Latn"


class SentenceVectors:
    """Vectors of individual sentences of one language, filled from whole files through a cache."""

    def __init__(self, cache: EmbeddingCache, lang: str) -> None:
        self.cache, self.lang, self._vectors = cache, lang, {}

    def add(self, sentences: Sequence[str], *, allow_uncovered: bool = False) -> None:
        """Encode ``sentences`` (as one cached list) and remember each one's vector."""
        vectors = self.cache.encode(list(sentences), self.lang, allow_uncovered=allow_uncovered)
        self._vectors.update(zip(sentences, vectors))

    def __call__(self, sentences: Sequence[str]) -> np.ndarray:
        """The ``[n, dim]`` vectors of ``sentences`` (each must have been added)."""
        return np.stack([self._vectors[s] for s in sentences]).astype(np.float32)


@dataclass(frozen=True)
class RecoveryRow:
    """One line of the F1 table."""

    testset: str
    lang: str
    margin: str
    threshold: float
    pairs: int
    distractors: int
    mined: int
    precision: float
    recall: float
    f1: float


def _mine_all(src: np.ndarray, tgt: np.ndarray, margin: str, k: int) -> MinedPairs:
    return mine_vectors([src], [tgt], k=k, function=margin, mode="union", threshold=float("-inf"))  # type: ignore[arg-type]


@dataclass
class LanguageTask:
    """A recovery task with the vectors of both sides."""

    testset: str
    lang: str
    task: RecoveryTask
    src: np.ndarray
    tgt: np.ndarray


def _label(testset: str, unpaired: float) -> str:
    return f"{testset}_unpaired{round(unpaired * 100)}" if unpaired else testset


def tatoeba_tasks(root: str | os.PathLike[str], langs: Sequence[str], cache: EmbeddingCache, *, ratio: int = 10,
                  unpaired: float = 0.0, seed: int = 0) -> list[LanguageTask]:
    """Recovery tasks of Tatoeba ``langs``; distractors: the other Tatoeba sets' English sides."""
    english = SentenceVectors(cache, "eng")
    sides = {}
    for lang in tqdm(tatoeba_languages(root), desc="tatoeba english", unit="set", leave=False):
        src, eng = load_tatoeba(root, lang)
        english.add(eng)
        sides[lang] = (src, eng)
    tasks = []
    for lang in langs:
        if lang not in sides:
            raise InputNotFoundError(f"no Tatoeba set for {lang!r} under {root}")
        src, eng = sides[lang]
        others = (s for other, (_, e) in sides.items() if other != lang for s in e)
        task = recovery_task(f"tatoeba.{lang}", src, eng, others, ratio=ratio, unpaired=unpaired, seed=seed)
        src_vectors = SentenceVectors(cache, lang)
        src_vectors.add(src, allow_uncovered=True)
        tasks.append(LanguageTask(_label("tatoeba", unpaired), lang, task, src_vectors(task.src), english(task.tgt)))
    return tasks


def english_distractors(shared: Path) -> list[Path]:
    """English files of the shared data that are not FLORES: OLDI Seed, NTREX-128, TICO-19."""
    files = [shared / "oldi_seed" / ENGLISH, shared / "ntrex128" / "src.eng", *sorted((shared / "tico19").glob("test.en.*"))]
    return [f for f in files if f.is_file()]


def flores_tasks(shared: str | os.PathLike[str], split: str, langs: Sequence[str], cache: EmbeddingCache, *,
                 ratio: int = 10, unpaired: float = 0.0, seed: int = 0) -> list[LanguageTask]:
    """Recovery tasks of FLORES-200 ``split`` (dev or devtest) xx→English, distractors from OLDI/NTREX/TICO."""
    shared = Path(shared)
    english = SentenceVectors(cache, "eng")
    pool: list[str] = []
    for path in english_distractors(shared):
        lines = [s for s in read_lines(path) if s.strip()]
        english.add(lines)
        pool += lines
    flores = shared / "flores200" / split
    eng = read_lines(flores / f"{ENGLISH}.{split}")
    english.add(eng)
    tasks = []
    for lang in langs:
        code = normalise(lang)
        src = read_lines(flores / f"{code}.{split}")
        task = recovery_task(f"flores200_{split}.{code}", src, eng, pool, ratio=ratio, unpaired=unpaired, seed=seed)
        src_vectors = SentenceVectors(cache, code)
        src_vectors.add(src, allow_uncovered=True)
        tasks.append(LanguageTask(_label(f"flores200_{split}", unpaired), code, task, src_vectors(task.src), english(task.tgt)))
    return tasks


def calibrate(tasks: Sequence[LanguageTask], *, k: int = 4, margins: Iterable[str] = MARGINS) -> dict[str, float]:
    """The F1-maximising threshold of each margin function over ``tasks``."""
    return {margin: best_threshold([(_mine_all(t.src, t.tgt, margin, k), t.task.gold) for t in tasks])[0]
            for margin in margins}


def recovery_table(tasks: Sequence[LanguageTask], thresholds: dict[str, float], *, k: int = 4) -> list[RecoveryRow]:
    """Precision/recall/F1 of every task under every margin function at its threshold."""
    rows = []
    for t in tqdm(tasks, desc="mine", unit="task", leave=False):
        for margin, threshold in thresholds.items():
            result = score_recovery(_mine_all(t.src, t.tgt, margin, k), t.task.gold, threshold)
            rows.append(RecoveryRow(t.testset, t.lang, margin, round(threshold, 4), len(t.task.gold),
                                    t.task.distractors, result.mined, round(result.precision, 4),
                                    round(result.recall, 4), round(result.f1, 4)))
    return rows


def write_rows(rows: Sequence[object], path: str | os.PathLike[str]) -> None:
    """Write dataclass rows as CSV."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(rows[0])))  # type: ignore[call-overload]
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)  # type: ignore[call-overload]
