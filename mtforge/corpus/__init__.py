"""Corpus data layer: the on-disk corpus format, importers and exclusion records.

A corpus is a directory of Parquet shards plus ``manifest.json`` (see
:mod:`mtforge.corpus.format`); :func:`import_corpus` builds one from text, TSV, JSONL,
S3 or Hugging Face sources (see :mod:`mtforge.corpus.importers`).
"""

from mtforge.corpus.exclusions import EXCLUSION_SCHEMA, EXCLUSIONS_NAME, ExclusionWriter, exclusion_schema
from mtforge.corpus.format import KINDS, MONO_SCHEMA, SCHEMA, Corpus, CorpusWriter, conform, schema_for
from mtforge.corpus.importers import FORMATS, fingerprint_source, import_corpus
from mtforge.corpus.manifest import FORMAT_VERSION, MANIFEST_NAME, Manifest, ShardInfo

__all__ = [
    "EXCLUSIONS_NAME",
    "EXCLUSION_SCHEMA",
    "FORMATS",
    "KINDS",
    "MONO_SCHEMA",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "SCHEMA",
    "Corpus",
    "CorpusWriter",
    "ExclusionWriter",
    "Manifest",
    "ShardInfo",
    "conform",
    "exclusion_schema",
    "schema_for",
    "fingerprint_source",
    "import_corpus",
]
