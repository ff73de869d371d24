"""``clean``: drop empty, too short/long, badly length-matched, copied and duplicate pairs.

Every dropped row is recorded with its reason in ``out_dir/exclusions.parquet``; the kept
rows form the corpus ``out_dir/corpus/``. Rows are streamed in batches; only an 8-byte hash
per kept row is held in memory for deduplication.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from mtforge.corpus import Corpus, CorpusWriter, ExclusionWriter
from mtforge.langcodes import SPACELESS_SCRIPTS
from mtforge.stage import Resources, StageConfig, stage

#: Drop reasons, in the order they are tested: a row gets the first that applies.
REASONS = ("empty", "too_short", "too_long", "length_ratio", "copy", "duplicate")
#: Languages whose script has no spaces between words: there each non-space character is a token.
_NO_SPACE_LANG = f"_({'|'.join(sorted(SPACELESS_SCRIPTS))})$"


class CleanConfig(StageConfig):
    """Length, ratio, copy and duplicate filters. Pairs with an empty (or blank) side are
    always dropped. Tokens are counted per side: whitespace-separated words, or non-space
    characters in scripts written without spaces (:data:`mtforge.langcodes.SPACELESS_SCRIPTS`)."""

    min_tokens: int = Field(1, ge=0, description="drop a pair when either side has fewer tokens")
    max_tokens: int = Field(250, ge=1, description="drop a pair when either side has more tokens")
    max_length_ratio: float = Field(
        3.0,
        ge=1.0,
        description="drop a pair when the longer side has more than this many times the tokens of the shorter",
    )
    dedup: bool = Field(True, description="drop exact repeats of (src, tgt, src_lang, tgt_lang), keeping the first")
    drop_copies: bool = Field(
        True, description="drop pairs whose source and target are the same text (ignoring outer spaces)"
    )

    @model_validator(mode="after")
    def _min_below_max(self) -> CleanConfig:
        if self.min_tokens > self.max_tokens:
            raise ValueError(f"min_tokens ({self.min_tokens}) is above max_tokens ({self.max_tokens})")
        return self


def token_counts(text: pa.Array, lang: pa.Array) -> pa.Array:
    """Tokens per row: whitespace-separated words, or non-space characters for languages
    whose script (:data:`mtforge.langcodes.SPACELESS_SCRIPTS`) does not separate words with spaces."""
    words = pc.count_substring_regex(text, r"\S+")
    chars = pc.count_substring_regex(text, r"\S")
    return pc.if_else(pc.match_substring_regex(lang, _NO_SPACE_LANG), chars, words)


def drop_reasons(batch: pa.RecordBatch, config: CleanConfig) -> pa.Array:
    """Per row, the first reason (before ``duplicate``) to drop it, or null to keep it."""
    src_len = token_counts(batch["src"], batch["src_lang"])
    tgt_len = token_counts(batch["tgt"], batch["tgt_lang"])
    shorter = pc.min_element_wise(src_len, tgt_len)
    longer = pc.max_element_wise(src_len, tgt_len)
    tests = {
        "empty": pc.equal(shorter, 0),
        "too_short": pc.less(shorter, config.min_tokens),
        "too_long": pc.greater(longer, config.max_tokens),
        "length_ratio": pc.greater(longer, pc.multiply(shorter.cast(pa.float64()), config.max_length_ratio)),
    }
    if config.drop_copies:
        tests["copy"] = pc.equal(pc.utf8_trim_whitespace(batch["src"]), pc.utf8_trim_whitespace(batch["tgt"]))
    conditions = pa.StructArray.from_arrays(list(tests.values()), names=list(tests))
    return pc.case_when(conditions, *[pa.scalar(reason) for reason in tests])


def mark_duplicates(batch: pa.RecordBatch, reasons: pa.Array, seen: set[bytes]) -> pa.Array:
    """Set ``duplicate`` on kept rows whose (src, tgt, src_lang, tgt_lang) is in ``seen`` and
    add the others' hashes to ``seen``. Hashes are 8-byte BLAKE2b: with 10^7 distinct rows the
    chance of any false duplicate is about 3e-6."""
    kept = pc.indices_nonzero(pc.is_null(reasons))
    keys = pc.binary_join_element_wise(*(batch[c].take(kept) for c in ("src", "tgt", "src_lang", "tgt_lang")), "\x00")
    duplicate = [False] * len(reasons)
    for index, key in zip(kept.to_pylist(), keys.to_pylist(), strict=True):
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        if digest in seen:
            duplicate[index] = True
        else:
            seen.add(digest)
    return pc.if_else(pa.array(duplicate), pa.scalar("duplicate"), reasons)


@stage("clean", version="1", config=CleanConfig, resources=Resources(cpu="1", memory="2Gi"))
def clean(corpus: str, out_dir: str, config: CleanConfig) -> dict[str, float]:
    """Drop empty, too short/long, length-mismatched, copied and duplicate pairs.

    Reads the corpus at ``corpus``, writes the kept rows to the corpus ``out_dir/corpus/`` and
    every dropped row with its reason to ``out_dir/exclusions.parquet``.

    Returns ``rows_in``, ``rows_out`` and ``dropped_<reason>`` for every reason in
    :data:`REASONS` (zero when it dropped nothing); ``rows_in == rows_out + sum(dropped_*)``.
    """
    source = Corpus.open(corpus, verify=True)
    out = Path(out_dir)
    seen: set[bytes] = set()
    meta = {"stage": "clean", "input_content_hash": source.content_hash, "config": config.model_dump(mode="json")}
    with CorpusWriter(out / "corpus", meta=meta) as writer, ExclusionWriter(out) as excluded:
        for batch in source.iter_batches():
            reasons = drop_reasons(batch, config)
            if config.dedup:
                reasons = mark_duplicates(batch, reasons, seen)
            dropped = pc.is_valid(reasons)
            writer.write(batch.filter(pc.invert(dropped)))
            excluded.add(batch.filter(dropped), reasons.filter(dropped))
        stats = {
            "rows_in": float(source.rows),
            "rows_out": float(writer.rows),
            **{f"dropped_{reason}": float(excluded.counts().get(reason, 0)) for reason in REASONS},
        }
        writer.meta["stats"] = stats
    return stats
