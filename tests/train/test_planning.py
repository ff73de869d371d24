"""From a training config and a real corpus to the resolved plan: the meta-config the config
stands for, corpus sizes, ``directions: all``, and the module inventory logged with a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtforge.corpus import CorpusWriter
from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.model.transformer import ModelConfig, ModularTransformer
from mtforge.train.config import TrainConfig
from mtforge.train.plan import Sharing, load_meta_config, preset, resolve_plan
from mtforge.train.planning import corpus_sizes, meta_config, module_inventory, plan_training

EN, DE, FR, CS = "eng_Latn", "deu_Latn", "fra_Latn", "ces_Latn"
#: rows per direction of :func:`corpus` (ISO codes, as multi30k's file suffixes)
ROWS = {"en-de": 30, "de-en": 30, "en-fr": 20, "cs-en": 12}


def write_multi30k(shared_data: Path, out: Path, rows: dict[str, int], *, shard_rows: int = 200_000) -> Path:
    """An mtforge corpus of multi30k train pairs: for each ``"src-tgt"`` (en/de/fr/cs) its
    first ``n`` lines. Returns the corpus path."""
    lines = {iso: (shared_data / "multi30k" / f"train.{iso}").read_text(encoding="utf-8").splitlines()
             for iso in {iso for d in rows for iso in d.split("-")}}
    with CorpusWriter(out, shard_rows=shard_rows) as writer:
        for direction, n in rows.items():
            src, tgt = direction.split("-")
            writer.write([{"src": lines[src][i], "tgt": lines[tgt][i], "src_lang": src, "tgt_lang": tgt,
                           "origin": f"multi30k/train.{src}:{i}"} for i in range(n)])
    return writer.corpus.path


@pytest.fixture(scope="module")
def corpus(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four directions of multi30k in several shards."""
    return write_multi30k(shared_data, tmp_path_factory.mktemp("planning") / "corpus", ROWS, shard_rows=25)


def test_meta_config_writes_the_preset_directions_and_layout() -> None:
    cfg = TrainConfig(directions="en-de,de-fr", sharing="partial", encoder_layers=3, decoder_layers=2,
                      nnodes=2, nproc=3, seed=9)
    meta = meta_config(cfg)
    assert meta.directions == [f"{EN}-{DE}", f"{DE}-{FR}"]
    assert (meta.enc_layers, meta.enc_sharing) == ([2, 1], [Sharing.LANGUAGE, Sharing.FULL])
    assert (meta.dec_layers, meta.dec_sharing) == ([2], [Sharing.LANGUAGE])
    assert (meta.allocation.nodes, meta.allocation.gpus_per_node, meta.allocation.seed) == (2, 3, 9)
    assert meta_config(cfg.model_copy(update={"directions": " all "})).directions == "all"


def test_meta_config_overrides_win_and_allocation_keys_merge() -> None:
    cfg = TrainConfig(directions="en-de,de-fr", sharing="partial", encoder_layers=3, nnodes=2, nproc=3, seed=9,
                      meta_config={"dec_sharing": ["FULL"], "temperature": 5.0, "curriculum": {"de-fr": 100},
                                   "allocation": {"gpus_per_node": 1, "slots_per_gpu": 4}})
    meta = meta_config(cfg)
    assert meta.dec_sharing == [Sharing.FULL]
    assert meta.enc_sharing == [Sharing.LANGUAGE, Sharing.FULL]  # the preset's, not overridden
    assert (meta.temperature, meta.curriculum) == (5.0, {"de-fr": 100})
    # allocation keys merge: the override's win, the config's stay for the rest
    assert (meta.allocation.nodes, meta.allocation.gpus_per_node, meta.allocation.slots_per_gpu,
            meta.allocation.seed) == (2, 1, 4, 9)
    assert meta_config(cfg.model_copy(update={"meta_config": {"allocation": {"seed": 3}}})).allocation.seed == 3


@pytest.mark.parametrize(("override", "key"), [({"enc_layer": [2]}, "enc_layer"),
                                               ({"allocation": {"gpu_per_node": 2}}, "allocation.gpu_per_node")])
def test_a_misspelt_override_is_a_config_error_naming_the_key(override: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        meta_config(TrainConfig(directions="en-de", meta_config=override))


def test_corpus_sizes_count_rows_per_direction_across_shards(corpus: Path) -> None:
    assert len(list(corpus.glob("part-*"))) > 1
    assert corpus_sizes(corpus) == {(EN, DE): 30, (DE, EN): 30, (EN, FR): 20, (CS, EN): 12}


def test_directions_all_plans_exactly_the_directions_with_data(corpus: Path) -> None:
    cfg = TrainConfig(directions="all", sharing="shared", encoder_layers=1, decoder_layers=1, nproc=2,
                      meta_config={"languages": ["en", "de", "fr", "cs"]})
    meta, plan = plan_training(cfg, corpus)
    assert meta.directions == "all"
    sizes = {t.name: t.size for t in plan.tasks}
    assert sizes == {f"{EN}-{DE}": 30, f"{DE}-{EN}": 30, f"{EN}-{FR}": 20, f"{CS}-{EN}": 12}
    total = sum(sizes.values())
    for task in plan.tasks:  # temperature 1: weights in proportion to size
        assert task.weight == pytest.approx(task.size / total)
    assert plan.world_size == 2
    assert sorted(s.task for slots in plan.ranks for s in slots) == sorted(sizes)


def test_directions_all_needs_no_language_list_when_the_corpus_is_given(corpus: Path) -> None:
    _, plan = plan_training(TrainConfig(directions="all", sharing="shared"), corpus)
    assert sorted(t.name for t in plan.tasks) == sorted([f"{EN}-{DE}", f"{DE}-{EN}", f"{EN}-{FR}", f"{CS}-{EN}"])


def test_a_direction_without_data_in_the_corpus_fails_before_training(corpus: Path) -> None:
    with pytest.raises(InputNotFoundError, match=f"{FR}-{EN}"):
        plan_training(TrainConfig(directions="en-de,fr-en"), corpus)


def test_module_inventory_counts_the_parameters_of_the_built_units() -> None:
    meta = load_meta_config({**preset("partial", encoder_layers=3, decoder_layers=2),
                             "directions": ["en-de", "de-en", "en-fr"], "allocation": {"gpus_per_node": 2}})
    plan = resolve_plan(meta)
    model = ModelConfig(vocab_size=300, d_model=32, n_heads=2, ffn_dim=64, dropout=0.0)
    inventory = module_inventory(plan, model)
    units = ModularTransformer(model, plan.module_layers()).named_units()
    assert sorted(inventory) == sorted(units)
    for module, unit in units.items():
        entry = inventory[module]
        assert entry["parameters"] == sum(p.numel() for p in unit.parameters()), module
        assert entry["holders"] == plan.holders()[module]
        assert entry["kind"] == module.split("/")[0]
    assert inventory["embeddings/shared"]["parameters"] == 300 * 32  # a tied table; positions are no parameters
    assert inventory["encoder/0/eng_Latn"]["layers"] == 2 and inventory["encoder/1/full"]["layers"] == 1
    assert inventory["encoder/0/eng_Latn"]["parameters"] > inventory["encoder/1/full"]["parameters"]
    all_tasks = [f"{EN}-{DE}", f"{DE}-{EN}", f"{EN}-{FR}"]
    assert inventory["encoder/1/full"]["tasks"] == all_tasks
    assert inventory["encoder/0/eng_Latn"]["tasks"] == [f"{EN}-{DE}", f"{EN}-{FR}"]
    assert inventory["decoder/0/eng_Latn"]["tasks"] == [f"{DE}-{EN}"]
    assert inventory["embeddings/shared"]["holders"] == [0, 1]
