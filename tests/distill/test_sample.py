"""Reading monolingual source text and sampling it (with and without replacement)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mtforge.corpus import CorpusWriter
from mtforge.distill.sample import mono_fingerprint, read_mono, sample_indices
from mtforge.errors import ConfigError, InputNotFoundError

EN, DE = "eng_Latn", "deu_Latn"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """``train.en`` (an empty line 3), ``train.de`` and ``notes.txt`` (no language part)."""
    (tmp_path / "train.en").write_text("a cat\na dog\n\na bird\n", encoding="utf-8")
    (tmp_path / "train.de").write_text("eine Katze\nein Hund\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not text to sample\n", encoding="utf-8")
    return tmp_path


def test_a_file_gives_its_usable_lines_with_file_and_line_as_origin(source: Path) -> None:
    mono = read_mono(str(source / "train.en"), "en")
    assert mono.lang == EN
    assert mono.texts == ["a cat", "a dog", "a bird"]
    assert mono.origins == ["train.en:1", "train.en:2", "train.en:4"]
    assert mono.excluded == [("train.en:3", "empty", "")]


def test_a_directory_or_a_list_gives_each_language_its_own_files(source: Path) -> None:
    assert read_mono(str(source), "de").texts == ["eine Katze", "ein Hund"]
    both = f"{source / 'train.de'}, {source / 'train.en'}"
    assert read_mono(both, "en").texts == ["a cat", "a dog", "a bird"]
    assert read_mono(both, "deu").origins == ["train.de:1", "train.de:2"]


def test_a_mono_corpus_gives_its_rows_of_the_language(tmp_path: Path) -> None:
    with CorpusWriter(tmp_path / "mono", kind="mono") as writer:
        writer.write([{"text": "hello", "lang": "en", "origin": "web:1"},
                      {"text": "hallo", "lang": "de", "origin": "web:2"}])
    mono = read_mono(str(tmp_path / "mono"), "en")
    assert (mono.texts, mono.origins) == (["hello"], ["web:1"])


@pytest.mark.parametrize("replace", [True, False])
def test_sampling_is_seeded_per_language(replace: bool) -> None:
    first = sample_indices(50, 20, seed=1, lang=EN, replace=replace)
    assert first.tolist() == sample_indices(50, 20, seed=1, lang=EN, replace=replace).tolist()
    assert first.tolist() != sample_indices(50, 20, seed=2, lang=EN, replace=replace).tolist()
    assert first.tolist() != sample_indices(50, 20, seed=1, lang=DE, replace=replace).tolist()
    assert len(first) == 20 and first.min() >= 0 and first.max() < 50


def test_with_replacement_repeats_lines_and_without_covers_every_line_first() -> None:
    drawn = sample_indices(100, 100, seed=3, lang=EN, replace=True)
    assert len(np.unique(drawn)) < 80          # about 63 % distinct
    covering = sample_indices(100, 250, seed=3, lang=EN, replace=False)
    assert np.bincount(covering, minlength=100).tolist().count(2) == 50
    assert set(np.bincount(covering, minlength=100).tolist()) == {2, 3}
    assert len(np.unique(sample_indices(100, 60, seed=3, lang=EN, replace=False))) == 60


def test_bad_sources_are_named(source: Path) -> None:
    with pytest.raises(ConfigError, match="mono source is empty"):
        read_mono(" , ", "en")
    with pytest.raises(InputNotFoundError, match="missing.en"):
        read_mono(str(source / "missing.en"), "en")
    with pytest.raises(ConfigError, match="notes.txt.*no language part"):
        read_mono(str(source / "notes.txt"), "en")
    (source / "blank.fr").write_text("\n  \n", encoding="utf-8")
    with pytest.raises(InputNotFoundError, match=r"blank.fr.*no usable fra_Latn line \(2 empty"):
        read_mono(str(source / "blank.fr"), "fr")
    with pytest.raises(InputNotFoundError, match="no usable ces_Latn line"):
        read_mono(str(source), "cs")
    with pytest.raises(ConfigError, match="cannot sample 5 eng_Latn lines from none"):
        sample_indices(0, 5, seed=1, lang=EN)


def test_the_fingerprint_follows_content(source: Path) -> None:
    before = mono_fingerprint(str(source / "train.en"))
    assert before == mono_fingerprint(str(source / "train.en"))
    (source / "train.en").write_text("a cat\na dog\n\na birds\n", encoding="utf-8")
    assert mono_fingerprint(str(source / "train.en")) != before
    with pytest.raises(InputNotFoundError, match="nowhere.en"):
        mono_fingerprint(str(source / "nowhere.en"))
