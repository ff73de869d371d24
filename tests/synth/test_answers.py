"""Parsing and rejection of LLM answers (mtforge.synth.answers)."""

import random

import pytest
from hypothesis import given, strategies as st

from mtforge.synth.answers import RougeL, lcs_length, parse_numbered, position_masks, repetition, rouge_l, rouge_tokens


def _lcs_dp(a: list[str], b: list[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


@given(st.lists(st.sampled_from("abcd"), max_size=40), st.lists(st.sampled_from("abcde"), max_size=40))
def test_bit_parallel_lcs_equals_dynamic_programming(a, b):
    assert lcs_length(position_masks(a), len(a), b) == _lcs_dp(a, b)


def test_parse_numbered_accepts_exactly_n_items_in_order():
    answer = "Here are two paragraphs:\n\n1. Habari ya asubuhi.\nInaendelea hapa.\n2) Ya pili.\n"
    assert parse_numbered(answer, 2) == ["Habari ya asubuhi. Inaendelea hapa.", "Ya pili."]
    assert parse_numbered("**1.** Kwanza\n**2.** Pili", 2) == ["Kwanza", "Pili"]


@pytest.mark.parametrize("answer", [
    "1. one\n2. two\n3. three",   # too many
    "1. one",                     # too few
    "1. one\n3. three",           # gap
    "2. two\n1. one",             # out of order
    "1. one\n2. ",                # empty item
    "no list at all",
    "",
])
def test_parse_numbered_rejects_anything_else(answer):
    assert parse_numbered(answer, 2) is None


def test_repetition_flags_loops_not_normal_prose():
    prose = ("Mlima Kilimanjaro ni mlima mrefu zaidi barani Afrika, na watalii wengi huupanda kila mwaka "
             "kutoka nchi mbalimbali duniani.")
    assert repetition(prose, max_word_bigram_share=0.2, max_char_bigram_share=0.1) is None
    loop = "the cat the cat the cat the cat the cat the cat the cat the cat the cat"
    assert repetition(loop, max_word_bigram_share=0.2, max_char_bigram_share=0.1) == "repeated_words"
    chars = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    assert repetition(chars, max_word_bigram_share=0.2, max_char_bigram_share=0.1) == "repeated_chars"


def test_rouge_l_is_unicode_aware_and_symmetric():
    a = rouge_tokens("Ninapenda kusoma vitabu vya historia ya Afrika.", "swh_Latn")
    b = rouge_tokens("ninapenda KUSOMA vitabu vya sayansi ya Afrika", "swh_Latn")
    assert rouge_l(a, b) == pytest.approx(rouge_l(b, a)) == pytest.approx(6 / 7)
    assert rouge_tokens("東京は日本の首都です。", "jpn_Jpan") == list("東京は日本の首都です")
    assert rouge_l([], a) == 0.0


def test_rouge_keeper_rejects_near_duplicates_at_the_threshold():
    keeper = RougeL(threshold=0.7)
    first = "a b c d e f g h i j".split()
    keeper.add(first)
    assert keeper.is_near_duplicate("a b c d e f g x y z".split())  # LCS 7 of 10 → F 0.7
    assert not keeper.is_near_duplicate("a b c d e f x y z w".split())  # F 0.6
    rng = random.Random(0)
    others = [[rng.choice("pqrstuvw") for _ in range(12)] for _ in range(50)]
    for tokens in others:
        keeper.add(tokens)
    assert keeper.best(first) == 1.0 and len(keeper) == 51
