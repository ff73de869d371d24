"""The clean stage: each filter drops what it should, with its reason, and the counts add up."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mtforge.corpus import EXCLUSIONS_NAME, Corpus, CorpusWriter, import_corpus
from mtforge.errors import ConfigError
from mtforge.stage import get_stage
from mtforge.stages.clean import REASONS, CleanConfig, clean

EN, DE, ZH = "eng_Latn", "deu_Latn", "zho_Hans"


def pair(src: str, tgt: str, src_lang: str = EN, tgt_lang: str = DE) -> dict:
    return {"src": src, "tgt": tgt, "src_lang": src_lang, "tgt_lang": tgt_lang}


#: (row, reason it is dropped for under CleanConfig(max_tokens=6), or None when kept)
CASES = [
    (pair("A dog runs.", "Ein Hund rennt."), None),
    (pair("   ", "Leer."), "empty"),
    (pair("Empty target.", ""), "empty"),
    (pair("one two three four five six seven", "eins zwei drei vier fünf sechs sieben"), "too_long"),
    (pair("one two three four five six", "eins zwei drei vier fünf sechs"), None),
    (pair("one two three four", "eins"), "length_ratio"),
    (pair("one two three", "eins"), None),
    (pair(" Berlin ", "Berlin"), "copy"),
    (pair("A dog runs.", "Ein Hund rennt."), "duplicate"),
    (pair("A dog runs.", "Ein Hund rennt.", DE, EN), None),  # other direction: not a duplicate
    (pair("A dog runs.", "Ein Hund rennt! "), None),  # one character differs: not a duplicate
    # zho_Hans has no spaces: its tokens are characters (5 of them, within the ratio of 3 words)
    (pair("A dog runs fast", "一只狗快跑", EN, ZH), None),
    (pair("A dog runs fast", "一只狗快跑了吗呢啊", EN, ZH), "too_long"),
]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    with CorpusWriter(tmp_path / "in", shard_rows=4) as writer:
        writer.write([{**row, "origin": f"case:{i}"} for i, (row, _) in enumerate(CASES)])
    return writer.corpus.path


def test_each_filter_drops_with_its_reason(corpus: Path, tmp_path: Path) -> None:
    stats = clean(str(corpus), str(tmp_path / "out"), CleanConfig(max_tokens=6))

    kept = Corpus.open(tmp_path / "out" / "corpus", verify=True)
    assert [r["origin"] for r in kept.iter_rows()] == [
        f"case:{i}" for i, (_, reason) in enumerate(CASES) if reason is None
    ]
    excluded = pq.read_table(tmp_path / "out" / EXCLUSIONS_NAME).to_pylist()
    assert [(r["origin"], r["reason"]) for r in excluded] == [
        (f"case:{i}", reason) for i, (_, reason) in enumerate(CASES) if reason is not None
    ]
    assert excluded[0]["src"] == "   "  # dropped rows are kept whole

    expected_drops = {reason: sum(1 for _, r in CASES if r == reason) for reason in REASONS}
    assert stats == {
        "rows_in": float(len(CASES)),
        "rows_out": float(kept.rows),
        **{f"dropped_{reason}": float(n) for reason, n in expected_drops.items()},
    }
    assert stats["rows_in"] == stats["rows_out"] + sum(v for k, v in stats.items() if k.startswith("dropped_"))
    assert kept.manifest.meta["stats"] == stats
    assert kept.manifest.meta["input_content_hash"] == Corpus.open(corpus).content_hash


def test_filters_can_be_switched_off(corpus: Path, tmp_path: Path) -> None:
    stats = clean(
        str(corpus),
        str(tmp_path / "out"),
        CleanConfig(min_tokens=0, max_tokens=1000, max_length_ratio=100, dedup=False, drop_copies=False),
    )
    assert stats["rows_out"] == len(CASES) - 2  # empty lines always go
    assert stats["dropped_empty"] == 2


def test_min_tokens(corpus: Path, tmp_path: Path) -> None:
    stats = clean(str(corpus), str(tmp_path / "out"), CleanConfig(min_tokens=2, max_tokens=6))
    # every pair with a one-word side, including the length_ratio case: reasons apply in order
    assert stats["dropped_too_short"] == 3
    assert stats["dropped_length_ratio"] == 0


def test_config_is_validated_with_clear_errors() -> None:
    with pytest.raises(ConfigError, match="min_tokens .5. is above max_tokens .2."):
        CleanConfig.parse({"min_tokens": 5, "max_tokens": 2})
    with pytest.raises(ConfigError, match="max_length_ratio=0.5"):
        CleanConfig.parse({"max_length_ratio": 0.5})
    with pytest.raises(ConfigError, match="unknown config key.*'max_len'.*valid keys: dedup, drop_copies"):
        CleanConfig.parse({"max_len": 5})
    assert all(field.description for field in CleanConfig.model_fields.values())


def test_stage_is_registered() -> None:
    spec = get_stage("clean")
    assert spec.func is clean and spec.config is CleanConfig
    assert (spec.resources.cpu, spec.resources.memory, spec.resources.gpu) == ("1", "2Gi", 0)


def test_multi30k_train(shared_data: Path, tmp_path: Path) -> None:
    raw = import_corpus(str(shared_data / "multi30k"), tmp_path / "raw", directions="en-de", split="train")
    stats = clean(str(raw.path), str(tmp_path / "out"), CleanConfig())
    dropped = pq.read_table(tmp_path / "out" / EXCLUSIONS_NAME)
    assert stats["rows_in"] == 29_000
    assert 28_900 < stats["rows_out"] < 29_000
    assert dropped.num_rows == stats["rows_in"] - stats["rows_out"]
    assert Corpus.open(tmp_path / "out" / "corpus").rows == stats["rows_out"]
