"""KFP components of the curation pipelines (:mod:`mtforge.stages.curate_bitext`,
:mod:`mtforge.stages.curate_mono`). Stage configs travel as YAML text, so the Kubeflow UI
shows (and lets one edit) the whole filter chain."""

from typing import List

from kfp import dsl
from kfp.dsl import Dataset, Input, Markdown, Metrics, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def list_shards(source: str, kind: str, directions: str, languages: str) -> List[str]:
    """List the raw shards of a curation source, one JSON reference (path + content hash) each.

    Args:
        source: Directory or s3:// prefix of raw shard files (named with a language part: train.en, eng_Latn.dev; *.tsv for one bitext direction).
        kind: bitext or mono.
        directions: Bitext: comma-separated directions, e.g. "en-de".
        languages: Mono: comma-separated languages to take (empty: every <stem>.<lang> file).
    """
    from mtforge.curate.shards import list_bitext_shards, list_mono_shards

    refs = list_bitext_shards(source, directions) if kind == "bitext" else list_mono_shards(source, languages)
    return [ref.to_json() for ref in refs]


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def curate_shard(kind: str, shard: str, config: str, curated: Output[Dataset], stats: Output[Metrics]):
    """Curate one raw shard: read (bad lines excluded with a reason), normalise, filter.

    Args:
        kind: bitext or mono.
        shard: The shard reference from list-shards.
        config: YAML mapping of the shard stage's config (empty for the defaults).
    """
    import yaml

    from components.kfp_io import publish
    from mtforge.stage import run_stage

    values = yaml.safe_load(config) or {}
    publish(run_stage(f"curate-{kind}-shard", values, out_dir=curated.path, shard=shard), stats, curated)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def merge_shards(kind: str, shards: Input[List[Dataset]], config: str, eval_data: str, curated: Output[Dataset],
                 exclusions: Output[Dataset], stats: Output[Metrics], report: Output[Markdown]):
    """Merge curated shards; deduplicate and decontaminate across them; write the report.

    Args:
        kind: bitext or mono.
        shards: The curated shards.
        config: YAML mapping of the merge config (dedup_keys, near_dedup, benchmarks, …).
        eval_data: Root of the evaluation sets (shared-data layout) to decontaminate against; empty: none.
    """
    import os
    import shutil

    import yaml

    from components.kfp_io import publish
    from mtforge.corpus import EXCLUSIONS_NAME
    from mtforge.stage import run_stage
    from mtforge.stages.curate_merge import REPORT_FILE

    values = {**(yaml.safe_load(config) or {}), "eval_data": eval_data}
    result = run_stage(f"curate-{kind}-merge", values, out_dir=curated.path, shards=[s.path for s in shards])
    os.makedirs(exclusions.path, exist_ok=True)
    shutil.copy(os.path.join(curated.path, EXCLUSIONS_NAME), exclusions.path)
    shutil.copy(os.path.join(curated.path, REPORT_FILE), report.path)
    publish(result, stats, curated, exclusions)
