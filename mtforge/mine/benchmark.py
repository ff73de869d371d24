"""Mining F1 on real data (``mtforge mine-eval``): recovery tasks built from Tatoeba and
FLORES-200 (:mod:`.recovery`), mined with the project's own index + margin code, scored per
language and margin function.

Thresholds are *calibrated* on FLORES-200 **dev** (long news/wiki sentences) and Multi30k
**val** (short captions) with half of the sources unpaired — the threshold that maximises
mean F1 over those tasks; with every source paired the best threshold would be "keep
everything" — and then *applied* to held-out tasks: Tatoeba and FLORES-200 devtest with
unrelated distractors (OLDI Seed, NTREX-128 and TICO-19 English), and Tatoeba with
in-domain distractors (the other Tatoeba sets' English: same domain, many paraphrases).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Sequence
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
    #: The best F1 any threshold reaches on this task, and that threshold (the ceiling of the setting).
    oracle_f1: float
    oracle_threshold: float


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


def english_distractors(shared: Path) -> list[Path]:
    """English files of the shared data used as unrelated distractors: OLDI Seed, NTREX-128, TICO-19."""
    files = [shared / "oldi_seed" / ENGLISH, shared / "ntrex128" / "src.eng", *sorted((shared / "tico19").glob("test.en.*"))]
    return [f for f in files if f.is_file()]


def _english_pool(shared: Path, english: SentenceVectors) -> list[str]:
    """The unrelated English distractor sentences, encoded into ``english``."""
    pool: list[str] = []
    for path in english_distractors(shared):
        lines = [s for s in read_lines(path) if s.strip()]
        english.add(lines)
        pool += lines
    return pool


def _tasks(testset: str, sides: dict[str, tuple[list[str], list[str]]], pool: Callable[[str], Iterable[str]],
           english: SentenceVectors, cache: EmbeddingCache, *, ratio: int, unpaired: float,
           seed: int) -> list[LanguageTask]:
    """One task per language of ``sides`` (lang → (sources, English translations)); ``pool(lang)``
    gives that language's distractors, which ``english`` must already hold."""
    tasks = []
    for lang, (src, eng) in sides.items():
        english.add(eng)
        task = recovery_task(f"{testset}.{lang}", src, eng, pool(lang), ratio=ratio, unpaired=unpaired, seed=seed)
        src_vectors = SentenceVectors(cache, lang)
        src_vectors.add(src, allow_uncovered=True)
        tasks.append(LanguageTask(_label(testset, unpaired), lang, task, src_vectors(task.src), english(task.tgt)))
    return tasks


def tatoeba_tasks(shared: str | os.PathLike[str], langs: Sequence[str], cache: EmbeddingCache, *, ratio: int = 10,
                  unpaired: float = 0.0, in_domain: bool = False, seed: int = 0) -> list[LanguageTask]:
    """Recovery tasks of Tatoeba ``langs`` (ISO 639-3, as the files name them). Distractors: the
    unrelated OLDI/NTREX/TICO English; with ``in_domain``, the other Tatoeba sets' English sides
    instead (same domain, many near-paraphrases of the gold targets: a much harder haystack)."""
    root = Path(shared) / "tatoeba_laser"
    english = SentenceVectors(cache, "eng")
    missing = [lang for lang in langs if lang not in tatoeba_languages(root)]
    if missing:
        raise InputNotFoundError(f"no Tatoeba set for {', '.join(missing)} under {root}")
    if in_domain:
        others = {lang: load_tatoeba(root, lang)[1] for lang in tatoeba_languages(root)}
        for eng in tqdm(others.values(), desc="tatoeba english", unit="set", leave=False):
            english.add(eng)
        pool: Callable[[str], Iterable[str]] = lambda lang: (s for o, e in others.items() if o != lang for s in e)  # noqa: E731
    else:
        unrelated = _english_pool(Path(shared), english)
        pool = lambda lang: unrelated  # noqa: E731
    return _tasks("tatoeba_in_domain" if in_domain else "tatoeba", {lang: load_tatoeba(root, lang) for lang in langs},
                  pool, english, cache, ratio=ratio, unpaired=unpaired, seed=seed)


def flores_tasks(shared: str | os.PathLike[str], split: str, langs: Sequence[str], cache: EmbeddingCache, *,
                 ratio: int = 10, unpaired: float = 0.0, seed: int = 0) -> list[LanguageTask]:
    """Recovery tasks of FLORES-200 ``split`` (dev or devtest) xx→English, distractors from OLDI/NTREX/TICO."""
    flores = Path(shared) / "flores200" / split
    english = SentenceVectors(cache, "eng")
    unrelated = _english_pool(Path(shared), english)
    eng = read_lines(flores / f"{ENGLISH}.{split}")
    sides = {normalise(lang): (read_lines(flores / f"{normalise(lang)}.{split}"), eng) for lang in langs}
    return _tasks(f"flores200_{split}", sides, lambda lang: unrelated, english, cache, ratio=ratio, unpaired=unpaired,
                  seed=seed)


def multi30k_tasks(shared: str | os.PathLike[str], split: str, langs: Sequence[str], cache: EmbeddingCache, *,
                   ratio: int = 10, unpaired: float = 0.0, seed: int = 0) -> list[LanguageTask]:
    """Recovery tasks of Multi30k ``split`` (short image captions) xx→English, distractors from OLDI/NTREX/TICO."""
    root = Path(shared) / "multi30k"
    english = SentenceVectors(cache, "eng")
    unrelated = _english_pool(Path(shared), english)
    eng = read_lines(root / f"{split}.en")
    sides = {lang: (read_lines(root / f"{split}.{lang}"), eng) for lang in langs}
    return _tasks(f"multi30k_{split}", sides, lambda lang: unrelated, english, cache, ratio=ratio, unpaired=unpaired,
                  seed=seed)


def calibrate(tasks: Sequence[LanguageTask], *, k: int = 4, margins: Iterable[str] = MARGINS) -> dict[str, float]:
    """The F1-maximising threshold of each margin function over ``tasks``."""
    return {margin: best_threshold([(_mine_all(t.src, t.tgt, margin, k), t.task.gold) for t in tasks])[0]
            for margin in margins}


def recovery_table(tasks: Sequence[LanguageTask], thresholds: dict[str, float], *, k: int = 4) -> list[RecoveryRow]:
    """Precision/recall/F1 of every task under every margin function at its threshold."""
    rows = []
    for t in tqdm(tasks, desc="mine", unit="task", leave=False):
        for margin, threshold in thresholds.items():
            pairs = _mine_all(t.src, t.tgt, margin, k)
            result = score_recovery(pairs, t.task.gold, threshold)
            oracle_threshold, oracle_f1 = best_threshold([(pairs, t.task.gold)])
            rows.append(RecoveryRow(t.testset, t.lang, margin, round(threshold, 4), len(t.task.gold),
                                    t.task.distractors, result.mined, round(result.precision, 4),
                                    round(result.recall, 4), round(result.f1, 4), round(oracle_f1, 4),
                                    round(oracle_threshold, 4)))
    return rows


def write_rows(rows: Sequence[object], path: str | os.PathLike[str]) -> None:
    """Write dataclass rows as CSV."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(rows[0])))  # type: ignore[call-overload]
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)  # type: ignore[call-overload]
