"""KFP components of the ``mine`` pipeline (:mod:`mtforge.mine`, :mod:`mtforge.stages.embed`,
:mod:`mtforge.stages.mine`). Stage configs travel as YAML text so the Kubeflow UI shows them."""

from typing import List

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def list_mine_shards(source: str, default_source: str, lang: str, shard_rows: int, shuffle_seed: int,
                     seed_offset: int) -> List[str]:
    """List the parts of one language's text, one JSON reference (with a content fingerprint) each.

    Args:
        source: Directory or s3:// prefix of text files named with a language part (web.de, deu_Latn.dev), or a monolingual corpus directory.
        default_source: Used when source is empty.
        lang: The language to take (any code form: de, deu, deu_Latn).
        shard_rows: Most sentences per part (one embedding task each).
        shuffle_seed: Shuffle each file's lines first with seed shuffle_seed + seed_offset (hides a multi-way set's alignment); -1 keeps file order.
        seed_offset: Added to shuffle_seed, so that two sides of one set get different orders.
    """
    from mtforge.mine.shards import list_shards

    seed = shuffle_seed + seed_offset if shuffle_seed >= 0 else None
    return [ref.to_json() for ref in list_shards(source or default_source, lang, shard_rows=shard_rows,
                                                 shuffle_seed=seed)]


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def embed_shard(shard: str, config: str, encoder: str, embeddings: Output[Dataset], stats: Output[Metrics]):
    """Encode one part into L2-normalised sentence embeddings (unreadable/empty lines excluded with a reason).

    Args:
        shard: The part reference from list-mine-shards.
        config: YAML mapping of the embed config (encoder, dtype, batch_size, allow_uncovered); empty: defaults.
        encoder: This side's encoder, overriding the config's (e.g. a student for a new language); empty: the config's.
    """
    import yaml

    from components.kfp_io import publish
    from mtforge.stage import run_stage

    values = yaml.safe_load(config) or {}
    if encoder:
        values["encoder"] = encoder
    publish(run_stage("embed", values, out_dir=embeddings.path, shards=[shard]), stats, embeddings)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def build_index(embeddings: Input[List[Dataset]], config: str, index: Output[Dataset], stats: Output[Metrics]):
    """Train a FAISS index on a sample of one language's embeddings, populate it per part, merge.

    Args:
        embeddings: The embedded parts of one language.
        config: YAML mapping of the index config (factory, sample_size, seed); empty: exact Flat index.
    """
    import yaml

    from components.kfp_io import publish
    from mtforge.stage import run_stage

    result = run_stage("mine-index", yaml.safe_load(config) or {}, out_dir=index.path,
                       embeddings=[e.path for e in embeddings])
    publish(result, stats, index)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def mine_bitext(src_embeddings: Input[List[Dataset]], tgt_embeddings: Input[List[Dataset]], src_index: Input[Dataset],
                tgt_index: Input[Dataset], config: str, mined: Output[Dataset], stats: Output[Metrics]):
    """kNN both ways and margin scoring: a bitext corpus with scores and provenance, duplicates excluded.

    Args:
        src_embeddings: The embedded parts of the source language.
        tgt_embeddings: The embedded parts of the target language.
        src_index: The source language's index (build-index).
        tgt_index: The target language's index (build-index).
        config: YAML mapping of the mine config (k, margin, mode, threshold, nprobe, dedup); empty: defaults.
    """
    import yaml

    from components.kfp_io import publish
    from mtforge.stage import run_stage

    result = run_stage("mine", yaml.safe_load(config) or {}, out_dir=mined.path,
                       src_embeddings=[e.path for e in src_embeddings], tgt_embeddings=[e.path for e in tgt_embeddings],
                       src_index=src_index.path, tgt_index=tgt_index.path)
    publish(result, stats, mined)
