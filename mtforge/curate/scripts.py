"""Unicode scripts of characters and texts, for script-consistency filters.

A FLORES-200 code names its script (``hin_Deva`` → ``Deva``, ISO 15924). This module maps
each ISO 15924 code that :data:`mtforge.langcodes.SCRIPTS` accepts to the Unicode ``Script``
property values its text is written in (``Jpan`` → Han + Hiragana + Katakana, ``Kore`` →
Hangul + Han, ``Hans``/``Hant`` → Han), and measures how much of a text is in them:

* :func:`script_of` — the Unicode script of one character (``"Latin"``, ``"Han"``,
  ``"Common"``, …; :data:`OTHER` for a script this module does not tabulate);
* :func:`script_ratio` — the fraction of a text's alphabetic characters (Unicode property
  ``Alphabetic``) that are in the script of a FLORES code; 1.0 when it has none. This is
  OpusFilter's ``CharacterScoreFilter`` score, with the script taken from the code;
* :func:`in_script` — per codepoint of a uint32 array, whether it is in a script: the
  vectorised form the filters in :mod:`mtforge.curate.filters` count with.

Character properties come from the ``regex`` module's Unicode database — the one OpusFilter
uses — read once into per-codepoint lookup tables (:func:`alphabetic_table`,
:func:`script_table`), so that a vectorised count here and OpusFilter's regular expressions
agree character for character.

One deliberate addition to the ``Script`` property: ``ー`` and ``ｰ`` (prolonged sound marks,
``Script=Common``) count as Japanese for ``Jpan``, ``Hira`` and ``Kana`` — they are letters
used only in kana text, and without them almost every katakana word would fail a strict
script check.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import regex

from mtforge.errors import UnknownLanguageError
from mtforge.langcodes import SCRIPTS

#: ISO 15924 code → the Unicode ``Script`` values its text is written in.
UNICODE_SCRIPTS: dict[str, tuple[str, ...]] = {
    "Arab": ("Arabic",), "Armn": ("Armenian",), "Beng": ("Bengali",), "Bopo": ("Bopomofo",),
    "Cans": ("Canadian_Aboriginal",), "Cher": ("Cherokee",), "Cyrl": ("Cyrillic",),
    "Deva": ("Devanagari",), "Ethi": ("Ethiopic",), "Geor": ("Georgian",), "Grek": ("Greek",),
    "Gujr": ("Gujarati",), "Guru": ("Gurmukhi",), "Hang": ("Hangul",), "Hani": ("Han",),
    "Hans": ("Han",), "Hant": ("Han",), "Hebr": ("Hebrew",), "Hira": ("Hiragana",),
    "Jpan": ("Han", "Hiragana", "Katakana"), "Kana": ("Katakana",), "Khmr": ("Khmer",),
    "Knda": ("Kannada",), "Kore": ("Hangul", "Han"), "Laoo": ("Lao",), "Latn": ("Latin",),
    "Mlym": ("Malayalam",), "Mong": ("Mongolian",), "Mtei": ("Meetei_Mayek",),
    "Mymr": ("Myanmar",), "Olck": ("Ol_Chiki",), "Orya": ("Oriya",), "Sinh": ("Sinhala",),
    "Syrc": ("Syriac",), "Taml": ("Tamil",), "Telu": ("Telugu",), "Tfng": ("Tifinagh",),
    "Thaa": ("Thaana",), "Thai": ("Thai",), "Tibt": ("Tibetan",),
}

#: Characters outside a code's Unicode scripts that still count as written in it.
EXTRA_CHARS: dict[str, str] = {"Jpan": "ーｰ", "Hira": "ー", "Kana": "ーｰ"}

#: Scripts written without spaces between words, with about how many characters (spaces not
#: counted) one English word takes in them: a whitespace "word" there is a phrase or a whole
#: sentence, so the length filters' ``auto`` unit divides characters by this instead. Measured
#: on FLORES-200 devtest and Tatoeba against the English side (Han 1.6-1.9, Japanese 2.4-2.6,
#: Thai 4.1, Khmer 4.6); Lao, Myanmar and Tibetan are estimates.
CHARS_PER_WORD: dict[str, float] = {
    "Hani": 1.7, "Hans": 1.7, "Hant": 1.7, "Jpan": 2.5, "Hira": 2.5, "Kana": 2.5,
    "Thai": 4.0, "Khmr": 4.5, "Laoo": 4.0, "Mymr": 4.0, "Tibt": 4.0,
}

#: What :func:`script_of` answers for a character of a script not tabulated here.
OTHER = "Other"

#: The scripts :func:`script_table` tabulates, by table id (id 0 is :data:`OTHER`).
SCRIPT_NAMES: tuple[str, ...] = (OTHER, "Common", "Inherited",
                                 *sorted({s for names in UNICODE_SCRIPTS.values() for s in names}))

_MAX_CODEPOINT = 0x110000
_SURROGATES = range(0xD800, 0xE000)

assert set(UNICODE_SCRIPTS) == SCRIPTS, "every script langcodes accepts needs its Unicode scripts"


@lru_cache(maxsize=1)
def all_characters() -> tuple[str, np.ndarray]:
    """Every codepoint but the surrogates as one string, and the codepoint of each index."""
    codepoints = np.concatenate([np.arange(_SURROGATES.start), np.arange(_SURROGATES.stop, _MAX_CODEPOINT)])
    return codepoints.astype("<u4").tobytes().decode("utf-32-le"), codepoints


def property_codepoints(pattern: str) -> np.ndarray:
    """The codepoints (int64, ascending) that the one-character ``regex`` ``pattern`` (a
    property class such as ``\\p{Alphabetic}``) matches, per the ``regex`` module's Unicode."""
    text, codepoints = all_characters()
    spans = [codepoints[m.start():m.end()] for m in regex.finditer(f"{pattern}+", text)]
    return np.concatenate(spans) if spans else np.empty(0, np.int64)


@lru_cache(maxsize=1)
def alphabetic_table() -> np.ndarray:
    """Bool per codepoint (length 0x110000): has the Unicode ``Alphabetic`` property."""
    table = np.zeros(_MAX_CODEPOINT, bool)
    table[property_codepoints(r"\p{Alphabetic}")] = True
    return table


@lru_cache(maxsize=1)
def script_table() -> np.ndarray:
    """uint8 per codepoint (length 0x110000): index into :data:`SCRIPT_NAMES` of its
    Unicode ``Script`` (0, :data:`OTHER`, for untabulated scripts and unassigned codepoints)."""
    table = np.zeros(_MAX_CODEPOINT, np.uint8)
    for index, name in enumerate(SCRIPT_NAMES[1:], 1):
        table[property_codepoints(rf"\p{{Script={name}}}")] = index
    return table


def script_of(char: str) -> str:
    """The Unicode ``Script`` of the one-character string ``char`` (:data:`OTHER` when that
    script is not among :data:`SCRIPT_NAMES`). Raises ``TypeError`` unless ``len(char) == 1``."""
    return SCRIPT_NAMES[script_table()[ord(char)]]


def script_code(code: str) -> str:
    """The ISO 15924 script of a FLORES-200 code (``"hin_Deva"`` → ``"Deva"``) or of a bare
    script code (``"Deva"``). Raises :class:`UnknownLanguageError` naming ``code`` when its
    script is not one of :data:`UNICODE_SCRIPTS`."""
    script = code.rpartition("_")[2]
    if script not in UNICODE_SCRIPTS:
        raise UnknownLanguageError(
            f"no known script in language code {code!r}; scripts: {', '.join(sorted(UNICODE_SCRIPTS))}")
    return script


@lru_cache(maxsize=None)
def _allowed(script: str) -> tuple[np.ndarray, np.ndarray]:
    """(bool per :data:`SCRIPT_NAMES` id: in ``script``, sorted extra codepoints of it)."""
    ids = np.zeros(len(SCRIPT_NAMES), bool)
    ids[[SCRIPT_NAMES.index(name) for name in UNICODE_SCRIPTS[script]]] = True
    return ids, np.array(sorted(map(ord, EXTRA_CHARS.get(script, ""))), np.uint32)


def in_script(codepoints: np.ndarray, script: str) -> np.ndarray:
    """Bool per codepoint of the uint32 array ``codepoints``: written in ISO 15924 ``script``
    (one of its Unicode scripts, or one of its :data:`EXTRA_CHARS`)."""
    ids, extra = _allowed(script)
    inside = ids[script_table()[codepoints]]
    if extra.size:
        inside |= np.isin(codepoints, extra)
    return inside


def script_ratio(text: str, code: str) -> float:
    """The fraction of ``text``'s alphabetic characters written in the script of ``code``
    (a FLORES-200 code such as ``"rus_Cyrl"`` or an ISO 15924 code such as ``"Cyrl"``); 1.0
    when ``text`` has no alphabetic character. Raises :class:`UnknownLanguageError` for a code
    without a known script."""
    script = script_code(code)
    codepoints = np.frombuffer(text.encode("utf-32-le"), "<u4")
    alphabetic = alphabetic_table()[codepoints]
    total = int(alphabetic.sum())
    return float((alphabetic & in_script(codepoints, script)).sum() / total) if total else 1.0
