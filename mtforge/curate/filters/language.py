"""Language identification filter: ``language_id``."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, PrivateAttr, field_validator

from mtforge.curate.filters.base import BitextFilter
from mtforge.curate.filters.batch import Pairs, Side
from mtforge.curate.lid import BACKENDS, load_identifier
from mtforge.langcodes import normalise


class LanguageIdFilter(BitextFilter):
    """Both sides identified as their declared language (OpusFilter ``LangidFilter`` /
    ``FastTextFilter`` / ``LinguaFilter``).

    ``backend``, ``model_path`` and ``languages`` go to
    :func:`mtforge.curate.lid.load_identifier` (loaded on first use). A side passes when the
    identifier's top language is its declared language (the language part of the FLORES code
    is compared, the script is :class:`CharacterScoreFilter`'s business) with probability at
    least its threshold: ``thresholds[language]`` (keys: any language code form) or
    ``threshold``. Languages in one group of ``equivalent`` count as the same (by default
    Chinese and Arabic varieties, which identifiers confuse: py3langid calls much Mandarin
    ``wuu``); ``[]`` compares strictly. A side whose declared language the identifier cannot
    detect is not checked (probability 1).

    Score: per side ``p`` (probability of the declared language, 0 when another language or
    none is identified) when it passes, ``p - 1`` when it fails; the pair scores the lower
    side. So kept pairs score in [0, 1] and rejected ones in [-1, 0) (-1: another language).
    Accepted when the score is >= 0. Unlike OpusFilter, an empty side fails (OpusFilter lets
    empty lines through) and the threshold is inclusive on unrounded probabilities.
    """

    name = "language_id"
    backend: str = "py3langid"
    threshold: float = Field(0.0, ge=0, le=1)
    thresholds: dict[str, float] = {}
    equivalent: list[list[str]] = [["zho", "wuu", "yue"], ["arb", "arq", "ary", "arz"]]
    model_path: str | None = None
    languages: list[str] | None = None
    _identifier: Any = PrivateAttr(default=None)

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in BACKENDS:
            raise ValueError(f"unknown LID backend; backends: {', '.join(BACKENDS)}")
        return value

    @field_validator("thresholds")
    @classmethod
    def _by_language(cls, value: dict[str, float]) -> dict[str, float]:
        out = {}
        for code, threshold in value.items():
            if not 0 <= threshold <= 1:
                raise ValueError(f"threshold of {code!r} must lie in [0, 1], got {threshold}")
            out[_language(normalise(code))] = threshold
        return out

    @field_validator("equivalent")
    @classmethod
    def _groups(cls, value: list[list[str]]) -> list[list[str]]:
        groups = [[_language(normalise(code)) for code in group] for group in value]
        members = [lang for group in groups for lang in group]
        if len(members) != len(set(members)):
            raise ValueError("a language may be in one group only")
        return groups

    @cached_property
    def _canonical(self) -> dict[str, str]:
        """Language → the first language of its ``equivalent`` group."""
        return {lang: group[0] for group in self.equivalent for lang in group}

    def _group(self, language: str) -> str:
        return self._canonical.get(language, language)

    @property
    def identifier(self) -> Any:
        """The language identifier, loaded on first use."""
        if self._identifier is None:
            self._identifier = load_identifier(self.backend, model_path=self.model_path, languages=self.languages)
        return self._identifier

    def _score(self, pairs: Pairs) -> np.ndarray:
        # Each distinct text is identified once: multi-way corpora repeat a side across pairs.
        distinct = pc.unique(pa.concat_arrays([side.text.cast(pa.large_string()) for side in pairs.sides]))
        predictions = self.identifier.predict(distinct.to_pylist())
        predicted = np.array([self._group(_language(code)) for code, _ in predictions], dtype=object)
        probability = np.array([p for _, p in predictions], dtype=np.float64)
        detectable = {_language(code) for code in getattr(self.identifier, "languages", ())}

        def side_score(side: Side) -> np.ndarray:
            codes, index = side.codes
            languages = [_language(code) for code in codes]
            declared = np.array([self._group(lang) for lang in languages], dtype=object)[index]
            need = np.array([self.thresholds.get(lang, self.threshold) for lang in languages], dtype=np.float64)[index]
            checked = np.array([not detectable or lang in detectable for lang in languages], dtype=bool)[index]
            found = pc.index_in(side.text.cast(pa.large_string()), distinct).to_numpy(zero_copy_only=False)
            p = np.where(checked, np.where(predicted[found] == declared, probability[found], 0.0), 1.0)
            return np.where((p > 0) & (p >= need), p, p - 1)

        return np.minimum(side_score(pairs.src), side_score(pairs.tgt))

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores >= 0


def _language(code: str) -> str:
    """The language part of a FLORES-200 code (``"eng_Latn"`` → ``"eng"``)."""
    return code.partition("_")[0]
