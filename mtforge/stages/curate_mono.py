"""Monolingual curation (stopes' monolingual pipeline): ``curate-mono-shard`` per raw shard,
then ``curate-mono-merge``; and ``lid``, language identification of any mono corpus.

``curate-mono-shard`` reads one ``<stem>.<lang>`` file of documents (one per line),
normalises each, checks the whole document's language (document-level LID), splits it into
sentences, and checks each sentence's language, length and script (line-level LID).

Accounting unit: a sentence after splitting, or a whole line dropped before splitting
(unreadable, empty or in the wrong language). So ``rows_in == rows_out + excluded`` holds
here as in every curation stage, and ``lines_in`` says how many raw lines were read.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice
from pathlib import Path
from typing import Literal

import pyarrow as pa
from pydantic import Field

from mtforge.corpus import Corpus, CorpusWriter, ExclusionWriter
from mtforge.curate.mono_checks import Decision, LidCheck, LidConfig, SentenceChecksConfig, sentence_checks
from mtforge.curate.normalise import NormaliseConfig, Normaliser
from mtforge.curate.report import curation_stats, exclusion_counts
from mtforge.curate.shards import ShardRef, read_shard
from mtforge.curate.split import split_sentences
from mtforge.stage import Resources, StageConfig, stage
from mtforge.stages.curate_merge import MergeConfig, merge_shards


class CurateMonoShardConfig(StageConfig):
    """How one raw monolingual shard is read, normalised, split and checked."""

    normalise: NormaliseConfig = Field(default_factory=NormaliseConfig, description="text normalisation")
    lid: LidConfig = Field(default_factory=LidConfig, description="language identification")
    document_lid: bool = Field(True, description="check each document's language before splitting it")
    document_threshold: float = Field(0.5, ge=0, le=1, description="least probability of a document's language")
    split: bool = Field(True, description="split documents into sentences")
    max_sentence_chars: int = Field(500, ge=20, description="sentences are cut below this length when splitting")
    sentences: SentenceChecksConfig = Field(default_factory=SentenceChecksConfig, description="sentence checks")
    invalid_utf8: Literal["repair", "reject"] = Field("repair", description="repair or reject invalid UTF-8 lines")
    max_line_bytes: int = Field(1_000_000, ge=1, description="lines longer than this are excluded (line_too_long)")
    batch_lines: int = Field(2_000, ge=1, description="documents processed per batch")


class _Sink:
    """Writes kept rows and excluded rows (with reason and score) of one language."""

    def __init__(self, writer: CorpusWriter, excluded: ExclusionWriter, lang: str) -> None:
        self.writer, self.excluded, self.lang = writer, excluded, lang
        self.units = 0

    def emit(self, texts: Sequence[str], origins: Sequence[str], decisions: Sequence[Decision]) -> list[int]:
        """Write rows whose decision is to drop; return the indices of the others."""
        dropped = [i for i, (reason, _) in enumerate(decisions) if reason]
        if dropped:
            self.excluded.add(pa.table({"text": [texts[i] for i in dropped], "lang": [self.lang] * len(dropped),
                                        "origin": [origins[i] for i in dropped]}),
                              pa.array([decisions[i][0] for i in dropped], pa.string()),
                              pa.array([decisions[i][1] for i in dropped], pa.float64()))
        self.units += len(dropped)
        return [i for i, (reason, _) in enumerate(decisions) if not reason]

    def keep(self, texts: Sequence[str], origins: Sequence[str]) -> None:
        self.writer.write(pa.table({"text": list(texts), "lang": [self.lang] * len(texts), "origin": list(origins)}))
        self.units += len(texts)


@stage("curate-mono-shard", version="1", config=CurateMonoShardConfig, resources=Resources(cpu="1", memory="2Gi"))
def curate_mono_shard(*, shard: str, out_dir: str, config: CurateMonoShardConfig) -> dict[str, float]:
    """Read, normalise, LID-check, split and check one raw monolingual shard.

    ``shard`` is a :class:`ShardRef` JSON string. Writes kept sentences to the mono corpus
    ``out_dir/corpus/`` (origin ``<file>:<line>#<sentence>``) and every dropped line or
    sentence with its reason and score to ``out_dir/exclusions.parquet``.
    """
    ref = ShardRef.from_json(shard)
    (lang,) = ref.langs
    normalise = Normaliser(config.normalise)
    sentence_lid = LidCheck(config.lid)
    document_lid = LidCheck(config.lid.model_copy(update={"threshold": config.document_threshold,
                                                          "thresholds": {}}), prefix="document_")
    out = Path(out_dir)
    lines_in = 0
    meta = {"stage": "curate-mono-shard", "shard": ref.name, "fingerprint": ref.fingerprint}
    with CorpusWriter(out / "corpus", meta=meta, kind="mono") as writer, \
            ExclusionWriter(out, kind="mono") as excluded:
        sink = _Sink(writer, excluded, lang)
        lines = read_shard(ref, max_line_bytes=config.max_line_bytes, invalid_utf8=config.invalid_utf8)
        while group := list(islice(lines, config.batch_lines)):
            lines_in += len(group)
            texts = [normalise(line.texts[0], lang) if not line.reason else "" for line in group]
            origins = [line.origin for line in group]
            decisions: list[Decision] = [(line.reason, None) if line.reason else
                                         (("empty", None) if not text else (None, None))
                                         for line, text in zip(group, texts)]
            kept = sink.emit(texts, origins, decisions)
            if config.document_lid and kept:
                verdicts = document_lid([texts[i] for i in kept], [lang] * len(kept))
                kept = [kept[j] for j in sink.emit([texts[i] for i in kept], [origins[i] for i in kept], verdicts)]
            sentences, sentence_origins = [], []
            for i in kept:
                pieces = split_sentences(texts[i], lang, max_chars=config.max_sentence_chars) if config.split \
                    else [texts[i]]
                sentences += pieces
                sentence_origins += [f"{origins[i]}#{k}" for k in range(len(pieces))]
            survivors = sink.emit(sentences, sentence_origins, sentence_checks(sentences, [lang] * len(sentences),
                                                                              config.sentences))
            sentences = [sentences[i] for i in survivors]
            sentence_origins = [sentence_origins[i] for i in survivors]
            survivors = sink.emit(sentences, sentence_origins, sentence_lid(sentences, [lang] * len(sentences)))
            sink.keep([sentences[i] for i in survivors], [sentence_origins[i] for i in survivors])
    stats = curation_stats(sink.units, writer.corpus.rows, exclusion_counts(out, "mono"))
    stats["lines_in"] = float(lines_in)
    return stats


@stage("curate-mono-merge", version="1", config=MergeConfig, resources=Resources(cpu="1", memory="4Gi"))
def curate_mono_merge(*, shards: list[str], out_dir: str, config: MergeConfig) -> dict[str, float]:
    """Merge ``curate-mono-shard`` outputs; drop exact and near duplicate sentences and
    sentences that overlap an evaluation set (see :func:`~mtforge.stages.curate_merge.merge_shards`)."""
    return merge_shards(shards, Path(out_dir), config, kind="mono")


@stage("lid", version="1", config=LidConfig, resources=Resources(cpu="1", memory="2Gi"))
def lid(*, corpus: str, out_dir: str, config: LidConfig) -> dict[str, float]:
    """Keep the rows of mono ``corpus`` identified as their declared language with at least
    the threshold; the others go to the exclusions (``lid_mismatch``/``lid_low_confidence``)
    with the predicted language's probability."""
    source = Corpus.open(corpus, verify=True)
    check = LidCheck(config)
    out = Path(out_dir)
    with CorpusWriter(out / "corpus", meta={"stage": "lid"}, kind="mono") as writer, \
            ExclusionWriter(out, kind="mono") as excluded:
        for batch in source.iter_batches(batch_rows=5_000):
            texts, langs = batch["text"].to_pylist(), batch["lang"].to_pylist()
            decisions = check(texts, langs)
            keep = pa.array([reason is None for reason, _ in decisions])
            drop = pa.array([reason is not None for reason, _ in decisions])
            excluded.add(batch.filter(drop), pa.array([r for r, _ in decisions if r], pa.string()),
                         pa.array([s for r, s in decisions if r], pa.float64()))
            writer.write(batch.filter(keep))
    return curation_stats(source.rows, writer.corpus.rows, exclusion_counts(out, "mono"))
