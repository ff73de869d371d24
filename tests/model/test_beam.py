"""Beam search on real (tiny) models: a trained toy translator and random/biased untrained ones."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
import torch

from mtforge.model.beam import beam_search
from mtforge.model.transformer import PAD_ID, ModelConfig, ModularTransformer
from mtforge.train.data import pad
from mtforge.vocab import EOS

pytestmark = pytest.mark.usefixtures("torch_one_thread")

TAG = 4


ROUTE = SimpleNamespace(src_embeddings="embeddings/shared", encoder=["encoder/0/enc"], decoder=["decoder/0/dec"],
                        tgt_embeddings="embeddings/shared")


class BiasedModel(ModularTransformer):
    """A real model whose output logits get a fixed per-token bias (e.g. to favour PAD or EOS)."""

    def __init__(self, cfg: ModelConfig, bias: dict[int, float]) -> None:
        super().__init__(cfg, {"embeddings/shared": 0, "encoder/0/enc": 1, "decoder/0/dec": 1})
        self.bias = torch.zeros(cfg.vocab_size)
        for token, value in bias.items():
            self.bias[token] = value

    def logits(self, route, hidden):
        return super().logits(route, hidden) + self.bias


def random_model(bias: dict[int, float] | None = None, seed: int = 0) -> ModularTransformer:
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=40, d_model=32, n_heads=2, ffn_dim=64,
                      dropout=0.0, max_positions=128)
    return BiasedModel(cfg, bias or {}).eval()


def random_sources(n: int, seed: int, vocab: int = 40) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randint(5, vocab - 1) for _ in range(rng.randint(1, 9))] for _ in range(n)]


@torch.no_grad()
def greedy(model: ModularTransformer, src: list[int], tag: int, limit: int, route=ROUTE) -> list[int]:
    """Reference greedy decoding: argmax (PAD excluded) until EOS or ``limit`` tokens."""
    memory, mask = model.encode(route, torch.tensor([src]))
    out: list[int] = []
    for _ in range(limit):
        logits = model.decode(route, torch.tensor([[tag] + out]), memory, mask)[0, -1]
        logits[PAD_ID] = float("-inf")
        token = int(logits.argmax())
        if token == EOS:
            break
        out.append(token)
    return out


@pytest.mark.parametrize("beam_size", [1, 2, 4, 6])
def test_trained_model_translates_in_one_padded_batch(toy_model, beam_size: int) -> None:
    """Every checked sentence (1–4 words, mixed in one padded batch) comes out right.

    Regression (beam_size 2): endings ranked outside the k best candidates used to count as
    finished hypotheses, so a sentence could stop on k poor early endings before its best one
    ended ("star dog fish" → "Stern Hund", log-prob -5 against -0.03 for the translation).
    """
    sentences = toy_model.sentences
    src = pad(toy_model.vocab.encode(sentences))
    assert src.eq(PAD_ID).any()  # mixed lengths: padding is exercised
    hyps = beam_search(toy_model.model, toy_model.route, src, toy_model.tag_id,
                       beam_size=beam_size)
    wrong = [(s, h) for s, h in zip(sentences, toy_model.vocab.decode(hyps)) if h != toy_model.translation(s)]
    assert not wrong
    assert all(toy_model.tag_id not in h and EOS not in h for h in hyps)


def test_beam_size_one_is_greedy_on_the_trained_model(toy_model) -> None:
    vocab = toy_model.vocab
    for sentence in toy_model.sentences[:8]:
        ids = vocab.encode([sentence])[0]
        expected = greedy(toy_model.model, ids, toy_model.tag_id, int(1.5 * len(ids) + 10),
                          toy_model.route)
        got = beam_search(toy_model.model, toy_model.route, torch.tensor([ids]),
                          toy_model.tag_id, beam_size=1)
        assert got == [expected]
        assert vocab.decode(got) == [toy_model.translation(sentence)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_size_one_is_greedy_on_a_random_model(seed: int) -> None:
    model = random_model(seed=seed)
    for src in random_sources(5, seed):
        got = beam_search(model, ROUTE, torch.tensor([src]), TAG, beam_size=1, max_len_a=0.5, max_len_b=4)
        assert got == [greedy(model, src, TAG, int(0.5 * len(src) + 4))]


@pytest.mark.parametrize("a,b", [(1.5, 10), (0.0, 3), (2.0, 0), (0.5, 1)])
def test_a_hypothesis_that_never_ends_stops_at_each_sentences_own_limit(a: float, b: int) -> None:
    model = random_model({EOS: -1e4})  # EOS never wins: every hypothesis runs to its limit
    sources = random_sources(6, seed=7)
    hyps = beam_search(model, ROUTE, pad(sources), TAG, beam_size=3, max_len_a=a, max_len_b=b)
    assert [len(h) for h in hyps] == [int(a * len(s) + b) for s in sources]


def test_pad_is_never_produced_even_when_the_model_prefers_it() -> None:
    model = random_model({PAD_ID: 50.0})
    hyps = beam_search(model, ROUTE, pad(random_sources(6, seed=3)), TAG, beam_size=3)
    assert all(h for h in hyps)
    assert all(PAD_ID not in h and EOS not in h for h in hyps)


def test_eos_ends_a_hypothesis_and_is_not_part_of_it() -> None:
    model = random_model({EOS: 50.0})  # EOS first: the best hypothesis is empty
    assert beam_search(model, ROUTE, pad(random_sources(4, seed=5)), TAG, beam_size=2) == [[]] * 4


@pytest.mark.parametrize("beam_size", [1, 2, 5])
def test_output_holds_no_special_ids_for_any_beam_size(beam_size: int) -> None:
    model = random_model(seed=4)
    sources = random_sources(8, seed=11)
    hyps = beam_search(model, ROUTE, pad(sources), TAG, beam_size=beam_size, max_len_a=1.0, max_len_b=2)
    assert len(hyps) == len(sources)
    for src, hyp in zip(sources, hyps):
        assert PAD_ID not in hyp and EOS not in hyp
        assert len(hyp) <= len(src) + 2
