"""Wiring shared by ``curate-bitext`` and ``curate-mono``: list shards → one task per shard
(``dsl.ParallelFor``; each cached on its own content) → merge → MLflow."""


from pathlib import Path

from kfp import dsl

from components.curate import curate_shard, list_shards, merge_shards
from components.track_stage import track_stage
from pipelines.resources import apply_stage, finish_pipeline, retry

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
#: Shard tasks run at the same time (KFP needs it when the pipeline is compiled, not as a parameter).
SHARD_PARALLELISM = 4


def local_defaults() -> dict[str, str]:
    """Decontaminate against the checkout's shared evaluation sets when there are some."""
    return {"eval_data": str(SHARED_DATA)} if SHARED_DATA.is_dir() else {}


def wire(kind: str, *, source, directions, languages, shard_config, merge_config, eval_data, experiment, run_name):
    """Add the curation tasks of ``kind`` (bitext or mono) to the pipeline being defined;
    return the MLflow run id output. ``list-shards`` is never cached: it must see new files."""
    shards = list_shards(source=source, kind=kind, directions=directions, languages=languages)
    retry(shards.set_caching_options(False)).set_display_name("list-shards")
    with dsl.ParallelFor(shards.output, parallelism=SHARD_PARALLELISM) as shard:
        curated = apply_stage(curate_shard(kind=kind, shard=shard, config=shard_config), f"curate-{kind}-shard")
    merged = apply_stage(merge_shards(kind=kind, shards=dsl.Collected(curated.outputs["curated"]),
                                      config=merge_config, eval_data=eval_data), f"curate-{kind}-merge")
    run = track_stage(experiment=experiment, run_name=run_name, stage="curate", output=merged.outputs["curated"])
    finish_pipeline(run)
    return run.output
