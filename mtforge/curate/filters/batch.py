"""A batch of sentence pairs as filters read it: string columns checked and decoded once
into one codepoint array per side (:class:`Side`), with the per-character classes
(:func:`char_flags`) and the per-text views that filters share."""

from __future__ import annotations

from functools import cached_property, lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mtforge.curate import scripts
from mtforge.errors import CorpusFormatError, UnknownLanguageError
from mtforge.langcodes import normalise

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
