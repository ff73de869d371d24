"""What is kept of an LLM's answer: numbered-list parsing, repetition checks and ROUGE-L
near-duplicate rejection, as TopXGen filters generated paragraphs.

* :func:`parse_numbered` — an answer must be a numbered list of exactly ``n`` items
  (``1.`` or ``1)``, numbered 1…n in order); anything else drops the whole answer.
* :func:`repetition` — a paragraph whose most frequent word bigram or character bigram takes
  too large a share of all its bigrams is a degenerate loop ("the the the …").
* :class:`RougeL` — a paragraph whose ROUGE-L F-measure against any paragraph already kept
  for the language reaches the threshold (TopXGen/Self-Instruct: 0.7) is a near duplicate.

ROUGE-L here works on :func:`mtforge.curate.dedup.match_tokens` words (Unicode-aware, case
folded) — the ``rouge_score`` package keeps only ASCII letters and digits, which leaves
nothing of most target languages. The LCS is computed bit-parallel (Hyyrö 2004) over Python
integers, so one comparison costs one big-integer step per word of the candidate.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from mtforge.curate.dedup import match_tokens
from mtforge.langcodes import is_spaceless

_ITEM = re.compile(r"^\s*(?:\*\*)?(\d{1,3})[.)](?:\*\*)?\s+(.*)$")


def parse_numbered(answer: str, n: int) -> list[str] | None:
    """The ``n`` items of a numbered-list ``answer`` (an item runs over following lines until
    the next number), or None when the answer is not exactly items 1…n in order with text in
    each. Text before item 1 (a preamble such as "Here are two paragraphs:") is ignored."""
    items: list[list[str]] = []
    for line in answer.splitlines():
        found = _ITEM.match(line)
        if found and int(found[1]) == len(items) + 1:
            items.append([found[2].strip()])
        elif found and items:
            return None  # a number out of order
        elif items and line.strip():
            items[-1].append(line.strip())
    paragraphs = [" ".join(parts).strip() for parts in items]
    if len(paragraphs) != n or not all(paragraphs):
        return None
    return paragraphs


def _top_share(grams: list) -> float:
    """The share of the most frequent item of ``grams`` (0 when there are none)."""
    if not grams:
        return 0.0
    return Counter(grams).most_common(1)[0][1] / len(grams)


def repetition(text: str, *, max_word_bigram_share: float, max_char_bigram_share: float,
               min_bigrams: int = 8) -> str | None:
    """``"repeated_words"`` or ``"repeated_chars"`` when the most frequent word (resp.
    character) bigram of ``text`` takes more than the given share of its bigrams, else None.
    Texts with fewer than ``min_bigrams`` bigrams of a kind are not judged on that kind."""
    words = match_tokens(text)
    word_bigrams = list(zip(words, words[1:]))
    if len(word_bigrams) >= min_bigrams and _top_share(word_bigrams) > max_word_bigram_share:
        return "repeated_words"
    chars = "".join(words)
    char_bigrams = [chars[i : i + 2] for i in range(len(chars) - 1)]
    if len(char_bigrams) >= min_bigrams and _top_share(char_bigrams) > max_char_bigram_share:
        return "repeated_chars"
    return None


def rouge_tokens(text: str, lang: str) -> list[str]:
    """The units ROUGE-L compares: words, or characters in scripts written without spaces."""
    words = match_tokens(text)
    return list("".join(words)) if is_spaceless(lang) else words


def lcs_length(masks: dict[str, int], length: int, tokens: list[str]) -> int:
    """Length of the longest common subsequence of a reference and ``tokens``, given the
    reference as ``masks`` (token → bit mask of its positions) and its ``length``."""
    full = (1 << length) - 1
    v = full
    for token in tokens:
        u = v & masks.get(token, 0)
        v = ((v + u) | (v - u)) & full
    return length - v.bit_count()


def position_masks(tokens: list[str]) -> dict[str, int]:
    """Token → bit mask of the positions where it occurs (the form :func:`lcs_length` takes)."""
    masks: dict[str, int] = {}
    for i, token in enumerate(tokens):
        masks[token] = masks.get(token, 0) | (1 << i)
    return masks


def rouge_l(reference: list[str], candidate: list[str]) -> float:
    """ROUGE-L F-measure (β = 1) of two token lists."""
    if not reference or not candidate:
        return 0.0
    lcs = lcs_length(position_masks(reference), len(reference), candidate)
    return 2 * lcs / (len(reference) + len(candidate))


@dataclass
class RougeL:
    """Paragraphs kept so far for one language, and the near-duplicate test against them."""

    threshold: float = 0.7
    _kept: list[tuple[dict[str, int], int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self._kept)

    def best(self, tokens: list[str]) -> float:
        """The highest ROUGE-L F-measure of ``tokens`` against a kept paragraph (0 if none)."""
        best = 0.0
        n = len(tokens)
        for masks, length in self._kept:
            # F ≤ 2·min/(sum): skip references that cannot reach the best so far.
            if not n or 2 * min(n, length) / (n + length) <= best:
                continue
            best = max(best, 2 * lcs_length(masks, length, tokens) / (n + length))
        return best

    def add(self, tokens: list[str]) -> None:
        """Keep ``tokens`` as a reference for later candidates."""
        if tokens:
            self._kept.append((position_masks(tokens), len(tokens)))

    def is_near_duplicate(self, tokens: list[str]) -> bool:
        """True when ``tokens`` reaches the threshold against a kept paragraph."""
        return self.best(tokens) >= self.threshold
