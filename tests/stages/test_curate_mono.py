"""curate-mono-shard / curate-mono-merge and lid on real FLORES text: documents split into
sentences, wrong-language documents and sentences dropped with their LID score, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mtforge.corpus import EXCLUSIONS_NAME, Corpus, CorpusWriter
from mtforge.curate.normalise import Normaliser
from mtforge.curate.shards import list_mono_shards
from mtforge.stage import run_stage


def flores(shared_data: Path, lang: str, split: str = "dev") -> list[str]:
    return (shared_data / "flores200" / split / f"{lang}.{split}").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def hindi(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A Hindi shard: 20 documents of 3 FLORES sentences, one English document, one empty line,
    one document with an English and a Nepali sentence appended; curated by curate-mono-shard."""
    hin, eng, npi = flores(shared_data, "hin_Deva"), flores(shared_data, "eng_Latn"), flores(shared_data, "npi_Deva")
    docs = [" ".join(hin[i:i + 3]) for i in range(0, 60, 3)]
    docs += [" ".join(eng[100:103]), "", " ".join(hin[200:203]) + " " + eng[300] + " " + npi[400]]
    root = tmp_path_factory.mktemp("raw-mono")
    (root / "web.hi").write_text("\n".join(docs) + "\n", encoding="utf-8")
    (ref,) = list_mono_shards(str(root))
    out = root / "out"
    config = {"lid": {"languages": ["hin_Deva", "npi_Deva", "eng_Latn"]}, "sentences": {"min_chars": 5}}
    stats = run_stage("curate-mono-shard", config, out_dir=str(out), shard=ref.to_json())
    return {"out": out, "stats": stats, "eng": eng, "npi": npi, "docs": docs}


def test_documents_are_split_into_their_sentences(hindi: dict) -> None:
    corpus = Corpus.open(hindi["out"])
    assert corpus.kind == "mono" and corpus.languages() == ["hin_Deva"]
    rows = list(corpus.iter_rows())
    assert rows[0]["origin"] == "web.hi:1#0" and rows[1]["origin"] == "web.hi:1#1"
    normalise = Normaliser()
    for line, doc in enumerate(hindi["docs"][:20], start=1):
        pieces = [row["text"] for row in rows if row["origin"].startswith(f"web.hi:{line}#")]
        assert len(pieces) >= 3
        assert "".join(pieces).replace(" ", "") == normalise(doc, "hin_Deva").replace(" ", "")


def test_wrong_language_documents_and_sentences_are_excluded_with_a_score(hindi: dict) -> None:
    excluded = pq.read_table(hindi["out"] / EXCLUSIONS_NAME).to_pylist()
    by_origin = {row["origin"]: row for row in excluded}
    assert by_origin["web.hi:21"]["reason"] == "document_lid_mismatch"
    assert by_origin["web.hi:21"]["reason_score"] > 0.5
    assert by_origin["web.hi:22"]["reason"] == "empty"
    english, nepali = ([row for row in excluded if row["origin"].startswith("web.hi:23#") and row["text"] == text]
                       for text in (hindi["eng"][300], hindi["npi"][400]))
    assert [row["reason"] for row in english] == ["script"]            # Latin letters in a Hindi document
    assert [row["reason"] for row in nepali] == ["lid_mismatch"]       # same script, other language


def test_units_add_up(hindi: dict) -> None:
    stats = hindi["stats"]
    excluded = pq.read_table(hindi["out"] / EXCLUSIONS_NAME)
    assert stats["rows_in"] == Corpus.open(hindi["out"]).rows + excluded.num_rows
    whole_lines = sum("#" not in origin for origin in excluded["origin"].to_pylist())
    split_lines = len({origin.partition("#")[0] for origin in excluded["origin"].to_pylist() if "#" in origin}
                      | {row["origin"].partition("#")[0] for row in Corpus.open(hindi["out"]).iter_rows()})
    assert stats["lines_in"] == len(hindi["docs"]) == whole_lines + split_lines


def test_merge_drops_repeated_sentences(hindi: dict, tmp_path: Path) -> None:
    stats = run_stage("curate-mono-merge", {}, out_dir=str(tmp_path / "m1"), shards=[str(hindi["out"])])
    assert stats["rows_out"] == Corpus.open(hindi["out"]).rows
    twice = run_stage("curate-mono-merge", {}, out_dir=str(tmp_path / "m2"), shards=[str(hindi["out"])] * 2)
    assert twice["rows_out"] == stats["rows_out"]
    assert twice["rows_in"] == 2 * hindi["stats"]["rows_in"] == twice["rows_out"] + twice["excluded"]


def test_lid_stage_keeps_declared_language_rows(shared_data: Path, tmp_path: Path) -> None:
    deu, fra = flores(shared_data, "deu_Latn", "devtest"), flores(shared_data, "fra_Latn", "devtest")
    rows = [{"text": t, "lang": "deu_Latn"} for t in deu[:30]] + [{"text": t, "lang": "deu_Latn"} for t in fra[:10]]
    with CorpusWriter(tmp_path / "in", kind="mono") as writer:
        writer.write(rows)
    stats = run_stage("lid", {"backend": "py3langid"}, out_dir=str(tmp_path / "out"), corpus=str(tmp_path / "in"))
    assert stats["rows_in"] == 40
    assert stats["excluded.lid_mismatch.deu_Latn"] >= 9
    assert stats["rows_out"] >= 29
