"""KFP component for :mod:`mtforge.stages.ingest`."""

from kfp import dsl
from kfp.dsl import Dataset, Metrics, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def ingest(source: str, directions: str, split: str, fingerprint: str, replace_with: str, corpus: Output[Dataset],
           stats: Output[Metrics]):
    """Import a corpus (local path, s3:// or hf://) into mtforge's Parquet corpus format.

    Args:
        source: Where the data is: a directory, file(s), s3://bucket/prefix or hf://dataset-id.
        directions: Comma-separated src-tgt directions to import, e.g. "en-de,de-en".
        split: Split to read from a multi-way directory (train, val, test_2016_flickr); empty for none.
        fingerprint: Content hash of the source (filled in by `mtforge run`); only keys the cache.
        replace_with: When not empty, import this whole source instead (no split), e.g. a curated corpus.
    """
    from components.kfp_io import publish
    from mtforge.stage import run_stage

    config = {"source": replace_with or source, "directions": directions,
              "split": None if replace_with else split or None}
    publish(run_stage("ingest", config, out_dir=corpus.path), stats, corpus)
