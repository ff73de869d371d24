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
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

from mtforge.curate.split import split_sentences

_EMOJI = (r"(?:\p{Regional_Indicator}{2}"  # flags
          r"|[0-9#*]\uFE0F?\u20E3"  # keycaps
          r"|\p{Extended_Pictographic}[\uFE0E\uFE0F]?[\U0001F3FB-\U0001F3FF]?"
          r"(?:\u200D\p{Extended_Pictographic}[\uFE0E\uFE0F]?[\U0001F3FB-\U0001F3FF]?)*)")
#: What is never translated, in the order alternatives are tried.
ENTITY = regex.compile(
    r"(?:https?://|www\.)[^\s<>\"]*[^\s<>\".,;:!?)\]}'»”’]"  # URL without trailing punctuation
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail
    r"|(?<![\w@])@\w+(?:[.\w]*\w)?"  # @mention (dots inside, as in @jane.doe)
    r"|(?<![\w#&])#\w+"  # #hashtag
    r"|" + _EMOJI + r"(?:\s*" + _EMOJI + r")*",
    regex.UNICODE,
)
_LETTER = regex.compile(r"\p{L}")
_CLOSING = regex.compile(r"[\s.,;:!?)\]}»”’…]*")


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

    @property
    def prose(self) -> str:
        """The sentences joined by spaces: what language identification looks at."""
        return " ".join(self.sentences)


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
    if closing:
        pieces.append(chunk[:closing])
        chunk = chunk[closing:]
    pos = 0
    for sentence in split_sentences(chunk, lang, max_chars=max_chars):
        start, end = _locate(chunk, sentence, pos)
        if start > pos:
            pieces.append(chunk[pos:start])
        pieces.append(len(sentences))
        sentences.append(sentence)
        pos = end
    if pos < len(chunk):
        pieces.append(chunk[pos:])


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
