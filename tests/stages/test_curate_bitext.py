"""curate-bitext-shard and curate-bitext-merge on real Multi30k lines with bad input mixed in:
every raw line ends up kept or excluded with a reason, never lost."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mtforge.corpus import EXCLUSIONS_NAME, Corpus
from mtforge.curate.shards import list_bitext_shards
from mtforge.errors import ConfigError, CorpusFormatError
from mtforge.stage import read_stage_record, run_stage
from mtforge.stages.curate_merge import DECONTAMINATION_FILE, REPORT_FILE


def lines(shared_data: Path, name: str, start: int, stop: int) -> list[str]:
    return (shared_data / "multi30k" / name).read_text(encoding="utf-8").splitlines()[start:stop]


@pytest.fixture(scope="module")
def raw_dir(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two pair shards of real Multi30k train lines and a TSV shard of bad lines."""
    root = tmp_path_factory.mktemp("raw-bitext")
    en, de = lines(shared_data, "train.en", 0, 400), lines(shared_data, "train.de", 0, 400)
    test_en, test_de = lines(shared_data, "test_2016_flickr.en", 0, 1), lines(shared_data, "test_2016_flickr.de", 0, 1)
    # part-b repeats 20 pairs of part-a (cross-shard duplicates) and holds one test-set pair.
    (root / "part-a.en").write_text("\n".join(en[:200]) + "\n", encoding="utf-8")
    (root / "part-a.de").write_text("\n".join(de[:200]) + "\n", encoding="utf-8")
    (root / "part-b.en").write_text("\n".join(en[200:400] + en[:20] + test_en) + "\n", encoding="utf-8")
    (root / "part-b.de").write_text("\n".join(de[200:400] + de[:20] + test_de) + "\n", encoding="utf-8")
    bad = [b"A man rides a bike down the street.\tEin Mann f\xe4hrt mit dem Fahrrad die Stra\xdfe hinunter.",
           b"Two dogs play\x00 in the snow.\tZwei Hunde spielen im Schnee.",
           b"A girl in a red coat is reading.\tEin M\xc3\xa4dchen in einem roten Mantel liest.\r",
           b"x" * 3000 + b"\ty",
           b"<div><a href='x'>Click here</a></div>\t<div><a href='x'>Hier klicken</a></div>",
           b"A woman is sitting on a bench.\tA woman is sitting on a bench.",
           b"only one column"]
    (root / "junk.tsv").write_bytes(b"\n".join(bad) + b"\n")
    return root


def run_shards(raw_dir: Path, out: Path, config: dict) -> list[str]:
    outs = []
    for ref in list_bitext_shards(str(raw_dir), "en-de"):
        shard_out = out / ref.name
        run_stage("curate-bitext-shard", config, out_dir=str(shard_out), shard=ref.to_json())
        outs.append(str(shard_out))
    return outs


def raw_lines(raw_dir: Path) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in raw_dir.iterdir() if p.suffix in (".en", ".tsv"))


@pytest.fixture(scope="module")
def curated(raw_dir: Path, shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("curated-bitext")
    config = {"invalid_utf8": "reject", "max_line_bytes": 2000}
    shards = run_shards(raw_dir, out / "shards", config)
    merge_out = out / "merged"
    stats = run_stage("curate-bitext-merge", {"eval_data": str(shared_data),
                                              "benchmarks": ["multi30k-test_2016_flickr", "flores200-devtest"]},
                      out_dir=str(merge_out), shards=shards)
    return {"shards": shards, "merged": merge_out, "stats": stats}


def test_every_raw_line_is_kept_or_excluded_with_a_reason(curated: dict, raw_dir: Path) -> None:
    merged = Corpus.open(curated["merged"], verify=True)
    excluded = pq.read_table(curated["merged"] / EXCLUSIONS_NAME)
    assert raw_lines(raw_dir) == merged.rows + excluded.num_rows == curated["stats"]["rows_in"]
    assert excluded["reason"].null_count == 0
    for shard in curated["shards"]:
        shard_rows = Corpus.open(shard).rows + pq.read_table(Path(shard) / EXCLUSIONS_NAME).num_rows
        assert shard_rows == read_stage_record(shard)["stats"]["rows_in"]


def test_bad_lines_are_excluded_with_the_reason_and_origin(curated: dict) -> None:
    rows = pq.read_table(curated["merged"] / EXCLUSIONS_NAME).to_pylist()
    by_origin = {row["origin"]: row["reason"] for row in rows}
    assert by_origin["junk.tsv:1"] == "invalid_utf8"
    assert by_origin["junk.tsv:2"] == "nul_byte"
    assert "junk.tsv:3" not in by_origin            # CRLF and valid UTF-8: kept
    assert by_origin["junk.tsv:4"] == "line_too_long"
    assert by_origin["junk.tsv:6"] == "identical"
    assert by_origin["junk.tsv:7"] == "tsv_columns"
    assert by_origin["junk.tsv:5"] in {"html_tag", "url_email"}


def test_cross_shard_duplicates_and_test_set_overlap_are_removed(curated: dict, shared_data: Path) -> None:
    rows = pq.read_table(curated["merged"] / EXCLUSIONS_NAME).to_pylist()
    duplicates = [r for r in rows if r["reason"] == "duplicate_pair"]
    assert len(duplicates) >= 20 and all(r["origin"].startswith("part-b.en") for r in duplicates[:20])
    test_en = lines(shared_data, "test_2016_flickr.en", 0, 1)[0]
    contaminated = [r for r in rows if r["reason"] == "contaminated"]
    assert [r["src"] for r in contaminated] == [test_en]
    assert curated["stats"]["contaminated.multi30k-test_2016_flickr"] == 1
    assert test_en in (curated["merged"] / DECONTAMINATION_FILE).read_text(encoding="utf-8")
    report = (curated["merged"] / REPORT_FILE).read_text(encoding="utf-8")
    assert "| contaminated |" in report and "eng_Latn-deu_Latn" in report


def test_stats_count_each_filter_per_direction(curated: dict) -> None:
    stats = curated["stats"]
    reasons = {key.split(".")[1] for key in stats if key.startswith("excluded.") and key.count(".") == 1}
    assert {"invalid_utf8", "nul_byte", "line_too_long", "identical", "duplicate_pair", "contaminated"} <= reasons
    assert stats["excluded.duplicate_pair.eng_Latn-deu_Latn"] == stats["excluded.duplicate_pair"]
    assert stats["excluded"] == sum(v for k, v in stats.items() if k.count(".") == 1 and k.startswith("excluded."))


def test_unequal_sides_and_bad_config_are_refused_with_names(tmp_path: Path) -> None:
    (tmp_path / "p.en").write_text("One.\nTwo.\n")
    (tmp_path / "p.de").write_text("Eins.\n")
    (ref,) = list_bitext_shards(str(tmp_path), "en-de")
    with pytest.raises(CorpusFormatError, match="p.de"):
        run_stage("curate-bitext-shard", {}, out_dir=str(tmp_path / "out"), shard=ref.to_json())
    with pytest.raises(ConfigError, match="no_such_filter"):
        run_stage("curate-bitext-shard", {"filters": [{"no_such_filter": {}}]}, out_dir=str(tmp_path / "o2"),
                  shard=ref.to_json())


def test_an_empty_shard_gives_an_empty_corpus(tmp_path: Path) -> None:
    (tmp_path / "e.en").write_text("")
    (tmp_path / "e.de").write_text("")
    (ref,) = list_bitext_shards(str(tmp_path), "en-de")
    stats = run_stage("curate-bitext-shard", {}, out_dir=str(tmp_path / "out"), shard=ref.to_json())
    assert stats["rows_in"] == stats["rows_out"] == 0
    assert Corpus.open(tmp_path / "out").rows == 0
