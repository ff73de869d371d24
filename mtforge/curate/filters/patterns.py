"""Filters that reject sides holding markup or a pattern: ``html_tag``, ``regexp``,
``url_email`` and ``encoding``."""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import field_validator

from mtforge.curate.filters.base import BitextFilter
from mtforge.curate.filters.batch import Pairs


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
