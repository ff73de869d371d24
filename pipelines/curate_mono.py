"""``curate-mono``: raw monolingual shards → (per shard, in parallel) read, normalise,
document LID, sentence splitting, sentence LID and checks → merge, deduplicate, decontaminate
→ a curated monolingual corpus, its exclusions, a report and an MLflow run."""


from kfp import dsl

from pipelines.curation import local_defaults, wire

__all__ = ["local_defaults", "pipeline"]


@dsl.pipeline(name="curate-mono", description="Split, language-identify, filter, deduplicate and decontaminate "
                                              "raw monolingual text (every dropped line recorded with its reason).")
def pipeline(
    source: str = "/data/raw/mono",
    languages: str = "",
    shard_config: str = "",
    merge_config: str = "",
    eval_data: str = "",
    experiment: str = "mtforge-curation",
    run_name: str = "curate-mono",
) -> str:
    """Monolingual curation.

    Args:
        source: Directory (or s3:// prefix) of raw shards: files named with a language part (web.hi, eng_Latn.dev, scn_Latn), one document per line.
        languages: Comma-separated languages to take (empty: every <stem>.<lang> file).
        shard_config: YAML mapping of the per-shard config: normalise, lid (backend, model_path, threshold, thresholds, languages), document_lid, split, sentences (min_chars, max_chars, min_script_ratio). Empty: defaults.
        merge_config: YAML mapping of the merge config: dedup_keys, near_dedup, near_threshold, benchmarks, eval_files, diff_threshold. Empty: defaults.
        eval_data: Root of the evaluation sets (shared-data layout: flores200/, ntrex128/, tico19/, multi30k/) to decontaminate against; empty: none.
        experiment: MLflow experiment name.
        run_name: MLflow run name.

    Returns:
        The MLflow run id.
    """
    return wire("mono", source=source, directions="", languages=languages, shard_config=shard_config,
                merge_config=merge_config, eval_data=eval_data, experiment=experiment,
                run_name=run_name)
