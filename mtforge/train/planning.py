"""From a training config and its corpus to the resolved plan, and what the plan implies.

The architecture preset, the directions and the node/process layout of a
:class:`~mtforge.train.config.TrainConfig` are written as MAMMOTH meta-config fields, the
config's own ``meta_config`` is laid over them, and the result is resolved against the
corpus (which directions have data, how much) into a :class:`~mtforge.train.plan.Plan`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import torch

from mtforge.corpus import Corpus
from mtforge.langcodes import format_direction, parse_directions
from mtforge.model.transformer import ModelConfig, build_unit
from mtforge.train.config import TrainConfig
from mtforge.train.plan import MetaConfig, Plan, load_meta_config, preset, resolve_plan


def meta_config(cfg: TrainConfig) -> MetaConfig:
    """The meta-config a training config stands for (``cfg.meta_config`` wins over the preset)."""
    directions: str | list[str] = "all" if cfg.directions.strip() == "all" else [
        format_direction(s, t) for s, t in parse_directions(cfg.directions)]
    base: dict[str, Any] = {**preset(cfg.sharing, encoder_layers=cfg.encoder_layers,
                                     decoder_layers=cfg.decoder_layers),
                            "directions": directions}
    allocation = {"nodes": cfg.nnodes, "gpus_per_node": cfg.nproc, "seed": cfg.seed,
                  **cfg.meta_config.get("allocation", {})}
    return load_meta_config({**base, **cfg.meta_config, "allocation": allocation})


def corpus_sizes(corpus_path: str | Path) -> dict[tuple[str, str], int]:
    """Sentence pairs per (src, tgt) direction of an mtforge corpus."""
    sizes: Counter[tuple[str, str]] = Counter()
    for batch in Corpus.open(corpus_path).iter_batches():
        cols = batch.select(["src_lang", "tgt_lang"]).to_pydict()
        sizes.update(zip(cols["src_lang"], cols["tgt_lang"]))
    return dict(sizes)


def plan_training(cfg: TrainConfig, corpus: str | Path | None, base_dir: Path | None = None) -> tuple[MetaConfig, Plan]:
    """Resolve the plan of ``cfg``: task sizes come from the corpus, or from the files of a
    corpus template in the meta-config (relative paths resolve against ``base_dir``). With
    ``directions: all`` and no language list, the languages are the corpus's."""
    meta = meta_config(cfg)
    sizes = corpus_sizes(corpus) if corpus and meta.corpus is None else None
    if meta.directions == "all" and not meta.languages and sizes:
        meta = meta.model_copy(update={"languages": sorted({lang for pair in sizes for lang in pair})})
    return meta, resolve_plan(meta, sizes=sizes, base_dir=base_dir)


def model_config(cfg: TrainConfig, vocab_size: int) -> ModelConfig:
    return ModelConfig(vocab_size=vocab_size, d_model=cfg.d_model, n_heads=cfg.n_heads, ffn_dim=cfg.ffn_dim,
                       dropout=cfg.dropout)


def module_inventory(plan: Plan, model: ModelConfig) -> dict[str, dict[str, Any]]:
    """Every module of the plan: its kind, layers, parameter count, holders and tasks.
    Parameters are counted on the meta device: nothing is allocated."""
    holders = plan.holders()
    inventory = {}
    for module, layers in sorted(plan.module_layers().items()):
        with torch.device("meta"):
            params = sum(p.numel() for p in build_unit(model, module, layers).parameters())
        inventory[module] = {"kind": module.split("/", 1)[0], "layers": layers, "parameters": params,
                             "holders": holders.get(module, []),
                             "tasks": [t.name for t in plan.tasks if module in t.modules]}
    return inventory
