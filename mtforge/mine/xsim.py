"""xsim: the similarity-search error rate of an encoder on line-aligned test sets.

For every source sentence the best target is looked up among all targets (by cosine or by
margin score over ``k`` neighbours, as LASER's xsim does); the error rate is the share of
sources whose best target is not their translation. Lower is better; 0 is perfect.
"""

from __future__ import annotations

import numpy as np

from mtforge.errors import CorpusFormatError
from mtforge.mine import index as faiss_index
from mtforge.mine.margin import MarginFunction, _best, neighbourhood_mean


def xsim_error(src: np.ndarray, tgt: np.ndarray, *, function: MarginFunction = "ratio", k: int = 4) -> float:
    """Share of ``src[i]`` whose best match among ``tgt`` is not ``tgt[i]`` (exact search)."""
    if len(src) != len(tgt):
        raise CorpusFormatError(f"xsim needs aligned sets: {len(src)} source vs {len(tgt)} target vectors")
    if len(src) == 0:
        raise CorpusFormatError("xsim needs at least one sentence pair")
    k = min(k, len(src))
    tgt_index = faiss_index.new_index("Flat", tgt.shape[1])
    faiss_index.add(tgt_index, tgt)
    src_index = faiss_index.new_index("Flat", src.shape[1])
    faiss_index.add(src_index, src)
    forward = faiss_index.search(tgt_index, src, k)
    backward = faiss_index.search(src_index, tgt, k)
    best, _ = _best(forward, neighbourhood_mean(forward), neighbourhood_mean(backward), function)
    return float((best != np.arange(len(src))).mean())


def symmetric_xsim(a: np.ndarray, b: np.ndarray, *, k: int = 4) -> dict[str, float]:
    """xsim error in percent of aligned sets ``a``/``b`` by cosine (``absolute``) and by ratio
    margin (``ratio``), each the mean of the a→b and b→a searches (LASER's convention)."""
    return {fn: (xsim_error(a, b, function=fn, k=k) + xsim_error(b, a, function=fn, k=k)) / 2 * 100
            for fn in ("absolute", "ratio")}
