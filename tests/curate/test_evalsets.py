"""Evaluation sets for decontamination: the shared benchmarks and user-given sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtforge.curate.evalsets import BENCHMARKS, load_eval_sets, load_user_eval_set
from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError, UnknownLanguageError


def first_line(path: Path) -> str:
    return path.read_text(encoding="utf-8").splitlines()[0].strip()


def test_flores_devtest_has_every_language_file_with_normalised_codes(shared_data: Path) -> None:
    sets = load_eval_sets(shared_data, ["flores200-devtest"])
    devtest = sets["flores200-devtest"]
    folder = shared_data / "flores200" / "devtest"
    assert {lang for lang, _ in devtest} == {p.name.split(".")[0] for p in folder.glob("*.devtest")}
    assert ("eng_Latn", first_line(folder / "eng_Latn.devtest")) in devtest
    assert sum(lang == "eng_Latn" for lang, _ in devtest) == 1012


def test_ntrex_tico_and_multi30k_codes_are_normalised(shared_data: Path) -> None:
    sets = load_eval_sets(shared_data, ["ntrex128", "tico19", "multi30k-val"])
    assert ("eng_Latn", first_line(shared_data / "ntrex128" / "src.eng")) in sets["ntrex128"]
    assert ("npi_Deva", first_line(shared_data / "ntrex128" / "ref.nep")) in sets["ntrex128"]
    assert ("npi_Deva", first_line(shared_data / "tico19" / "test.ne")) in sets["tico19"]
    assert ("eng_Latn", first_line(shared_data / "tico19" / "test.en.ne")) in sets["tico19"]
    assert ("deu_Latn", first_line(shared_data / "multi30k" / "val.de")) in sets["multi30k-val"]
    assert {lang for lang, _ in sets["multi30k-val"]} == {"eng_Latn", "deu_Latn", "fra_Latn", "ces_Latn"}


def test_repeated_sentences_are_kept_once(shared_data: Path) -> None:
    # TICO-19 ships its English side once per language pair (7 files of 2,100 lines).
    tico = load_eval_sets(shared_data, ["tico19"])["tico19"]
    english = [s for lang, s in tico if lang == "eng_Latn"]
    assert len(english) == len(set(english))
    assert 2100 <= len(english) < 7 * 2100


def test_default_is_every_known_benchmark(shared_data: Path) -> None:
    assert list(load_eval_sets(shared_data)) == list(BENCHMARKS)


def test_unknown_benchmark_lists_the_known_ones(shared_data: Path) -> None:
    with pytest.raises(ConfigError, match="flores200-devtest"):
        load_eval_sets(shared_data, ["flores-devtest"])


def test_missing_benchmark_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match=str(tmp_path / "ntrex128")):
        load_eval_sets(tmp_path, ["ntrex128"])
    (tmp_path / "ntrex128").mkdir()
    (tmp_path / "ntrex128" / "LICENSE.md").write_text("CC BY-SA 4.0\n")
    with pytest.raises(InputNotFoundError, match="no file"):
        load_eval_sets(tmp_path, ["ntrex128"])


def test_user_file_language_from_suffix_or_argument(tmp_path: Path) -> None:
    path = tmp_path / "mine.de"
    path.write_text("Ein Hund läuft über die Wiese.\n\n  Zwei Kinder spielen im Sand. \n", encoding="utf-8")
    assert load_user_eval_set(path) == [("deu_Latn", "Ein Hund läuft über die Wiese."),
                                        ("deu_Latn", "Zwei Kinder spielen im Sand.")]
    renamed = tmp_path / "mine.txt"
    path.rename(renamed)
    assert load_user_eval_set(renamed, lang="deu")[0] == ("deu_Latn", "Ein Hund läuft über die Wiese.")
    with pytest.raises(UnknownLanguageError, match="mine.txt"):
        load_user_eval_set(renamed)


def test_user_directory_of_language_files(tmp_path: Path) -> None:
    (tmp_path / "news.en").write_text("A dog runs across the meadow.\n", encoding="utf-8")
    (tmp_path / "news.fr").write_text("Un chien traverse la prairie en courant.\n", encoding="utf-8")
    (tmp_path / ".hidden").write_text("ignored\n")
    assert load_user_eval_set(tmp_path) == [("eng_Latn", "A dog runs across the meadow."),
                                            ("fra_Latn", "Un chien traverse la prairie en courant.")]


def test_user_set_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="missing.de"):
        load_user_eval_set(tmp_path / "missing.de")
    with pytest.raises(InputNotFoundError, match="has no file"):
        load_user_eval_set(tmp_path)
    bad = tmp_path / "bad.de"
    bad.write_bytes("Gut.\n".encode() + b"\xff\xfe kaputt\n")
    with pytest.raises(CorpusFormatError, match=r"bad\.de:2"):
        load_user_eval_set(bad)
