"""Sentence splitting across scripts, in one dependency-light implementation.

Sentence splitting
------------------
Documents (web pages, monolingual corpora for back-translation or mining) must be cut into
sentences before LID, filtering, embedding and translation. stopes uses a different splitter
per language; :func:`split_sentences` is one rule-based splitter whose rules depend on the
script (and, for abbreviations, the language) of the FLORES-200 code:

* **Sentence-final marks that are unambiguous** end a sentence wherever they stand, with or
  without a following space: the Devanagari danda ``।`` and double danda ``॥`` (Hindi,
  Nepali, Marathi, Bengali, …), the Urdu full stop ``۔`` and the Arabic question mark ``؟``,
  the CJK ``。！？`` and half-width ``｡``, the Ethiopic ``።`` ``፧`` ``፨``, the Burmese ``။``,
  the Armenian ``։`` and the Khmer ``។`` ``៕``.
* **Ambiguous marks** — ``.``, ``!``, ``?``, ``…``, ``‼ ⁇ ⁈ ⁉``; for Greek also ``;`` (its
  question mark); for Indic scripts ``|`` (often typed for a danda); for Urdu ``-`` glued to
  the preceding word (often typed for ``۔``, as in FLORES) — end a sentence only when
  whitespace follows and the next word (after any opening quotes or brackets) starts with a
  digit or a letter that is not lower-case (any letter in scripts without case; Georgian's
  lower-case-only letters count as caseless). In Chinese and Japanese text ``.`` ends
  nothing: their full stop is ``。`` and an ASCII dot there is a decimal point, ``v.`` or
  ``U.S.``.
* **Abbreviations.** A single ``.`` after an abbreviation does not end a sentence. The whole
  word before the dot is looked up (without leading quotes or brackets, so ``km/h.`` can end
  a sentence): in the Moses non-breaking prefixes that sacremoses ships for the language
  (``Dr``, ``Mr``, ``e.g``, German ``z`` ``B`` ``usw`` and ordinals ``1``–``99``, French
  ``M``, Russian ``т`` ``е`` ``ул``, …; those marked numeric-only, like ``No``, only before a
  number), for languages without a list in the English one; and, for every language, a
  single capital letter (initials: ``J. Smith``, ``А. С. Пушкин``) and dotted short forms
  whose parts are one or two letters (``U.S.``, ``e.g.``, ``z.B.``, ``т.е.``, ``Ph.D.``,
  Hindi ``ई.पू.``). ``3.5`` has no space after the dot and never splits.
* **Closing quotes and brackets** right after the marks (``」』）”’»)``, a French `` »`` after
  a space, and the quotes that open or close depending on the language — ``" ' “ ‘ « ‹`` —
  when whitespace follows them) stay with the sentence they close, so ``。“然而`` still
  starts the next sentence with its quote. After an unambiguous mark and a closing quote,
  Japanese ``と`` continues the sentence (``「…。」と言った。``).
* **Paragraph breaks** (a blank line, U+2029) always end a sentence; a single newline is just
  whitespace. A stretch with no letter or digit (a stray ``।`` or ``...``) is no sentence of
  its own: it stays with the sentence before it.
* **Length cap.** Scripts written without sentence punctuation (Thai, Lao, and text that lacks
  it) and run-on sentences are cut so that no piece exceeds ``max_chars``: at the last
  whitespace before the limit, or, when there is none, by a hard cut moved back so that it
  does not separate a combining mark from its base letter.

Pieces are stripped and never empty; nothing but whitespace is lost or added, so joining the
pieces with spaces gives the input back modulo whitespace.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

from sacremoses.corpus import NonbreakingPrefixes

from mtforge import langcodes
from mtforge.errors import ConfigError

#: Marks that end a sentence wherever they stand.
_UNAMBIGUOUS = "।॥۔؟።፧፨။։។៕。！？｡"
#: Marks that end a sentence only before whitespace and a sentence start.
_AMBIGUOUS = ".!?…‼⁇⁈⁉"
_CLOSERS = "\"')]}»›”’“‘«‹」』）】》〉〕〗〙〛｣］｝＂＇"  # “ ‘ « ‹ close German/Nordic quotes
_OPENERS = "\"'([{«‹“‘„‚¿¡「『（【《〈〔〖〘〚｢［｛＂＇"
_TWO_WAY_QUOTES = "".join(sorted(set(_CLOSERS) & set(_OPENERS)))
_SPACED_CLOSER = re.compile(r"\s+[»›](?=\s|$)")  # French: « Fin. »
#: Scripts whose text marks a sentence start with a capital letter.
_CASED_SCRIPTS = frozenset({"Latn", "Cyrl", "Grek", "Armn"})
#: Scripts written with the danda, for which "|" is often typed.
_INDIC_DANDA_SCRIPTS = frozenset({"Deva", "Beng", "Guru", "Orya"})
#: Scripts ending sentences with 。: an ASCII "." in them is a number, "v." or "U.S.".
_CJK_SCRIPTS = frozenset({"Hans", "Hant", "Hani", "Jpan", "Hira", "Kana"})
_PARAGRAPH = re.compile(r"\n\s*\n|\u2029")
_MAX_PREFIX_CHARS = 40  # longest word looked at as a possible abbreviation
_NUMERIC_ONLY = "#NUMERIC_ONLY#"  # marks a Moses prefix that is one only before a number


@dataclass(frozen=True)
class _Rules:
    """The splitting rules of one language."""

    terminals: re.Pattern[str]  # a run of sentence-final marks
    glued: str  # ambiguous marks that count only when glued to the preceding word
    continuations: str  # after a closing quote, these continue the sentence (Japanese 」と)
    cased: bool  # a sentence starts with a non-lower-case letter or a digit
    prefixes: Mapping[str, bool]  # non-breaking prefix → only before a number


def split_sentences(text: str, lang: str, *, max_chars: int = 500) -> list[str]:
    """Split ``text`` into sentences by the rules of ``lang`` (see the module doc).

    ``lang`` is any code :func:`mtforge.langcodes.normalise` accepts (FLORES-200 preferred);
    an unknown one raises :class:`~mtforge.errors.UnknownLanguageError`. Every returned piece
    is stripped, non-empty and at most ``max_chars`` characters long (a ``max_chars`` under 1
    raises :class:`~mtforge.errors.ConfigError`).
    """
    if max_chars < 1:
        raise ConfigError(f"max_chars must be at least 1, got {max_chars!r}")
    rules = _rules(langcodes.normalise(lang))
    pieces = []
    for paragraph in _PARAGRAPH.split(text):
        for start, end in _sentence_spans(paragraph, rules):
            pieces.extend(_cap_length(paragraph[start:end].strip(), max_chars))
    return pieces


def _sentence_spans(text: str, rules: _Rules) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text``; a stretch without any letter or digit
    (a stray ``।`` or ``...``) is not a sentence and joins the one before it (or after it)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for end in [*_sentence_ends(text, rules), len(text)]:
        if any(char.isalnum() for char in text[start:end]):
            spans.append((start, end))
            start = end
        elif spans:
            spans[-1] = (spans[-1][0], end)
            start = end
    if start < len(text):  # nothing but marks and spaces at all
        spans.append((start, len(text)))
    return spans


def _sentence_ends(text: str, rules: _Rules) -> Iterator[int]:
    """Offsets in ``text`` where a sentence ends (after its marks and closing quotes)."""
    for match in rules.terminals.finditer(text):
        end = _skip_closers(text, match.end())
        if end < len(text) and _ends_sentence(text, match.start(), match.end(), end, rules):
            yield end


def _skip_closers(text: str, pos: int) -> int:
    """The offset after the closing quotes and brackets at ``pos``: any of :data:`_CLOSERS`
    (a two-way quote like ``“`` or ``"`` only before whitespace, a closer or the end, else
    it opens the next sentence: ``。“然而``), and a French ``»`` after a space."""
    while pos < len(text):
        char = text[pos]
        if char in _TWO_WAY_QUOTES and not (pos + 1 == len(text) or text[pos + 1].isspace()
                                            or text[pos + 1] in _CLOSERS):
            break
        if char in _CLOSERS:
            pos += 1
        elif (spaced := _SPACED_CLOSER.match(text, pos)) is not None:
            pos = spaced.end()
        else:
            break
    return pos


def _ends_sentence(text: str, start: int, stop: int, end: int, rules: _Rules) -> bool:
    """Whether the marks ``text[start:stop]``, followed by closers up to ``end < len(text)``,
    end a sentence."""
    run, following = text[start:stop], text[end]
    closed = end > stop
    if any(mark in _UNAMBIGUOUS for mark in run):
        return not closed or following not in rules.continuations
    if run[0] in rules.glued and (start == 0 or text[start - 1].isspace()):
        return False
    if not following.isspace():
        return False
    first = _first_letter(text, end)
    if first is None or not _starts_sentence(first, rules.cased):
        return False
    return closed or run != "." or not _is_abbreviation(_word_before(text, start), first, rules)


def _first_letter(text: str, pos: int) -> str | None:
    """The first character after the whitespace and opening quotes/brackets at ``pos``."""
    while pos < len(text) and (text[pos].isspace() or text[pos] in _OPENERS):
        pos += 1
    return text[pos] if pos < len(text) else None


def _starts_sentence(char: str, cased: bool) -> bool:
    return char.isdigit() or (char.isalpha() and not (cased and char.islower()))


def _word_before(text: str, pos: int) -> str:
    """The whitespace-delimited word ending at ``pos``, without leading opening quotes or
    brackets (``"(e.g"`` → ``e.g``; ``km/h`` stays whole, so its ``h`` is no abbreviation);
    "" when it is too long to be an abbreviation."""
    start = pos
    while start > 0 and not text[start - 1].isspace():
        start -= 1
        if pos - start > _MAX_PREFIX_CHARS:
            return ""
    return text[start:pos].lstrip(_OPENERS)


def _is_abbreviation(word: str, following: str, rules: _Rules) -> bool:
    """Whether ``word`` followed by ``.`` and then by ``following`` is an abbreviation."""
    if word in rules.prefixes:
        return not rules.prefixes[word] or following.isdigit()
    if len(word) == 1:
        return word.isalpha() and not word.islower()
    parts = word.split(".")
    return len(parts) > 1 and all(_is_short_letters(part) for part in parts)


def _is_short_letters(part: str) -> bool:
    """One or two letters, with their combining marks (``e``, ``Ph``, ``पू``)."""
    letters = sum(char.isalpha() for char in part)
    return 0 < letters <= 2 and all(char.isalpha() or _is_mark(char) for char in part)


def _cap_length(sentence: str, max_chars: int) -> Iterator[str]:
    """``sentence`` (stripped) cut into stripped, non-empty pieces of at most ``max_chars``.

    Works with offsets, so a multi-megabyte run-on text is cut in linear time.
    """
    pos = 0
    while len(sentence) - pos > max_chars:
        cut = _last_space(sentence, pos, max_chars) or _grapheme_cut(sentence, pos, max_chars)
        yield sentence[pos:cut].rstrip()
        pos = cut
        while sentence[pos].isspace():
            pos += 1
    if pos < len(sentence):
        yield sentence[pos:]


def _last_space(text: str, pos: int, max_chars: int) -> int | None:
    """The last whitespace offset ``i`` with ``pos < i <= pos + max_chars``."""
    for i in range(pos + max_chars, pos, -1):
        if text[i].isspace():
            return i
    return None


def _grapheme_cut(text: str, pos: int, max_chars: int) -> int:
    """A hard cut in ``(pos, pos + max_chars]`` that does not start the next piece with a
    combining mark or joiner (``pos + max_chars`` when all of that range is marks)."""
    cut = pos + max_chars
    while cut > pos + 1 and _is_mark(text[cut]):
        cut -= 1
    return pos + max_chars if _is_mark(text[cut]) else cut


def _is_mark(char: str) -> bool:
    """A combining mark (incl. variation selectors) or a zero-width (non-)joiner."""
    return unicodedata.category(char)[0] == "M" or char in "\u200c\u200d"


@lru_cache(maxsize=256)
def _rules(code: str) -> _Rules:
    """The rules of FLORES-200 language ``code``."""
    lang, script = code.split("_")
    ambiguous = _AMBIGUOUS.replace(".", "") if script in _CJK_SCRIPTS else _AMBIGUOUS
    ambiguous += ";\u037e" if script == "Grek" else ""  # the Greek question mark
    ambiguous += "|" if script in _INDIC_DANDA_SCRIPTS else ""
    glued = "-" if lang == "urd" else ""
    marks = re.escape(_UNAMBIGUOUS + ambiguous + glued)
    continuations = "と" if script == "Jpan" else ""
    return _Rules(terminals=re.compile(f"[{marks}]+"), glued=glued, continuations=continuations,
                  cased=script in _CASED_SCRIPTS, prefixes=_prefixes(lang))


@lru_cache(maxsize=64)
def _prefixes(lang: str) -> Mapping[str, bool]:
    """Moses' non-breaking prefixes of ``lang`` (English for languages it has none for)."""
    prefixes = {}
    for line in NonbreakingPrefixes().words(_moses_prefix_codes().get(lang, "en")):
        numeric_only = line.endswith(_NUMERIC_ONLY)
        words = line.removesuffix(_NUMERIC_ONLY).split()
        # Of a multi-word entry ("dr. h. c"), the word before the final dot is what is seen.
        prefixes[words[-1].rstrip(".")] = numeric_only
    return prefixes


@lru_cache(maxsize=1)
def _moses_prefix_codes() -> dict[str, str]:
    """ISO 639-3 language → the code of its sacremoses non-breaking prefix list."""
    codes = set(NonbreakingPrefixes().available_langs.values())
    return {langcodes.normalise(code)[:3]: code for code in codes if langcodes.is_language(code)}
