"""The content-addressed embedding cache: the same (encoder, language, sentences) is encoded once
and read from its .npy file afterwards; any change to the three is a miss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mtforge.embed.cache import EmbeddingCache
from mtforge.embed.encoders import Encoder, UncoveredLanguageError


class Counting(Encoder):
    """The cache's collaborator: records how many sentences it was asked to embed; vectors are a
    deterministic function of the text; sentences over ``max_tokens`` characters count as truncated."""

    dim, max_tokens = 4, 8

    def __init__(self, name: str = "counting", languages: frozenset[str] | None = None) -> None:
        self.name = name
        self.languages = languages
        self.embedded: list[str] = []

    def _embed(self, sentences: list[str]) -> tuple[np.ndarray, int]:
        self.embedded += sentences
        vectors = np.array([[len(s), s.count("a") + 1, sum(map(ord, s)) % 7, 1] for s in sentences], np.float32)
        return vectors, sum(len(s) > self.max_tokens for s in sentences)


def test_second_encode_of_the_same_input_reads_the_file(tmp_path: Path) -> None:
    encoder = Counting()
    first = EmbeddingCache(encoder, tmp_path).encode(["a", "bb", "ccc"], "de")
    assert encoder.embedded == ["a", "bb", "ccc"]
    assert len(list(tmp_path.glob("*.npy"))) == 1
    assert first.shape == (3, 4) and first.dtype == np.float32
    # A new cache object over the same folder (another run) hits the file: nothing is embedded.
    again = EmbeddingCache(encoder, tmp_path).encode(["a", "bb", "ccc"], "de")
    assert encoder.embedded == ["a", "bb", "ccc"]
    np.testing.assert_array_equal(again, first)
    assert again.dtype == np.float32
    assert not list(tmp_path.glob("*.tmp*"))  # no temporary file left behind


@pytest.mark.parametrize("changed", [["a", "bb", "ccd"], ["a", "bb"], ["a", "bb", "ccc", "d"], ["bb", "a", "ccc"],
                                     ["a", "bb", "ccc "], []])
def test_a_changed_sentence_list_misses(tmp_path: Path, changed: list[str]) -> None:
    encoder = Counting()
    cache = EmbeddingCache(encoder, tmp_path)
    cache.encode(["a", "bb", "ccc"], "de")
    encoder.embedded.clear()
    vectors = cache.encode(changed, "de")
    assert encoder.embedded == changed
    assert vectors.shape == (len(changed), 4)
    np.testing.assert_array_equal(vectors, Counting().encode(changed, "de", progress=False))


def test_the_key_includes_the_language_and_the_encoder_name(tmp_path: Path) -> None:
    sentences = ["a", "bb"]
    de = Counting()
    EmbeddingCache(de, tmp_path).encode(sentences, "de")
    EmbeddingCache(de, tmp_path).encode(sentences, "fr")
    assert de.embedded == sentences * 2
    other = Counting(name="other-encoder")
    EmbeddingCache(other, tmp_path).encode(sentences, "de")
    assert other.embedded == sentences
    assert len(list(tmp_path.glob("*.npy"))) == 3


def test_no_root_never_caches(tmp_path: Path) -> None:
    encoder = Counting()
    cache = EmbeddingCache(encoder, None)
    cache.encode(["a"], "de")
    cache.encode(["a"], "de")
    assert encoder.embedded == ["a", "a"]


def test_truncation_is_counted_and_coverage_is_checked(tmp_path: Path) -> None:
    encoder = Counting(languages=frozenset({"deu", "eng"}))
    cache = EmbeddingCache(encoder, tmp_path / "nested" / "cache")  # created on first write
    cache.encode(["short", "much longer than eight"], "de")
    assert cache.truncated == 1
    with pytest.raises(UncoveredLanguageError, match="scn"):
        cache.encode(["a"], "scn")
    assert cache.encode(["a"], "scn", allow_uncovered=True).shape == (1, 4)


def test_sentence_boundaries_are_part_of_the_key(tmp_path: Path) -> None:
    # ["a", "b"] and ["a\nb"] must not share an entry (a 2-row array for a 1-sentence input).
    cache = EmbeddingCache(Counting(), tmp_path)
    cache.encode(["a", "b"], "de")
    assert cache.encode(["a\nb"], "de").shape == (1, 4)
