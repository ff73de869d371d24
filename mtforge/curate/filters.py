"""Bitext filters: one score per sentence pair, and a threshold that accepts or rejects it.

A batch of pairs is a ``pyarrow.RecordBatch`` or ``Table`` with string columns ``src``,
``tgt``, ``src_lang`` and ``tgt_lang`` (FLORES-200 codes such as ``eng_Latn``; any form
:func:`mtforge.langcodes.normalise` accepts); other columns are ignored, a null text reads as
empty. Every filter is a pydantic model of its parameters with a registry ``name`` and

* ``score(batch) -> numpy.ndarray`` — float64, one score per pair;
* ``accept(scores) -> numpy.ndarray`` — bool, the threshold comparison.

Scores and default thresholds follow OpusFilter 3.3.1 (``opusfilter/filters.py``) wherever
OpusFilter has the filter, so that decisions on the same pairs are the same; where a filter
checks each side, its score is the *worst* side's. ``docs/filters.md`` maps every filter to
its OpusFilter class and bicleaner-hardrules rule.

========================  =============================================  ==================
name                      score (per pair)                               accepted when
========================  =============================================  ==================
``length``                the offending side's length (see the class)    min <= s <= max
``length_ratio``          longer / shorter length (inf: one side empty)  s < threshold
``long_word``             longest word of either side, in characters     s < threshold
``alphabet_ratio``        lower of the sides' alphabetic fractions       s >= threshold
``character_score``       lower of the sides' in-script fractions        s >= threshold
``language_id``           lower of the sides' declared-language probs    s >= 0
``terminal_punctuation``  -log(1 + terminal punctuation mismatch)        s >= threshold
``non_zero_numerals``     similarity of the sides' digits 1-9            s >= threshold
``repetition``            most repetitions of a substring on a side      s < threshold
``html_tag``              sides holding an HTML tag (0, 1, 2)            s == 0
``identical``             1 when the sides' letters are the same         s == 0
``url_email``             sides holding a URL or e-mail address          s == 0
``regexp``                sides matching ``pattern`` (0, 1, 2)           see the class
========================  =============================================  ==================

Speed: the texts of a side are decoded once into one codepoint array (:class:`Side`) and
most scores are numpy reductions over it; per-pair Python runs only where it cannot be
avoided — on the few candidate pairs a vectorised pre-check lets through (``repetition``,
``html_tag``, ``identical``, ``non_zero_numerals``) and in language identification.
"""

from __future__ import annotations

import difflib
import math
import unicodedata
from functools import cached_property, lru_cache
from html.parser import HTMLParser
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import regex
from pydantic import Field, PrivateAttr, field_validator

from mtforge.curate import scripts
from mtforge.curate.lid import BACKENDS, load_identifier
from mtforge.errors import ConfigError, CorpusFormatError, UnknownLanguageError
from mtforge.langcodes import normalise
from mtforge.stage import StageConfig

#: The columns a batch of pairs must have.
COLUMNS = ("src", "tgt", "src_lang", "tgt_lang")

# Character classes, one bit each in :func:`char_flags`.
SPACE = 1  # str.isspace(): what str.split() splits on
WHITE_SPACE = 2  # Unicode White_Space (the regex module's \s): what OpusFilter removes
ALPHABETIC = 4  # Unicode Alphabetic
TERMINAL = 8  # . ? ! … (OpusFilter's terminal punctuation)
NON_ZERO_DIGIT = 16  # ASCII 1-9 (OpusFilter's non-zero numerals)

_TERMINAL_PUNCTUATION = ".?!…"


@lru_cache(maxsize=1)
def char_flags() -> np.ndarray:
    """uint8 per codepoint (length 0x110000): the OR of the class bits above that it has."""
    flags = np.zeros(0x110000, np.uint8)
    flags[[c for c in range(0x3001) if chr(c).isspace()]] |= SPACE
    flags[scripts.property_codepoints(r"\s")] |= WHITE_SPACE
    flags[scripts.alphabetic_table()] |= ALPHABETIC
    flags[[ord(c) for c in _TERMINAL_PUNCTUATION]] |= TERMINAL
    flags[ord("1"):ord("9") + 1] |= NON_ZERO_DIGIT
    return flags


def _string_column(batch: pa.RecordBatch | pa.Table, name: str) -> pa.Array:
    """Column ``name`` as one non-null (large) string array; nulls read as ``""``."""
    if name not in batch.schema.names:
        raise CorpusFormatError(f"a batch of pairs needs column {name!r}; it has {', '.join(batch.schema.names)}")
    column = batch.column(name)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        try:
            column = column.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise CorpusFormatError(f"column {name!r} must hold strings, not {column.type}") from None
    return column.fill_null("") if column.null_count else column


def _decode(text: pa.Array) -> np.ndarray:
    """The codepoints (uint32) of all strings of ``text``, one after the other."""
    data = text.buffers()[2]
    if data is None or not len(text):
        return np.empty(0, np.uint32)
    width = np.int64 if pa.types.is_large_string(text.type) else np.int32
    offsets = np.frombuffer(text.buffers()[1], width)[text.offset:text.offset + len(text) + 1]
    raw = memoryview(data)[int(offsets[0]):int(offsets[-1])]
    return np.frombuffer(str(raw, "utf-8").encode("utf-32-le"), "<u4")


class Side:
    """One side (source or target) of a batch of pairs, with the views filters share.

    Every view is computed on first use and kept: the codepoints of all texts one after the
    other (:attr:`codepoints`, text ``i`` is ``codepoints[offsets[i]:offsets[i + 1]]``), their
    character classes, words and languages.
    """

    def __init__(self, text: pa.Array, lang: pa.Array, column: str) -> None:
        self.text = text
        self.lang = lang
        self.column = column

    def __len__(self) -> int:
        return len(self.text)

    def take(self, rows: np.ndarray) -> "Side":
        """The side restricted to ``rows`` (indices), in that order."""
        indices = pa.array(rows, pa.int64())
        return Side(self.text.take(indices), self.lang.take(indices), self.column)

    def strings(self, rows: np.ndarray) -> list[str]:
        """The texts of ``rows`` as Python strings."""
        return self.text.take(pa.array(rows, pa.int64())).to_pylist()

    @cached_property
    def codepoints(self) -> np.ndarray:
        """The codepoints (uint32) of all texts, one after the other."""
        return _decode(self.text)

    @cached_property
    def lengths(self) -> np.ndarray:
        """Characters (codepoints) per text, int64."""
        return pc.utf8_length(self.text).to_numpy(zero_copy_only=False).astype(np.int64)

    @cached_property
    def offsets(self) -> np.ndarray:
        """Where each text starts in :attr:`codepoints` (int64), and the total at the end."""
        return np.concatenate([[0], np.cumsum(self.lengths)])

    @cached_property
    def flags(self) -> np.ndarray:
        """:func:`char_flags` of every codepoint."""
        return char_flags()[self.codepoints]

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Per text, the sum of the per-codepoint ``values``: int64, so a bool mask counts;
        uint64 values sum modulo 2**64."""
        dtype = np.uint64 if values.dtype == np.uint64 else np.int64
        nonempty = self.lengths > 0
        out = np.zeros(len(self), dtype)
        if nonempty.any():  # reduceat sums from each start to the next; empty texts have none
            out[nonempty] = np.add.reduceat(values, self.offsets[:-1][nonempty], dtype=dtype)
        return out

    def count_flag(self, flag: int) -> np.ndarray:
        """Per text, how many of its characters have the :func:`char_flags` bit ``flag``."""
        return self.sums((self.flags & flag) != 0)

    @cached_property
    def _word_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per codepoint: (first, last) character of a word — a maximal run of
        non-``isspace`` characters within a text, as ``str.split()`` finds them."""
        word = (self.flags & SPACE) == 0
        nonempty = self.lengths > 0
        text_first, text_last = self.offsets[:-1][nonempty], self.offsets[1:][nonempty] - 1
        first, last = word.copy(), word.copy()
        first[1:] &= ~word[:-1]
        first[text_first] = word[text_first]
        last[:-1] &= ~word[1:]
        last[text_last] = word[text_last]
        return first, last

    @cached_property
    def word_counts(self) -> np.ndarray:
        """Words per text (``len(text.split())``), int64."""
        return self.sums(self._word_bounds[0])

    @cached_property
    def longest_words(self) -> np.ndarray:
        """Characters of the longest word per text (0 without words), int64."""
        starts, ends = (np.flatnonzero(bounds) for bounds in self._word_bounds)
        longest = np.zeros(len(self), np.int64)
        np.maximum.at(longest, np.searchsorted(self.offsets, starts, "right") - 1, ends - starts + 1)
        return longest

    @cached_property
    def codes(self) -> tuple[list[str], np.ndarray]:
        """(distinct FLORES-200 codes of the side, index into them per text). Raises
        :class:`UnknownLanguageError` naming the column and the code it cannot normalise."""
        distinct = pc.unique(self.lang)
        try:
            codes = [normalise(code) for code in distinct.to_pylist()]
        except UnknownLanguageError as exc:
            raise UnknownLanguageError(f"column {self.column!r}: {exc}") from None
        return codes, pc.index_in(self.lang, distinct).to_numpy(zero_copy_only=False)

    @cached_property
    def scripts(self) -> tuple[list[str], np.ndarray]:
        """(distinct ISO 15924 scripts of the side, index into them per text)."""
        codes, index = self.codes
        distinct = sorted({scripts.script_code(code) for code in codes})
        return distinct, np.array([distinct.index(scripts.script_code(code)) for code in codes], np.int64)[index]

    @cached_property
    def chars_per_word(self) -> np.ndarray:
        """Per text: :data:`scripts.CHARS_PER_WORD` of its script, 0 for a script written with
        spaces."""
        distinct, index = self.scripts
        return np.array([scripts.CHARS_PER_WORD.get(script, 0.0) for script in distinct], np.float64)[index]

    @cached_property
    def in_script(self) -> np.ndarray:
        """Per codepoint: written in the script of its text's language (see
        :func:`scripts.in_script`)."""
        distinct, index = self.scripts
        if len(distinct) == 1:
            return scripts.in_script(self.codepoints, distinct[0])
        char_script = np.repeat(index, self.lengths)
        inside = np.zeros(len(self.codepoints), bool)
        for number, script in enumerate(distinct):
            chars = char_script == number
            inside[chars] = scripts.in_script(self.codepoints[chars], script)
        return inside

    def lengths_in(self, unit: str) -> np.ndarray:
        """Per text, its length in ``unit``: ``word`` (``str.split()``), ``char`` (codepoints)
        or ``auto``: words, or for a script written without spaces its non-space characters
        over :attr:`chars_per_word` (English-word equivalents, a float)."""
        if unit == "word":
            return self.word_counts
        if unit == "char":
            return self.lengths
        unspaced = self.chars_per_word > 0
        if not unspaced.any():
            return self.word_counts
        characters = self.lengths - self.count_flag(SPACE)
        return np.where(unspaced, characters / np.where(unspaced, self.chars_per_word, 1.0), self.word_counts)


class Pairs:
    """A batch of sentence pairs as filters read it: a source and a target :class:`Side`."""

    def __init__(self, src: Side, tgt: Side) -> None:
        self.src, self.tgt = src, tgt

    @classmethod
    def of(cls, batch: "pa.RecordBatch | pa.Table | Pairs") -> "Pairs":
        """Wrap ``batch`` (returned as is when already :class:`Pairs`). Raises
        :class:`CorpusFormatError` naming a missing or non-string column."""
        if isinstance(batch, Pairs):
            return batch
        src, tgt, src_lang, tgt_lang = (_string_column(batch, name) for name in COLUMNS)
        return cls(Side(src, src_lang, "src_lang"), Side(tgt, tgt_lang, "tgt_lang"))

    def __len__(self) -> int:
        return len(self.src)

    @property
    def sides(self) -> tuple[Side, Side]:
        return self.src, self.tgt

    def take(self, rows: np.ndarray) -> "Pairs":
        """The pairs at ``rows`` (indices), in that order."""
        return Pairs(self.src.take(rows), self.tgt.take(rows))


#: Every filter class by registry name (filled by :class:`BitextFilter` subclasses).
FILTERS: dict[str, type["BitextFilter"]] = {}


class BitextFilter(StageConfig):
    """Base of every filter: its fields are its parameters (unknown keys are an error).

    Subclasses set ``name`` (the registry and config name) and implement :meth:`_score` and
    :meth:`accept`.
    """

    name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            FILTERS[cls.name] = cls

    def score(self, batch: "pa.RecordBatch | pa.Table | Pairs") -> np.ndarray:
        """One float64 score per pair of ``batch``. Raises :class:`CorpusFormatError` for a
        missing column and :class:`UnknownLanguageError` for a language code it needs and
        cannot read."""
        return np.asarray(self._score(Pairs.of(batch)), dtype=np.float64)

    def _score(self, pairs: Pairs) -> np.ndarray:
        raise NotImplementedError

    def accept(self, scores: np.ndarray) -> np.ndarray:
        """Bool per score: the pair is kept."""
        raise NotImplementedError


def make_filter(name: str, params: dict[str, Any] | None = None, *, where: str = "") -> BitextFilter:
    """The filter registered as ``name`` with ``params``. Raises :class:`ConfigError` listing
    the filter names for an unknown one, or naming the filter, key and value for a bad
    parameter; ``where`` (e.g. a file and position) prefixes the message."""
    prefix = f"{where}: " if where else ""
    if name not in FILTERS:
        raise ConfigError(f"{prefix}unknown filter {name!r}; filters: {', '.join(sorted(FILTERS))}")
    return FILTERS[name].parse(params, where=f"{prefix}filter {name!r}")  # type: ignore[return-value]


Unit = Literal["word", "char", "auto"]


class LengthFilter(BitextFilter):
    """Both sides between ``min`` and ``max`` long (OpusFilter ``LengthFilter``).

    ``unit``: ``word`` (whitespace tokens, ``str.split()``), ``char`` (codepoints) or ``auto``
    (words, but on sides whose script is written without spaces — Chinese, Japanese, Thai, …
    — non-space characters over :data:`scripts.CHARS_PER_WORD`, about an English word each).
    Score: the shorter side's length when it is below ``min``, else the longer side's — the
    side that decides. OpusFilter's ``pass_empty`` is not offered.
    """

    name = "length"
    min: float = 1
    max: float = 100
    unit: Unit = "word"

    @field_validator("max")
    @classmethod
    def _max_not_below_min(cls, value: float, info: Any) -> float:
        if value < info.data.get("min", -math.inf):
            raise ValueError(f"max must not be below min ({info.data['min']})")
        return value

    def _score(self, pairs: Pairs) -> np.ndarray:
        src, tgt = (side.lengths_in(self.unit) for side in pairs.sides)
        shorter, longer = np.minimum(src, tgt), np.maximum(src, tgt)
        return np.where(shorter < self.min, shorter, longer)

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return (scores >= self.min) & (scores <= self.max)


class LengthRatioFilter(BitextFilter):
    """Longer side at most ``threshold`` times the shorter (OpusFilter ``LengthRatioFilter``).

    Score: longer / shorter length in ``unit`` (see :class:`LengthFilter`); ``inf`` when
    exactly one side is empty, 0 when both are.
    """

    name = "length_ratio"
    threshold: float = Field(3, gt=0)
    unit: Unit = "word"

    def _score(self, pairs: Pairs) -> np.ndarray:
        src, tgt = (side.lengths_in(self.unit) for side in pairs.sides)
        shorter, longer = np.minimum(src, tgt), np.maximum(src, tgt)
        ratio = np.where(longer > 0, np.inf, 0.0)
        np.divide(longer, shorter, out=ratio, where=shorter > 0)
        return ratio

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores < self.threshold


class LongWordFilter(BitextFilter):
    """No word of ``threshold`` characters or more (OpusFilter ``LongWordFilter``).

    Score: the longest whitespace-separated word of either side, in characters. With
    ``skip_unspaced``, sides whose script is written without spaces score 0 (a "word" there is
    a phrase); OpusFilter has no such option.
    """

    name = "long_word"
    threshold: int = Field(40, ge=1)
    skip_unspaced: bool = False

    def _score(self, pairs: Pairs) -> np.ndarray:
        src, tgt = (np.where(side.chars_per_word > 0, 0, side.longest_words) if self.skip_unspaced
                    else side.longest_words for side in pairs.sides)
        return np.maximum(src, tgt)

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores < self.threshold


def _fraction(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """``part / whole`` per text, 1.0 where ``whole`` is 0."""
    return np.divide(part, whole, out=np.ones(len(whole)), where=whole > 0)


class AlphabetRatioFilter(BitextFilter):
    """At least ``threshold`` of each side's characters alphabetic (OpusFilter
    ``AlphabetRatioFilter``).

    Score: the lower of the sides' fractions of characters with the Unicode ``Alphabetic``
    property (white space left out of the count with ``exclude_whitespace``); an empty side
    scores 1.0.
    """

    name = "alphabet_ratio"
    threshold: float = Field(0.75, ge=0, le=1)
    exclude_whitespace: bool = False

    def _score(self, pairs: Pairs) -> np.ndarray:
        def ratio(side: Side) -> np.ndarray:
            total = side.lengths - side.count_flag(WHITE_SPACE) if self.exclude_whitespace else side.lengths
            return _fraction(side.count_flag(ALPHABETIC), total)

        return np.minimum(ratio(pairs.src), ratio(pairs.tgt))

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores >= self.threshold


class CharacterScoreFilter(BitextFilter):
    """At least ``threshold`` of each side's letters in the script of its language
    (OpusFilter ``CharacterScoreFilter``).

    The script comes from each pair's FLORES code (``rus_Cyrl`` → Cyrillic, ``jpn_Jpan`` →
    Han + Hiragana + Katakana; see :mod:`mtforge.curate.scripts`) instead of a configured
    script list. Score: the lower of the sides' fractions of alphabetic characters in that
    script; a side without alphabetic characters scores 1.0. Default threshold 1, as
    OpusFilter's.
    """

    name = "character_score"
    threshold: float = Field(1.0, ge=0, le=1)

    def _score(self, pairs: Pairs) -> np.ndarray:
        def ratio(side: Side) -> np.ndarray:
            alphabetic = (side.flags & ALPHABETIC) != 0
            return _fraction(side.sums(alphabetic & side.in_script), side.sums(alphabetic))

        return np.minimum(ratio(pairs.src), ratio(pairs.tgt))

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores >= self.threshold


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


class TerminalPunctuationFilter(BitextFilter):
    """Sides end (and stop) alike (OpusFilter ``TerminalPunctuationFilter``).

    With ``s`` and ``t`` the counts of ``. ? ! …`` on the two sides, score
    ``-log(1 + |s - t| + max(s - 1, 0) + max(t - 1, 0))`` (0 is best).
    """

    name = "terminal_punctuation"
    threshold: float = -2

    def _score(self, pairs: Pairs) -> np.ndarray:
        src, tgt = (side.count_flag(TERMINAL) for side in pairs.sides)
        penalty = np.abs(src - tgt) + np.maximum(src - 1, 0) + np.maximum(tgt - 1, 0)
        return -np.log(penalty + 1.0)

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores >= self.threshold


class NonZeroNumeralsFilter(BitextFilter):
    """The sides carry the same numbers (OpusFilter ``NonZeroNumeralsFilter``).

    Score: ``difflib.SequenceMatcher`` ratio between the sides' sequences of the ASCII digits
    1-9 (zeros dropped, so 1,000 and 1000 agree); 1.0 when neither side has any. With
    ``unicode_digits`` every Unicode decimal digit counts by its value (Arabic-Indic ``٣`` is
    3), which OpusFilter does not do. A number spelled out on one side fails either way.
    """

    name = "non_zero_numerals"
    threshold: float = Field(0.5, ge=0, le=1)
    unicode_digits: bool = False

    def _score(self, pairs: Pairs) -> np.ndarray:
        digits = [_digits(side, self.unicode_digits) for side in pairs.sides]
        counts = [side.sums(digit > 0) for side, digit in zip(pairs.sides, digits)]
        rows = np.flatnonzero(counts[0] + counts[1])
        scores = np.ones(len(pairs))
        for row, a, b in zip(rows, *(_digit_strings(digit, count, rows) for digit, count in zip(digits, counts))):
            if a != b or len(b) >= 200:  # SequenceMatcher's autojunk may split long equal runs
                scores[row] = difflib.SequenceMatcher(None, a, b).ratio()
        return scores

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores >= self.threshold


@lru_cache(maxsize=1)
def _decimal_values() -> np.ndarray:
    """uint8 per codepoint: its value as a Unicode decimal digit, 0 for other characters."""
    values = np.zeros(0x110000, np.uint8)
    digits = scripts.property_codepoints(r"\p{Nd}")
    values[digits] = [unicodedata.decimal(chr(code), 0) for code in digits.tolist()]
    return values


def _digits(side: Side, unicode_digits: bool) -> np.ndarray:
    """uint8 per codepoint: its value when it is a digit 1-9 the filter counts, else 0."""
    if unicode_digits:
        return _decimal_values()[side.codepoints]
    counted = (side.flags & NON_ZERO_DIGIT) != 0
    digits = np.zeros(len(counted), np.uint8)
    digits[counted] = side.codepoints[counted] - ord("0")
    return digits


def _digit_strings(digits: np.ndarray, counts: np.ndarray, rows: np.ndarray) -> list[str]:
    """The non-zero ``digits`` (see :func:`_digits`; ``counts`` of them per text) of the texts
    at ``rows``, in order, as strings."""
    text = (digits[digits > 0] + ord("0")).astype(np.uint8).tobytes().decode("ascii")
    ends = np.cumsum(counts)
    starts = ends - counts
    return [text[start:end] for start, end in zip(starts[rows].tolist(), ends[rows].tolist())]


class RepetitionFilter(BitextFilter):
    """No substring repeated ``threshold`` more times in a row (OpusFilter
    ``RepetitionFilter``).

    Repetitions are found with OpusFilter's expression ``(\\S.{min-1,max}?)(?: *\\1){threshold,}``
    on each side; score: the higher of the sides' repetition counts of the first such match
    (0 without one, so never between 0 and ``threshold``). Only texts that a numpy pre-check
    over all texts finds able to match (:func:`_has_power`) are searched.
    """

    name = "repetition"
    threshold: int = Field(2, ge=1)
    min_length: int = Field(3, ge=1)
    max_length: int = 100

    @field_validator("max_length")
    @classmethod
    def _max_not_below_min(cls, value: int, info: Any) -> int:
        if value < info.data.get("min_length", 1):
            raise ValueError(f"max_length must not be below min_length ({info.data['min_length']})")
        return value

    @cached_property
    def _pattern(self) -> regex.Pattern:
        return regex.compile(rf"(\S.{{{self.min_length - 1},{self.max_length}}}?)(?: *\1){{{self.threshold},}}")

    def repetitions(self, text: str) -> int:
        """How many times the first repeated substring of ``text`` repeats (0 if none)."""
        match = self._pattern.search(text)
        return match.group(0).count(match.group(1)) - 1 if match else 0

    def _score(self, pairs: Pairs) -> np.ndarray:
        scores = np.zeros(len(pairs))
        for side in pairs.sides:
            rows = np.flatnonzero(_has_power(side, self.threshold + 1, self.max_length + 1, self.min_length))
            found = np.array([self.repetitions(text) for text in side.strings(rows)], dtype=np.float64)
            scores[rows] = np.maximum(scores[rows], found)
        return scores

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores < self.threshold


def _has_power(side: Side, copies: int, max_period: int, min_length: int) -> np.ndarray:
    """Bool per text: it may hold ``copies`` copies in a row of one string ``X`` of
    ``min_length`` to ``max_period`` characters, separated by U+0020 spaces only — every text
    that does is flagged, a few that do not may be.

    With spaces removed, such copies are ``copies`` consecutive copies of ``X`` without its
    spaces (``q`` characters, 1 <= q <= ``max_period``): ``(copies - 1) * q`` consecutive
    positions ``i`` with ``c[i] == c[i + q]``. When ``q < min_length``, ``X`` holds at least
    ``min_length - q`` spaces, so the first ``copies - 1`` copies hold that many each. Each
    period is checked over the texts at least ``copies * q`` characters long: laid out longest
    first, those are a prefix.
    """
    kept = np.flatnonzero(side.codepoints != ord(" "))
    lengths = side.sums(side.codepoints != ord(" "))
    order = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths[order]
    starts = np.concatenate([[0], np.cumsum(lengths)])[:-1][order]
    offsets = np.concatenate([[0], np.cumsum(sorted_lengths)])
    where = kept[np.repeat(starts - offsets[:-1], sorted_lengths) + np.arange(offsets[-1])]
    chars = side.codepoints[where]
    found = np.zeros(len(side), bool)
    for period in range(1, max_period + 1):
        long_enough = np.searchsorted(-sorted_lengths, -copies * period, "right")
        if not long_enough:
            break
        end = offsets[long_enough]
        same = np.flatnonzero(chars[:end - period] == chars[period:end])
        run = (copies - 1) * period
        if len(same) < run:
            continue
        first = same[:len(same) - run + 1]
        first = first[same[run - 1:] - first == run - 1]
        if period < min_length:
            spaces = where[first + copies * period - 1] - where[first] - (copies * period - 1)
            first = first[spaces >= (copies - 1) * (min_length - period)]
        found[order[np.searchsorted(offsets, first, "right") - 1]] = True
    return found


class _TagFinder(HTMLParser):
    """Notes whether the standard library's HTML parser sees a start tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.found = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found = True


def has_html_tag(text: str) -> bool:
    """Whether ``html.parser`` finds an element in ``text`` — what OpusFilter's BeautifulSoup
    check finds (markup the parser rejects counts as no tag, as there)."""
    finder = _TagFinder()
    try:
        finder.feed(text)
        finder.close()
    except AssertionError:
        return False
    return finder.found


class HtmlTagFilter(BitextFilter):
    """No HTML tags (OpusFilter ``HtmlTagFilter``).

    Score: how many sides (0, 1, 2) hold a start or empty-element tag as ``html.parser``
    reads it. Only texts matching ``<[a-zA-Z]`` (where a tag must start) are parsed.
    """

    name = "html_tag"

    def _score(self, pairs: Pairs) -> np.ndarray:
        scores = np.zeros(len(pairs))
        for side in pairs.sides:
            rows = np.flatnonzero(pc.match_substring_regex(side.text, "<[a-zA-Z]").to_numpy(zero_copy_only=False))
            scores[rows] += [has_html_tag(text) for text in side.strings(rows)]
        return scores

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores == 0


@lru_cache(maxsize=1)
def _fold_hashes() -> np.ndarray:
    """uint64 per codepoint: for a letter (``str.isalpha``), the sum of a 64-bit hash of each
    character of its ``casefold()``; 0 otherwise. Equal case-folded letter sequences have equal
    sums."""
    text, codepoints = scripts.all_characters()
    letters = [(code, char.casefold()) for code, char in zip(codepoints.tolist(), text) if char.isalpha()]
    folded = "".join(fold for _, fold in letters)
    hashed = _mix(np.frombuffer(folded.encode("utf-32-le"), "<u4").astype(np.uint64))
    starts = np.concatenate([[0], np.cumsum([len(fold) for _, fold in letters])[:-1]])
    table = np.zeros(0x110000, np.uint64)
    table[[code for code, _ in letters]] = np.add.reduceat(hashed, starts)
    return table


def _mix(values: np.ndarray) -> np.ndarray:
    """A 64-bit integer hash (splitmix64's finaliser) of each uint64."""
    with np.errstate(over="ignore"):
        values = (values + np.uint64(0x9E3779B97F4A7C15)) * np.uint64(0xBF58476D1CE4E5B9)
        values ^= values >> np.uint64(31)
        return values * np.uint64(0x94D049BB133111EB)


def same_letters(a: str, b: str) -> bool:
    """bicleaner-hardrules' ``c_no_identical`` test: the letters (``str.isalpha``) of ``a``
    and ``b``, case-folded, are the same sequence."""
    return "".join(filter(str.isalpha, a)).casefold() == "".join(filter(str.isalpha, b)).casefold()


class IdenticalFilter(BitextFilter):
    """The sides differ in their letters (bicleaner-hardrules ``c_no_identical``).

    Score: 1 when the two sides' letters, case-folded, are the same sequence (digits,
    punctuation and spaces ignored), else 0. Pairs whose letter hashes differ are never
    compared in Python.
    """

    name = "identical"

    def _score(self, pairs: Pairs) -> np.ndarray:
        src, tgt = (side.sums(_fold_hashes()[side.codepoints]) for side in pairs.sides)
        rows = np.flatnonzero(src == tgt)
        scores = np.zeros(len(pairs))
        scores[rows] = [same_letters(a, b) for a, b in zip(pairs.src.strings(rows), pairs.tgt.strings(rows))]
        return scores

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores == 0


class RegexpFilter(BitextFilter):
    """Sides matching a regular expression (OpusFilter ``RegExpFilter``).

    ``pattern`` is RE2 syntax (Arrow's engine: no look-around, no back-references), searched
    anywhere in each side. Score: how many sides match (0, 1, 2). Accepted when no side
    matches, or with ``accept_match`` when both do.
    """

    name = "regexp"
    pattern: str
    accept_match: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            pc.match_substring_regex(pa.array([""]), value)
        except pa.ArrowInvalid as exc:
            raise ValueError(f"not a valid RE2 expression: {exc}") from None
        return value

    def _score(self, pairs: Pairs) -> np.ndarray:
        return _matching_sides(pairs, self.pattern)

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores == 2 if self.accept_match else scores == 0


def _matching_sides(pairs: Pairs, pattern: str) -> np.ndarray:
    """Per pair, how many of its sides the RE2 ``pattern`` matches somewhere in (float64)."""
    return sum((pc.match_substring_regex(side.text, pattern).to_numpy(zero_copy_only=False) for side in pairs.sides),
               np.zeros(len(pairs)))


#: What :class:`UrlEmailFilter` rejects: a scheme or ``www.`` address, or an e-mail address.
URL_OR_EMAIL = (r"(?i)\b(?:(?:https?|ftp)://|www\d{0,3}\.)[^\s<>\"]+"
                r"|\b[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b")


class UrlEmailFilter(BitextFilter):
    """No URLs or e-mail addresses (bicleaner-hardrules ``c_no_urls``, with a narrower
    expression, :data:`URL_OR_EMAIL`: an address needs ``http(s)://``, ``ftp://`` or
    ``www.``, so ``e.g.`` and ``file.txt`` pass). Score: how many sides hold one (0, 1, 2);
    accepted when none does."""

    name = "url_email"

    def _score(self, pairs: Pairs) -> np.ndarray:
        return _matching_sides(pairs, URL_OR_EMAIL)

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores == 0


#: What :class:`EncodingFilter` rejects: UTF-8 bytes read as Latin-1/cp1252 (``Ã©``, ``Ã¤``,
#: ``â€™``, an ``Ã`` before a non-letter once C1 controls are stripped) and U+FFFD.
MOJIBAKE = r"[\x{00C2}\x{00C3}][\x{0080}-\x{00BF}]|\x{00C3}(?:[^\p{Lu}]|$)|\x{00E2}\x{20AC}|\x{FFFD}"


class EncodingFilter(BitextFilter):
    """No mojibake or replacement characters (bicleaner-hardrules ``c_no_bad_encoding``):
    :data:`MOJIBAKE`. Score: how many sides show it (0, 1, 2); accepted when none does.
    Capital ``Ã`` before a letter (Portuguese ``SÃO``) passes."""

    name = "encoding"

    def _score(self, pairs: Pairs) -> np.ndarray:
        return _matching_sides(pairs, MOJIBAKE)

    def accept(self, scores: np.ndarray) -> np.ndarray:
        return scores == 0
