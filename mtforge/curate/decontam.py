"""Decontamination: find training texts that copy (or nearly copy) evaluation sentences.

The method follows cosmopedia's decontamination (used by TopXGen against FLORES-200,
NTREX-128 and TICO-19), with an exact check added for short sentences:

1. **exact** — the text, normalised as for exact deduplication
   (:func:`mtforge.curate.dedup.dedup_text`: NFKC, case folding, punctuation, symbols and
   whitespace removed), equals a normalised evaluation sentence. This is the only check
   for texts or evaluation sentences shorter than the n-gram size.
2. **ngram** — the text shares an n-gram with evaluation sentences: word 10-grams of
   :func:`mtforge.curate.dedup.match_tokens`, or, in scripts written without spaces
   (:data:`mtforge.langcodes.SPACELESS_SCRIPTS`), character 20-grams (a Chinese word is
   about 1.5–2 characters, so 20 characters span roughly 10 words). Up to
   ``max_candidates`` evaluation sentences, those sharing the most n-grams first, are then
   compared with :class:`difflib.SequenceMatcher` on the normalised texts, and the first
   whose *ratio* reaches ``diff_threshold`` (default 0.5) is the match.

The ratio is cosmopedia's ``diff_ratio``: the share of the evaluation sentence covered by
matching blocks longer than 5 characters — not :meth:`SequenceMatcher.ratio`, which also
counts the training text's length and so falls below 0.5 as soon as an evaluation sentence
is embedded in a paragraph three times its length.

Recall is bounded by the n-gram size: a copy needs 10 unchanged consecutive words. With 2
random words of each of 200 English FLORES devtest sentences changed, ``ngram=10`` finds
135 of them, ``ngram=8`` 159 and ``ngram=6`` 183, and none of the three flags any of the
29,000 English Multi30k training captions (measured against FLORES-200 dev and devtest,
NTREX-128 and TICO-19).

A text matches evaluation sentences in any language; its language (when given) only
chooses words or characters for its n-grams (when not given, both are tried).

The n-gram index is two sorted NumPy arrays (n-gram hash, sentence id), about 12 bytes per
n-gram, looked up for a whole chunk of texts at once; hashes are Python's ``hash`` of the
n-gram, stable within a process, and every hit is confirmed by the diff, so a collision
cannot produce a match by itself.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import chain

import numpy as np
import pyarrow as pa

from mtforge.curate.dedup import column_values, lang_column_for, match_tokens
from mtforge.langcodes import is_spaceless
from mtforge.errors import ConfigError

METHODS = ("exact", "ngram")
#: Matching blocks of at most this many characters do not count towards the ratio.
_MIN_BLOCK = 5
#: Texts looked up in the n-gram index at once.
_CHUNK = 4096


@dataclass(frozen=True)
class Match:
    """A training text found in an evaluation set: ``benchmark`` name, the sentence's
    ``eval_index`` in that set, its ``eval_lang`` and ``eval_text``, the ``method``
    (``"exact"`` or ``"ngram"``) and the diff ``ratio`` (1.0 for an exact match)."""

    benchmark: str
    eval_index: int
    eval_lang: str
    eval_text: str
    method: str
    ratio: float


@dataclass(frozen=True)
class _Form:
    """A text in one comparison form: ``text`` (normalised words joined by spaces, or
    characters for spaceless scripts) and the hashes of its n-grams."""

    text: str
    grams: frozenset[int]


def _form(tokens: list[str], spaceless: bool, size: int) -> _Form:
    """``tokens`` (from :func:`match_tokens`) as word ``size``-grams, or character
    ``size``-grams when ``spaceless``; no n-gram when the text is shorter than ``size``."""
    if spaceless:
        chars = "".join(tokens)
        return _Form(chars, frozenset(hash(chars[i : i + size]) for i in range(len(chars) - size + 1)))
    return _Form(" ".join(tokens), frozenset(hash(tuple(tokens[i : i + size])) for i in range(len(tokens) - size + 1)))


def diff_ratio(text: str, eval_text: str) -> float:
    """Share of ``eval_text`` covered by blocks of more than 5 characters that
    :class:`difflib.SequenceMatcher` (no autojunk) matches in ``text``; 0.0 for an empty
    ``eval_text``."""
    if not eval_text:
        return 0.0
    blocks = difflib.SequenceMatcher(None, text, eval_text, autojunk=False).get_matching_blocks()
    return sum(block.size for block in blocks if block.size > _MIN_BLOCK) / len(eval_text)


class Decontaminator:
    """Finds training texts contaminated by evaluation sets (see the module docstring).

    ``eval_sets`` maps a benchmark name to its ``(lang, sentence)`` pairs (FLORES-style
    ``lang``; see :mod:`mtforge.curate.evalsets`). ``ngram`` is the word n-gram size,
    ``char_ngram`` the character n-gram size for spaceless scripts, ``diff_threshold`` the
    ratio a candidate must reach, ``max_candidates`` how many candidates per text are
    diffed. Raises :class:`ConfigError` on a non-positive size or count, or a threshold
    outside (0, 1].
    """

    def __init__(
        self,
        eval_sets: Mapping[str, Sequence[tuple[str, str]]],
        *,
        ngram: int = 10,
        char_ngram: int = 20,
        diff_threshold: float = 0.5,
        max_candidates: int = 10,
    ) -> None:
        if min(ngram, char_ngram, max_candidates) < 1:
            raise ConfigError(
                f"ngram ({ngram}), char_ngram ({char_ngram}) and max_candidates ({max_candidates}) must be ≥ 1"
            )
        if not 0 < diff_threshold <= 1:
            raise ConfigError(f"diff_threshold must be in (0, 1]; got {diff_threshold}")
        self.ngram, self.char_ngram = ngram, char_ngram
        self.diff_threshold, self.max_candidates = diff_threshold, max_candidates
        self._sentences: list[tuple[str, int, str, str]] = []  # (benchmark, index, lang, text)
        self._normalised: list[str] = []  # each sentence's comparison form (see _Form.text)
        self._spaceless: list[bool] = []
        self._exact: dict[str, int] = {}
        grams: list[int] = []  # n-gram hashes, sentence after sentence
        gram_counts: list[int] = []  # how many n-grams each sentence has
        for benchmark, sentences in eval_sets.items():
            for index, (lang, text) in enumerate(sentences):
                tokens = match_tokens(text)
                if not tokens:
                    continue
                sid = len(self._sentences)
                self._sentences.append((benchmark, index, lang, text))
                self._spaceless.append(is_spaceless(lang))
                form = self._form(tokens, is_spaceless(lang))
                self._normalised.append(form.text)
                self._exact.setdefault("".join(tokens), sid)
                grams.extend(form.grams)
                gram_counts.append(len(form.grams))
        keys = np.fromiter(grams, dtype=np.int64, count=len(grams))
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        self._ids = np.repeat(np.arange(len(gram_counts), dtype=np.int32), gram_counts)[order]

    def __len__(self) -> int:
        """Number of (non-empty) evaluation sentences indexed."""
        return len(self._sentences)

    def _form(self, tokens: list[str], spaceless: bool) -> _Form:
        """:func:`_form` with this instance's n-gram size for the mode."""
        return _form(tokens, spaceless, self.char_ngram if spaceless else self.ngram)

    def _match(self, sid: int, method: str, ratio: float) -> Match:
        """The :class:`Match` of evaluation sentence ``sid``."""
        benchmark, index, lang, text = self._sentences[sid]
        return Match(benchmark, index, lang, text, method, ratio)

    def _candidates(self, grams: list[frozenset[int]]) -> list[Counter]:
        """Per text, a count of shared n-grams per evaluation sentence id."""
        counts: list[Counter] = [Counter() for _ in grams]
        flat = np.fromiter(chain.from_iterable(grams), dtype=np.int64, count=sum(map(len, grams)))
        owner = np.repeat(np.arange(len(grams)), [len(g) for g in grams])
        left = np.searchsorted(self._keys, flat, "left")
        right = np.searchsorted(self._keys, flat, "right")
        for hit in np.flatnonzero(right > left):
            counts[owner[hit]].update(self._ids[left[hit] : right[hit]].tolist())
        return counts

    def _confirm(self, forms: dict[bool, _Form], counts: Counter) -> Match | None:
        """The first candidate, most shared n-grams first, whose diff ratio reaches the threshold."""
        for sid, _ in counts.most_common(self.max_candidates):
            ratio = diff_ratio(forms[self._spaceless[sid]].text, self._normalised[sid])
            if ratio >= self.diff_threshold:
                return self._match(sid, "ngram", ratio)
        return None

    def _match_chunk(self, texts: Sequence[str], langs: Sequence[str] | None) -> list[Match | None]:
        """:meth:`match` for one chunk: exact look-ups, then one batched n-gram look-up."""
        results: list[Match | None] = []
        pending: list[tuple[int, dict[bool, _Form]]] = []  # texts left for the n-gram check
        for position, text in enumerate(texts):
            tokens = match_tokens(text or "")
            sid = self._exact.get("".join(tokens)) if tokens else None
            results.append(None if sid is None else self._match(sid, "exact", 1.0))
            if sid is None and tokens:
                modes = (is_spaceless(langs[position]),) if langs is not None else (False, True)
                pending.append((position, {mode: self._form(tokens, mode) for mode in modes}))
        counts = self._candidates([frozenset().union(*(f.grams for f in forms.values())) for _, forms in pending])
        for (position, forms), candidates in zip(pending, counts):
            if candidates:
                results[position] = self._confirm(forms, candidates)
        return results

    def match(self, texts: Sequence[str], langs: Sequence[str] | None = None) -> list[Match | None]:
        """Per text, its :class:`Match` or None when it is clean. ``langs`` (FLORES-style,
        one per text) choose word or character n-grams; without them both are tried. A
        null text is clean. Raises :class:`ValueError` when ``langs`` and ``texts`` differ in length."""
        if langs is not None and len(langs) != len(texts):
            raise ValueError(f"need one language per text: {len(texts)} texts, {len(langs)} languages")
        results: list[Match | None] = []
        for start in range(0, len(texts), _CHUNK):
            chunk_langs = None if langs is None else langs[start : start + _CHUNK]
            results.extend(self._match_chunk(texts[start : start + _CHUNK], chunk_langs))
        return results

    def mark(
        self,
        batch: pa.RecordBatch | pa.Table,
        columns: Sequence[str] = ("src", "tgt"),
        report: DecontamReport | None = None,
    ) -> pa.Array:
        """One reason per row of ``batch``: ``"contaminated"`` when any of ``columns``
        matches (each checked in the language of its :func:`lang_column_for` column when the
        batch has it), else null. The row's first match (in ``columns`` order) is added to
        ``report``. Raises :class:`CorpusFormatError` on a missing text column and
        :class:`ConfigError` when ``columns`` is empty."""
        if not columns:
            raise ConfigError("decontamination needs at least one text column")
        names = batch.schema.names
        sides = []
        for column in columns:
            (texts,) = column_values(batch, [column])
            lang_column = lang_column_for(column)
            langs = batch.column(lang_column).to_pylist() if lang_column in names else None
            sides.append((texts, self.match(texts, langs)))
        firsts = [
            next(((texts[row], matches[row]) for texts, matches in sides if matches[row] is not None),
                 (sides[0][0][row], None))
            for row in range(batch.num_rows)
        ]
        if report is not None:
            report.add([text for text, _ in firsts], [found for _, found in firsts])
        return pa.array(["contaminated" if found is not None else None for _, found in firsts], pa.string())


@dataclass
class DecontamReport:
    """Totals of a decontamination run: texts ``checked``, ``counts[benchmark][method]``
    of matches, and the first ``max_examples`` matches as examples."""

    max_examples: int = 10
    checked: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    examples: list[dict] = field(default_factory=list)

    def add(self, texts: Iterable[str], matches: Iterable[Match | None]) -> None:
        """Count one batch: each text and its match (None when clean)."""
        for text, found in zip(texts, matches, strict=True):
            self.checked += 1
            if found is None:
                continue
            by_method = self.counts.setdefault(found.benchmark, dict.fromkeys(METHODS, 0))
            by_method[found.method] += 1
            if len(self.examples) < self.max_examples:
                self.examples.append({"text": text, **asdict(found)})

    @property
    def contaminated(self) -> int:
        """Number of texts that matched an evaluation sentence."""
        return sum(sum(by_method.values()) for by_method in self.counts.values())

    def to_dict(self) -> dict:
        """JSON-ready: ``checked``, ``contaminated``, ``counts`` and ``examples``."""
        return {"checked": self.checked, "contaminated": self.contaminated,
                "counts": {name: dict(by) for name, by in sorted(self.counts.items())},
                "examples": list(self.examples)}

    def to_markdown(self) -> str:
        """A Markdown summary: totals, a table of matches per benchmark and method, examples."""
        share = self.contaminated / self.checked if self.checked else 0.0
        lines = [f"Decontamination: {self.contaminated} of {self.checked} texts matched an evaluation set "
                 f"({share:.3%}).", "", "| benchmark | exact | ngram | total |", "|---|---:|---:|---:|"]
        for name, by_method in sorted(self.counts.items()):
            lines.append(f"| {name} | {by_method['exact']} | {by_method['ngram']} | {sum(by_method.values())} |")
        if self.examples:
            lines += ["", "| training text | evaluation sentence | benchmark | method | ratio |",
                      "|---|---|---|---|---:|"]
            for ex in self.examples:
                text, eval_text = (_cell(ex["text"]), _cell(ex["eval_text"]))
                lines.append(f"| {text} | {eval_text} | {ex['benchmark']} | {ex['method']} | {ex['ratio']:.2f} |")
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """``text`` made safe for one Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")
