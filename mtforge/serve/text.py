"""Posts → the sentences a model translates → posts again, with entities left intact.

Social posts mix prose with things no translation may touch: URLs, e-mail addresses,
``@mentions``, ``#hashtags`` and emoji (incl. ZWJ sequences, skin tones, flags and keycaps).
:func:`plan_post` cuts a post at those *entities*; the prose between them is split into
sentences (:func:`mtforge.curate.split.split_sentences`), and every piece of whitespace,
punctuation-only text and entity is kept verbatim. :meth:`PostPlan.render` puts translated
sentences back in their places, so entities come back byte for byte where they were.

An entity inside a sentence ("thanks @anna for the photo") cuts it into two translation units:
the entity is never sent to the model (a small model would mangle or drop it), at the price
of less context around it.
The brackets and quotes around an entity (``(https://…)``, ``"@anna" said``) stay with it and
are not sent to the model either.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

from mtforge.curate.split import split_sentences

_PICTOGRAPH = r"\p{Extended_Pictographic}[\uFE0E\uFE0F]?[\U0001F3FB-\U0001F3FF]?"
_EMOJI = (r"(?:\p{Regional_Indicator}{2}"  # flags
          r"|[0-9#*]\uFE0F?\u20E3"  # keycaps
          r"|" + _PICTOGRAPH + r"(?:[\U000E0020-\U000E007E]+\U000E007F)?"  # tag sequences: 🏴 England
          r"(?:\u200D" + _PICTOGRAPH + r")*"  # ZWJ sequences: families, professions, rainbow flag
          r"|[\U0001F3FB-\U0001F3FF])")  # a skin tone on its own
#: Characters that never occur in a URL as posted: whitespace, quotes, and the CJK and full-width
#: punctuation that follows a URL in Chinese or Japanese text without a space.
_URL_STOP = r"\s<>\"…。、，！？；：「」『』【】《》〈〉（）｡"
#: Characters a URL does not end with: sentence punctuation and closing quotes after it.
_URL_TRAILING = r".,;:!?\]}'»”’“‘›"
_URL_CHAR = r"[^" + _URL_STOP + r"()]"
_URL_PARENS = r"\([^" + _URL_STOP + r"()]*\)"  # balanced, as in …/wiki/Python_(language)
#: What is never translated, in the order alternatives are tried. ``\G`` (where the previous
#: entity ended) lets an entity follow another one directly: ``#love#life``.
ENTITY = regex.compile(
    r"(?:(?i:https?://)|(?:\G|(?<![\w@/-]))(?i:www\.))"  # URL (not the "www." of "Awww.so")
    r"(?:" + _URL_CHAR + r"|" + _URL_PARENS + r")*"
    r"(?:[^" + _URL_STOP + r"()" + _URL_TRAILING + r"]|" + _URL_PARENS + r")"  # … without trailing punctuation
    r"|(?:\G|(?<![\w.+-]))[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail (starts at a word start: linear time)
    r"|(?:\G|(?<![\w@]))@\w+(?:[.\w]*\w)?"  # @mention (dots inside, as in @jane.doe)
    r"|(?:\G|(?<![\w#&]))#(?!\p{M})\w+"  # #hashtag (not the keycap #️⃣)
    r"|" + _EMOJI + r"(?:\s*" + _EMOJI + r")*",
    regex.UNICODE,
)
_LETTER = regex.compile(r"\p{L}")
#: Right after an entity: the end of the sentence it interrupted (punctuation, closing brackets,
#: and quotes before whitespace, punctuation or the end, as in ``"@anna" said``).
_CLOSING = regex.compile(r"(?:[\s.,;:!?)\]}»”’…。！？｡，、；：」』）】》〉]|[\"'“‘«‹›](?=[\s.,;:!?)\]}»”’…。！？，、]|\Z))*")
#: Right before an entity: brackets and quotes it opens, as in ``see (https://…)``.
_OPENERS = "([{„‚¿¡«‹“‘\"'「『（【《〈"
_TWO_WAY_QUOTES = "«‹“‘\"'"


@dataclass(frozen=True)
class PostPlan:
    """A post as ``pieces``: verbatim strings and sentence indices (ints) into ``sentences``."""

    pieces: tuple[str | int, ...]
    sentences: tuple[str, ...]

    def render(self, translations: list[str]) -> str:
        """The post with sentence ``i`` replaced by ``translations[i]``."""
        if len(translations) != len(self.sentences):
            raise ValueError(f"{len(translations)} translations for {len(self.sentences)} sentences")
        return "".join(translations[p] if isinstance(p, int) else p for p in self.pieces)


def plan_post(text: str, lang: str, *, max_chars: int = 500) -> PostPlan:
    """Cut ``text`` into entities, whitespace, letterless text (kept) and sentences of
    ``lang`` (translated). ``plan_post(t, l).render(list(sentences))`` equals ``t`` up to the
    whitespace *inside* a sentence that the splitter normalises — pieces between sentences,
    and entities, are kept exactly."""
    pieces: list[str | int] = []
    sentences: list[str] = []
    pos = 0
    for match in ENTITY.finditer(text):
        _add_prose(text[pos:match.start()], lang, max_chars, pieces, sentences)
        pieces.append(match.group())
        pos = match.end()
    _add_prose(text[pos:], lang, max_chars, pieces, sentences)
    return PostPlan(tuple(pieces), tuple(sentences))


def strip_entities(text: str) -> str:
    """``text`` without its entities: what language identification should see."""
    return " ".join(ENTITY.sub(" ", text).split())


def _add_prose(chunk: str, lang: str, max_chars: int, pieces: list[str | int], sentences: list[str]) -> None:
    if not _LETTER.search(chunk):
        if chunk:
            pieces.append(chunk)
        return
    closing = _CLOSING.match(chunk).end()  # the end of the sentence an entity interrupted
    opening = _opening(chunk)  # what opens the entity after the chunk
    if closing:
        pieces.append(chunk[:closing])
    prose = chunk[closing:opening]
    pos = 0
    for sentence in split_sentences(prose, lang, max_chars=max_chars):
        start, end = _locate(prose, sentence, pos)
        if start > pos:
            pieces.append(prose[pos:start])
        pieces.append(len(sentences))
        sentences.append(sentence)
        pos = end
    if pos < len(chunk) - closing:
        pieces.append(prose[pos:] + chunk[opening:])


def _opening(chunk: str) -> int:
    """Where the whitespace, opening brackets and opening quotes that end ``chunk`` start; a
    quote glued to the word before it closes that word and is not counted (``"great" @anna``).
    ``chunk`` has a letter, so this is after it."""
    start = len(chunk)
    while start > 0 and (chunk[start - 1].isspace() or chunk[start - 1] in _OPENERS):
        start -= 1
    while (start < len(chunk) and chunk[start] in _TWO_WAY_QUOTES
           and not (chunk[start - 1].isspace() or chunk[start - 1] in _OPENERS)):
        start += 1
    return start


def _locate(chunk: str, sentence: str, pos: int) -> tuple[int, int]:
    """Span of ``sentence`` in ``chunk`` at or after ``pos``, allowing any whitespace where the
    splitter may have normalised it."""
    start = chunk.find(sentence, pos)
    if start >= 0:
        return start, start + len(sentence)
    pattern = r"\s+".join(regex.escape(word) for word in sentence.split())
    match = regex.compile(pattern).search(chunk, pos)
    if match is None:
        raise ValueError(f"sentence {sentence!r} not found in {chunk!r}")
    return match.start(), match.end()
