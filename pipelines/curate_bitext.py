"""``curate-bitext``: raw bitext shards → (per shard, in parallel) read, normalise, filter →
merge, deduplicate, decontaminate → a curated corpus, its exclusions, a report and an MLflow run."""


from kfp import dsl

from pipelines.curation import local_defaults, wire

__all__ = ["local_defaults", "pipeline"]


@dsl.pipeline(name="curate-bitext", description="Filter, deduplicate and decontaminate raw bitext shards "
                                                "(every dropped line recorded with its reason).")
def pipeline(
    source: str = "/data/raw/bitext",
    directions: str = "en-de",
    shard_config: str = "",
    merge_config: str = "",
    eval_data: str = "",
    experiment: str = "mtforge-curation",
    run_name: str = "curate-bitext",
) -> str:
    """Bitext curation.

    Args:
        source: Directory (or s3:// prefix) of raw shards: line-aligned files named like train.en + train.de (or eng_Latn.dev + deu_Latn.dev), or *.tsv (one direction).
        directions: Comma-separated directions, e.g. "en-de" (any code form; normalised to FLORES-200).
        shard_config: YAML mapping of the per-shard config: normalise, filters (the filter chain), invalid_utf8, max_line_bytes. Empty: defaults.
        merge_config: YAML mapping of the merge config: dedup_keys, near_dedup, near_threshold, benchmarks, eval_files, diff_threshold. Empty: defaults.
        eval_data: Root of the evaluation sets (shared-data layout: flores200/, ntrex128/, tico19/, multi30k/) to decontaminate against; empty: none.
        experiment: MLflow experiment name.
        run_name: MLflow run name.

    Returns:
        The MLflow run id.
    """
    return wire("bitext", source=source, directions=directions, languages="", shard_config=shard_config,
                merge_config=merge_config, eval_data=eval_data, experiment=experiment,
                run_name=run_name)
