"""Text normalisation: Unicode form, punctuation, invisible characters and whitespace.

Normalisation
-------------
Web and user corpora spell the same text in many byte sequences: decomposed and composed
accents, full-width Latin, curly and straight quotes, no-break and ideographic spaces,
zero-width spaces and bidi marks copied from web pages. A :class:`Normaliser` maps them to
one spelling, so that deduplication, filters and the model see the same text the same way.
The steps, each switchable in :class:`NormaliseConfig`, run in this order:

1. **remove invisible characters** (``remove_invisible``): control characters (Unicode ``Cc``)
   other than whitespace, lone surrogates, and the invisible format characters (``Cf``) —
   zero-width space U+200B, soft hyphen U+00AD, word joiner U+2060, BOM U+FEFF, bidi marks,
   embeddings, overrides and isolates (U+200E/F, U+061C, U+202A–E, U+2066–9), invisible
   operators, Mongolian vowel separator, interlinear annotation marks. *Kept*, because they
   change how text renders or reads: zero-width non-joiner U+200C and joiner U+200D (Persian,
   Indic scripts, emoji sequences), the Arabic/Syriac/Kaithi prepended number marks (visible
   signs), Egyptian hieroglyph and Duployan format controls, the emoji tag characters of
   subdivision flags, and the variation selectors (which are marks, not format characters:
   they pick emoji vs text presentation and CJK/Mongolian glyph variants). Whitespace
   controls (``\\t``, ``\\n``, ``\\r``, …) are left to step 4.
2. **Unicode normal form** (``unicode_form``): NFC (default) composes accents without changing
   meaning; NFKC also folds compatibility characters (full-width ``Ａ`` → ``A``, ligature ``ﬁ``
   → ``fi``, ``²`` → ``2``, half-width katakana → full-width), which is lossy but merges many
   web spellings; ``none`` leaves the text as it is. With NFKC the text is put in NFC here
   and the compatibility folding runs after step 3, because it turns the no-break spaces
   that Moses' French rules look for into plain spaces.
3. **Moses punctuation normalisation** (``moses_punct``): sacremoses' port of Moses'
   ``normalize-punctuation.perl`` — curly quotes, ``„`` and ``« »`` → ``"``; ``’`` → ``'``;
   en dash → ``-``; em dash → `` - ``; ``…`` → ``...``; spacing around brackets, ``:``,
   ``;`` and ``%``; a no-break space before ``: ; ? ! %`` (French typography) is removed.
   The language (``lang``, FLORES-200) selects Moses' quote/comma rule (English puts the comma
   inside the quotes; German, Spanish and French outside). Options chosen: ``penn=False`` (do
   not turn ``''`` into a spaced `` " ``), ``norm_numbers=False`` (Moses turns a no-break
   space between digits into a decimal point or comma, so a French ``1 000`` would become
   ``1,000`` — a different number), ``pre_replace_unicode_punct=False`` (it rewrites the
   native CJK punctuation ``。，「」`` into ASCII and would break sentence splitting) and
   ``post_remove_control_chars=False`` (it removes every ``\\p{C}`` character, ZWNJ/ZWJ and
   private-use included; step 1 is the careful version). One rule is added: Moses' "no
   space between ``)`` and a following ``. , : ; ! ?``" also applies to the full-width CJK
   ``。，、：；！？`` (plain Moses would write ``(UTC) ，``).
4. **collapse whitespace** (``collapse_whitespace``): every run of Unicode whitespace (tab,
   newline, no-break space U+00A0, narrow no-break space, ideographic space U+3000, line
   separator, …) becomes one ASCII space, and the ends are stripped. It runs after Moses so
   that Moses still sees the no-break spaces of French typography.

**Idempotence.** ``n(n(x)) == n(x)`` for every text. The steps interact (a ``\\r`` that Moses
deletes can bring an accent next to its letter, so NFC composes more on a second pass;
collapsing an em space can create a `` :`` that Moses then joins) and one Moses pass is not
idempotent by itself: its quote/comma rules move a quote past *one* run of commas or dots
per pass (``"".`` → ``"."`` → ``.""``), which real French text triggers too. The normaliser
therefore repeats the whole pipeline until the text stops changing — for real text one pass
plus one to confirm (about 40–60 µs a FLORES sentence). The repeats are capped at the text's
length + 2, more than the longest chain of quote moves can need; the property is tested with
hypothesis over arbitrary Unicode text and every combination of the steps.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Literal

from sacremoses import MosesPunctNormalizer

from mtforge import langcodes
from mtforge.errors import CorpusFormatError
from mtforge.stage import StageConfig

#: Characters removed by ``remove_invisible``: Cc except whitespace, lone surrogates, and
#: the Cf characters except ZWNJ/ZWJ, prepended concatenation marks (U+0600–5, U+06DD,
#: U+070F, U+0890–1, U+08E2, U+110BD, U+110CD), Egyptian hieroglyph (U+13430–8) and Duployan
#: (U+1BCA0–3) format controls and the emoji tag characters U+E0020–U+E007F.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f"
    "\u00ad\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
    "\ufff9-\ufffb\U0001d173-\U0001d17a\U000e0001\ud800-\udfff]+"
)
_WHITESPACE = re.compile(r"\s+")

#: FLORES language → the code selecting sacremoses' language-specific rules (the others get none).
_MOSES_LANG = {"eng": "en", "deu": "de", "spa": "es", "fra": "fr"}
_NO_LANG = "und"
#: Moses puts a space after ")" and takes it back before ASCII ``. ! : ? ; ,`` only; this
#: does the same before the full-width CJK ones, so ``(UTC)，`` does not become ``(UTC) ，``.
_CLOSE_BRACKET_BEFORE_CJK_PUNCT = (r"\) ([、。！，：；？])", r")\g<1>")


class NormaliseConfig(StageConfig):
    """Which normalisation steps run (see the module doc for what each does)."""

    unicode_form: Literal["NFC", "NFKC", "none"] = "NFC"
    moses_punct: bool = True
    remove_invisible: bool = True
    collapse_whitespace: bool = True


class Normaliser:
    """Normalises text as :class:`NormaliseConfig` says; ``normaliser(text, lang)``.

    Calling it never raises on any ``str`` and is idempotent. ``lang`` (any code
    :func:`mtforge.langcodes.normalise` accepts, FLORES-200 preferred) selects Moses' language
    rules; ``None`` applies none. An unknown code raises
    :class:`~mtforge.errors.UnknownLanguageError`.
    """

    def __init__(self, config: NormaliseConfig | None = None) -> None:
        self.config = config or NormaliseConfig()
        self._moses: dict[str, MosesPunctNormalizer] = {}

    def __call__(self, text: str, lang: str | None = None) -> str:
        """The normalised ``text``: the pipeline repeated until it no longer changes the text."""
        moses = self._moses_for(lang) if self.config.moses_punct else None
        for _ in range(len(text) + 2):
            result = self._once(text, moses)
            if result == text:
                break
            text = result
        return text

    def normalise_batch(self, texts: Sequence[str], langs: Sequence[str]) -> list[str]:
        """Normalise ``texts[i]`` as language ``langs[i]``.

        Raises :class:`~mtforge.errors.CorpusFormatError` when the two differ in length.
        """
        if len(texts) != len(langs):
            raise CorpusFormatError(f"normalise_batch got {len(texts)} texts but {len(langs)} languages")
        return [self(text, lang) for text, lang in zip(texts, langs)]

    def _once(self, text: str, moses: MosesPunctNormalizer | None) -> str:
        """One pass of the enabled steps, in the documented order."""
        if self.config.remove_invisible:
            text = _INVISIBLE.sub("", text)
        if self.config.unicode_form != "none":
            text = unicodedata.normalize("NFC", text)
        if moses is not None:
            text = moses.normalize(text)
        if self.config.unicode_form == "NFKC":  # after Moses, which needs the no-break spaces
            text = unicodedata.normalize("NFKC", text)
        if self.config.collapse_whitespace:
            text = _WHITESPACE.sub(" ", text).strip()
        return text

    def _moses_for(self, lang: str | None) -> MosesPunctNormalizer:
        """The (cached) Moses normaliser for ``lang``; one per distinct set of Moses rules."""
        code = _NO_LANG if lang is None else _MOSES_LANG.get(langcodes.normalise(lang)[:3], _NO_LANG)
        if code not in self._moses:
            moses = MosesPunctNormalizer(
                lang=code, penn=False, norm_quote_commas=True, norm_numbers=False,
                pre_replace_unicode_punct=False, post_remove_control_chars=False,
            )
            moses.substitutions.append(_CLOSE_BRACKET_BEFORE_CJK_PUNCT)
            self._moses[code] = moses
        return self._moses[code]
