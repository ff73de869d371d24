"""Tests of mtforge.curate.lid.backends: every backend names real FLORES sentences' languages
in FLORES-200 codes, restriction, "und", and the errors a user sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtforge.curate.lid import UNDETERMINED, LanguageIdentifier, load_identifier
from mtforge.curate.lid.training import LidTrainConfig, train_fasttext_lid
from mtforge.errors import ConfigError, InputNotFoundError, UnknownLanguageError

#: High-resource FLORES languages every packaged backend detects.
LANGS = ("eng_Latn", "deu_Latn", "fra_Latn", "spa_Latn", "ces_Latn", "rus_Cyrl", "hin_Deva", "zho_Hans",
         "jpn_Jpan", "arb_Arab")
N = 10


def devtest(shared: Path, lang: str, start: int = 0, n: int = N) -> list[str]:
    return (shared / "flores200" / "devtest" / f"{lang}.devtest").read_text(encoding="utf-8").splitlines()[start:start + n]


@pytest.fixture(scope="module")
def py3langid() -> LanguageIdentifier:
    return load_identifier("py3langid")


@pytest.fixture(scope="module")
def lingua() -> LanguageIdentifier:
    # Restricted to the test languages: the unrestricted detector loads ~1 GB of models on first
    # use (tested in test_lingua_unrestricted, marked slow).
    return load_identifier("lingua", languages=LANGS)


@pytest.fixture(scope="module")
def fasttext_model(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny fastText LID model of three languages trained on FLORES dev."""
    train = [(line, lang) for lang in ("eng_Latn", "deu_Latn", "rus_Cyrl")
             for line in (shared_data / "flores200" / "dev" / f"{lang}.dev").read_text(encoding="utf-8").splitlines()[:300]]
    return train_fasttext_lid(train, tmp_path_factory.mktemp("lid") / "tiny.bin", config=LidTrainConfig(epoch=10))


@pytest.mark.parametrize("backend", ["py3langid", "lingua"])
def test_packaged_backends_name_flores_sentences(backend: str, shared_data: Path, request: pytest.FixtureRequest) -> None:
    identifier = request.getfixturevalue(backend)
    for lang in LANGS:
        predictions = identifier.predict(devtest(shared_data, lang))
        correct = sum(code == lang for code, _ in predictions)
        assert correct >= 9, f"{backend} got {correct}/{N} {lang} sentences right: {predictions}"
        assert all(0.0 <= p <= 1.0 for _, p in predictions)


def test_lingua_unrestricted(shared_data: Path) -> None:
    identifier = load_identifier("lingua", low_accuracy=True)
    assert len(identifier.languages) == 75
    assert [code for code, _ in identifier.predict(devtest(shared_data, "deu_Latn", n=3))] == ["deu_Latn"] * 3


def test_predict_keeps_order_and_mixed_batches(py3langid: LanguageIdentifier) -> None:
    texts = ["Das ist ein ganz normaler deutscher Satz über das Wetter.", "",
             "This is an ordinary English sentence about the weather.", "Это обычное русское предложение о погоде."]
    assert [code for code, _ in py3langid.predict(texts)] == ["deu_Latn", UNDETERMINED, "eng_Latn", "rus_Cyrl"]
    assert py3langid.predict([]) == []


@pytest.mark.parametrize("backend", ["py3langid", "lingua", "fasttext"])
def test_blank_text_is_undetermined(backend: str, fasttext_model: Path) -> None:
    kwargs = {"model_path": str(fasttext_model)} if backend == "fasttext" else {"languages": ["en", "de"]}
    identifier = load_identifier(backend, **kwargs)
    assert identifier.predict(["", "   ", "\n"]) == [(UNDETERMINED, 0.0)] * 3


@pytest.mark.parametrize("backend", ["py3langid", "lingua"])
def test_restriction_answers_only_allowed_languages(backend: str, shared_data: Path) -> None:
    identifier = load_identifier(backend, languages=["eng_Latn", "de"])
    assert identifier.languages == {"eng_Latn", "deu_Latn"}
    texts = [s for lang in ("eng_Latn", "deu_Latn", "fra_Latn", "spa_Latn") for s in devtest(shared_data, lang, n=5)]
    predictions = identifier.predict(texts)
    assert {code for code, _ in predictions} <= {"eng_Latn", "deu_Latn"}
    assert [code for code, _ in predictions[:10]] == ["eng_Latn"] * 5 + ["deu_Latn"] * 5
    assert all(0.0 <= p <= 1.0 for _, p in predictions)


def test_restriction_renormalises_probabilities(shared_data: Path, py3langid: LanguageIdentifier) -> None:
    """Restricted to {eng, deu}, the probability of English text is renormalised over the two: it grows."""
    restricted = load_identifier("py3langid", languages=["eng_Latn", "deu_Latn"])
    text = devtest(shared_data, "eng_Latn", n=1)
    (_, full), = py3langid.predict(text)
    (_, narrowed), = restricted.predict(text)
    assert full <= narrowed <= 1.0


def test_backend_codes_are_mapped_to_flores(py3langid: LanguageIdentifier) -> None:
    assert {"zho_Hans", "swh_Latn", "arb_Arab", "npi_Deva"} <= py3langid.languages
    assert "zxx" in py3langid.unmapped  # py3langid's "no linguistic content" label
    assert all("_" in code for code in py3langid.languages)


def test_fasttext_backend_loads_a_trained_model(fasttext_model: Path, shared_data: Path) -> None:
    identifier = load_identifier("fasttext", model_path=str(fasttext_model))
    assert identifier.languages == {"eng_Latn", "deu_Latn", "rus_Cyrl"}
    for lang in identifier.languages:
        assert [code for code, _ in identifier.predict(devtest(shared_data, lang, n=5))] == [lang] * 5
    restricted = load_identifier("fasttext", model_path=str(fasttext_model), languages=["eng", "deu"])
    codes_probs = restricted.predict(devtest(shared_data, "rus_Cyrl", n=5))
    assert {code for code, _ in codes_probs} <= {"eng_Latn", "deu_Latn"}
    assert all(0.0 <= p <= 1.0 for _, p in codes_probs)


def test_unknown_backend_lists_the_backends() -> None:
    with pytest.raises(ConfigError, match="'langdetect'.*py3langid, lingua, fasttext"):
        load_identifier("langdetect")


def test_missing_fasttext_model(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="nope.bin"):
        load_identifier("fasttext", model_path=str(tmp_path / "nope.bin"))
    with pytest.raises(ConfigError, match="model_path"):
        load_identifier("fasttext")


def test_packaged_backend_refuses_model_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model_path"):
        load_identifier("py3langid", model_path=str(tmp_path / "model.bin"))


@pytest.mark.parametrize("backend", ["py3langid", "lingua"])
def test_restriction_to_undetectable_language_names_it_and_the_backend(backend: str) -> None:
    with pytest.raises(ConfigError, match=f"'{backend}' cannot detect bam_Latn"):
        load_identifier(backend, languages=["eng_Latn", "bam_Latn"])


def test_restriction_with_unknown_code() -> None:
    with pytest.raises(UnknownLanguageError, match="klingon"):
        load_identifier("py3langid", languages=["klingon"])


def test_unknown_option_lists_valid_options() -> None:
    with pytest.raises(ConfigError, match="fast.*low_accuracy, preload"):
        load_identifier("lingua", fast=True)
