"""Incremental decoding equals full-prefix decoding: per step logits, after beam reordering,
with padded sources, several decoder stacks and int8-quantised layers."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from mtforge.model.beam import beam_search
from mtforge.model.incremental import DecoderState, FullPrefixState
from mtforge.model.transformer import ModelConfig, ModularTransformer
from mtforge.serve.models import ModuleCache, ServedModel, quantize_unit, resolve_model
from mtforge.train.data import pad

pytestmark = pytest.mark.usefixtures("torch_one_thread")

CFG = ModelConfig(vocab_size=50, d_model=32, n_heads=4, ffn_dim=64, dropout=0.0)
MODULES = {"embeddings/shared": 0, "encoder/0/eng_Latn": 2, "decoder/0/deu_Latn": 2, "decoder/1/full": 1}
ROUTE = SimpleNamespace(src_embeddings="embeddings/shared", encoder=["encoder/0/eng_Latn"],
                        decoder=["decoder/0/deu_Latn", "decoder/1/full"], tgt_embeddings="embeddings/shared")
SRC = torch.tensor([[5, 6, 7, 8, 9], [10, 11, 0, 0, 0], [12, 13, 14, 0, 0]])  # padded sources


def model(seed: int = 0) -> ModularTransformer:
    return ModularTransformer(CFG, MODULES, seed=seed).eval()


@torch.no_grad()
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_step_equals_the_last_position_of_a_full_decode(seed: int) -> None:
    m = model(seed)
    memory, pad = m.encode(ROUTE, SRC)
    state = DecoderState(m, ROUTE, memory, pad)
    prefix = torch.full((3, 1), 4)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(12):
        step = state.step(prefix[:, -1])
        torch.testing.assert_close(step, m.decode(ROUTE, prefix, memory, pad, last_only=True), atol=1e-5, rtol=1e-4)
        prefix = torch.cat([prefix, torch.randint(5, 50, (3, 1), generator=gen)], dim=1)


@torch.no_grad()
def test_select_reorders_and_repeats_hypotheses_like_reindexing_the_prefixes() -> None:
    m = model()
    memory, pad = m.encode(ROUTE, SRC)
    state = DecoderState(m, ROUTE, memory, pad)
    prefix = torch.tensor([[4], [4], [4]])
    for tokens in ([20, 21, 22], [30, 31, 32]):
        state.step(prefix[:, -1])
        prefix = torch.cat([prefix, torch.tensor(tokens)[:, None]], dim=1)
    rows = torch.tensor([2, 0, 0])
    state.select(rows)
    prefix, memory, pad = prefix[rows], memory[rows], pad[rows]
    torch.testing.assert_close(state.step(prefix[:, -1]), m.decode(ROUTE, prefix, memory, pad, last_only=True),
                               atol=1e-5, rtol=1e-4)


@torch.no_grad()
def test_quantised_decoder_stacks_decode_incrementally_too() -> None:
    m = model()
    units = {name: quantize_unit(unit) if name.startswith("decoder") else unit
             for name, unit in m.named_units().items()}
    try:
        q = ModularTransformer.from_units(CFG, units)
        memory, pad = q.encode(ROUTE, SRC)
        state = DecoderState(q, ROUTE, memory, pad)
        prefix = torch.tensor([[4, 7, 8]] * 3)
        for t in range(3):
            step = state.step(prefix[:, t])
        # dynamic quantisation scales activations per call (one position vs the whole prefix),
        # so the two paths agree to quantisation noise, not to rounding
        full = q.decode(ROUTE, prefix, memory, pad, last_only=True)
        torch.testing.assert_close(step, full, atol=0.05, rtol=0.0)
        assert torch.equal(step.argmax(-1), full.argmax(-1))
    finally:
        torch.backends.mha.set_fastpath_enabled(True)


@pytest.mark.parametrize("beam_size", [1, 4])
def test_beam_search_finds_the_same_hypotheses_as_with_full_prefix_decoding(tiny_pipeline: dict[str, str],
                                                                           tmp_path: Path, beam_size: int) -> None:
    """On the tiny pipeline's trained eng→deu model and real captions."""
    files = resolve_model(tiny_pipeline["train"], vocab=tiny_pipeline["spm"], cache_dir=tmp_path)
    served = ServedModel(files, ModuleCache(2**30))
    route = served.route("en", "de")
    units = served.cache.units(files, served.cfg, served.plan.module_layers(), route.task.modules)
    m = ModularTransformer.from_units(served.cfg, units)
    captions = ["A man in an orange hat starring at something.", "A Boston Terrier is running on lush green grass.",
                "People are fixing the roof of a house.", "A girl in karate uniform breaking a stick."]
    src, tag = pad(served.encode(route, captions)), served.vocab.tag_id("deu_Latn")
    assert beam_search(m, route.task, src, tag, beam_size=beam_size) == \
        beam_search(m, route.task, src, tag, beam_size=beam_size, decoder=FullPrefixState)
