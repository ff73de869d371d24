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
``encoding``              sides showing mojibake or U+FFFD               s == 0
``regexp``                sides matching ``pattern`` (0, 1, 2)           see the class
========================  =============================================  ==================

Speed: the texts of a side are decoded once into one codepoint array (:class:`Side`) and
most scores are numpy reductions over it; per-pair Python runs only where it cannot be
avoided — on the few candidate pairs a vectorised pre-check lets through (``repetition``,
``html_tag``, ``identical``, ``non_zero_numerals``) and in language identification.

Modules: :mod:`~mtforge.curate.filters.batch` (:class:`Pairs`, :class:`Side`),
:mod:`~mtforge.curate.filters.base` (:data:`FILTERS`, :class:`BitextFilter`,
:func:`make_filter`), and the filters by kind: :mod:`~mtforge.curate.filters.length`,
:mod:`~mtforge.curate.filters.characters`, :mod:`~mtforge.curate.filters.language`,
:mod:`~mtforge.curate.filters.agreement` (the sides compared with each other),
:mod:`~mtforge.curate.filters.repetition` and :mod:`~mtforge.curate.filters.patterns`
(markup, URLs, mojibake, a regular expression). Importing this package registers every
filter.
"""

from __future__ import annotations

from mtforge.curate.filters.agreement import (
    IdenticalFilter,
    NonZeroNumeralsFilter,
    TerminalPunctuationFilter,
    same_letters,
)
from mtforge.curate.filters.base import FILTERS, BitextFilter, make_filter
from mtforge.curate.filters.batch import COLUMNS, Pairs, Side
from mtforge.curate.filters.characters import AlphabetRatioFilter, CharacterScoreFilter
from mtforge.curate.filters.language import LanguageIdFilter
from mtforge.curate.filters.length import LengthFilter, LengthRatioFilter, LongWordFilter
from mtforge.curate.filters.patterns import (
    MOJIBAKE,
    URL_OR_EMAIL,
    EncodingFilter,
    HtmlTagFilter,
    RegexpFilter,
    UrlEmailFilter,
    has_html_tag,
)
from mtforge.curate.filters.repetition import RepetitionFilter

__all__ = [
    "COLUMNS", "FILTERS", "MOJIBAKE", "URL_OR_EMAIL", "AlphabetRatioFilter", "BitextFilter", "CharacterScoreFilter",
    "EncodingFilter", "HtmlTagFilter", "IdenticalFilter", "LanguageIdFilter", "LengthFilter", "LengthRatioFilter",
    "LongWordFilter", "NonZeroNumeralsFilter", "Pairs", "RegexpFilter", "RepetitionFilter", "Side",
    "TerminalPunctuationFilter", "UrlEmailFilter", "has_html_tag", "make_filter", "same_letters",
]
