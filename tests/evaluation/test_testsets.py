"""Test-set lists resolved to per-direction (source, reference) lines: the four named sets on
the real shared data (checked line by line against the raw files), user sources of every
spelling, an ``s3://`` root on a moto server, and the content fingerprint."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest
from minio import Minio

from mtforge.corpus import CorpusWriter
from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError
from mtforge.evaluation.testsets import (DirectionLines, TestSetSpec, fingerprint_testsets, load_testset,
                                        parse_testsets)

EN, DE, FR, CS = "eng_Latn", "deu_Latn", "fra_Latn", "ces_Latn"
M30K = {"en": EN, "de": DE, "fr": FR, "cs": CS}
M30K_TEST = "test_2016_flickr"
#: NTREX-128 file code -> FLORES code (nep and swa are the macrolanguage codes NTREX uses).
NTREX = {"ces": CS, "deu": DE, "eus": "eus_Latn", "fra": FR, "hau": "hau_Latn", "ibo": "ibo_Latn",
         "kin": "kin_Latn", "nep": "npi_Deva", "som": "som_Latn", "swa": "swh_Latn", "urd": "urd_Arab",
         "xho": "xho_Latn"}
#: TICO-19 file code -> FLORES code.
TICO = {"fr": FR, "ha": "hau_Latn", "ne": "npi_Deva", "rw": "kin_Latn", "so": "som_Latn", "sw": "swh_Latn",
        "ur": "urd_Arab"}


def raw(path: Path) -> list[str]:
    """The lines of a data file, split exactly as the importers split them (on ``\\n`` only)."""
    text = path.read_text(encoding="utf-8-sig")
    return [line.removesuffix("\r") for line in text.removesuffix("\n").split("\n")]


def load(text: str, root: str | Path, directions: list[tuple[str, str]], work: Path) -> dict[str, DirectionLines]:
    (spec,) = parse_testsets(text)
    return load_testset(spec, str(root), directions, work)


def all_pairs(langs) -> list[tuple[str, str]]:
    return [(s, t) for s in langs for t in langs if s != t]


def assert_lines(lines: DirectionLines, src: list[str], ref: list[str], origin: str) -> None:
    """``lines`` is exactly ``src``/``ref``, line by line, with origins ``<origin>:<1-based line>``."""
    assert len(lines.src) == len(lines.ref) == len(lines.origins) == len(src) == len(ref)
    assert lines.src == src
    assert lines.ref == ref
    assert lines.origins == [f"{origin}:{i}" for i in range(1, len(src) + 1)]


def copy_head(src: Path, dst: Path, n: int = 20) -> Path:
    """The first ``n`` lines of ``src`` written to ``dst``."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("".join(line + "\n" for line in raw(src)[:n]), encoding="utf-8")
    return dst


# ---------------------------------------------------------------------------------- parsing


def test_parse_named_sets_default_splits_and_separators() -> None:
    specs = parse_testsets(" multi30k, flores200:dev;ntrex128\ttico19  multi30k:val flores200 ")
    assert specs == [
        TestSetSpec(label="multi30k_test_2016_flickr", name="multi30k", split="test_2016_flickr"),
        TestSetSpec(label="flores200_dev", name="flores200", split="dev"),
        TestSetSpec(label="ntrex128", name="ntrex128"),
        TestSetSpec(label="tico19", name="tico19"),
        TestSetSpec(label="multi30k_val", name="multi30k", split="val"),
        TestSetSpec(label="flores200_devtest", name="flores200", split="devtest"),
    ]
    # Labels are used inside "<metric>.<direction>.<testset>" metric names: never a ".".
    assert all("." not in s.label for s in specs)


def test_parse_user_sources() -> None:
    specs = parse_testsets("mine=/data/m30k#test,pair=/d/a.en+/d/b.de;t=s3://b/x/p.tsv "
                           "hub=hf://org/ds?config=de-en#test")
    assert specs == [
        TestSetSpec(label="mine", source="/data/m30k", split="test"),
        TestSetSpec(label="pair", source="/d/a.en,/d/b.de"),  # '+' joins a pair (',' separates entries)
        TestSetSpec(label="t", source="s3://b/x/p.tsv"),
        TestSetSpec(label="hub", source="hf://org/ds?config=de-en", split="test"),
    ]


@pytest.mark.parametrize(("text", "error", "named"), [
    ("wmt14", ConfigError, ["'wmt14'", "multi30k", "flores200", "ntrex128", "tico19", "<label>="]),
    ("multi30k,bogus:dev", ConfigError, ["'bogus'"]),
    ("ntrex128:test", ConfigError, ["ntrex128:test", "no splits"]),
    ("tico19:dev", ConfigError, ["tico19:dev", "no splits"]),
    ("my.set=/x/y", ConfigError, ["'my.set'"]),
    ("=/x/y", ConfigError, ["label ''"]),
    ("mine=", ConfigError, ["'mine='", "nothing after '='"]),
    ("mine=#test", ConfigError, ["'mine=#test'"]),
    ("multi30k,multi30k:test_2016_flickr", ConfigError, ["multi30k_test_2016_flickr", "twice"]),
    ("a=/x, b=/y, a=/z", ConfigError, ["test set a twice"]),
    ("", ConfigError, ["no test sets"]),
    (" , ; ", ConfigError, ["no test sets"]),
])
def test_parse_errors_name_the_entry(text: str, error: type[Exception], named: list[str]) -> None:
    with pytest.raises(error) as info:
        parse_testsets(text)
    for part in named:
        assert part in str(info.value)


# ----------------------------------------------------------------------- named sets, real data


def test_multi30k_every_direction_aligned_with_the_raw_files(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "multi30k"
    files = {code: raw(folder / f"{M30K_TEST}.{iso}") for iso, code in M30K.items()}
    wanted = all_pairs(M30K.values()) + [(EN, "npi_Deva"), ("jpn_Jpan", DE)]
    out = load("multi30k", shared_data, wanted, tmp_path)
    # Every direction among en/de/fr/cs, none of the ones Multi30k lacks, sorted by name.
    assert list(out) == sorted(f"{s}-{t}" for s, t in all_pairs(M30K.values()))
    iso = {code: i for i, code in M30K.items()}
    for direction, lines in out.items():
        s, t = direction.split("-")
        assert len(lines.src) == 1000
        assert_lines(lines, files[s], files[t], f"multi30k/{M30K_TEST}.{iso[s]}")
    # Spot check one aligned line against the raw text itself.
    assert out[f"{EN}-{DE}"].src[0].startswith("A man in an orange hat")
    assert out[f"{EN}-{DE}"].ref[0].startswith("Ein Mann mit einem orangefarbenen")


def test_multi30k_other_split(shared_data: Path, tmp_path: Path) -> None:
    out = load("multi30k:val", shared_data, [(CS, EN)], tmp_path)
    assert list(out) == [f"{CS}-{EN}"]
    folder = shared_data / "multi30k"
    assert_lines(out[f"{CS}-{EN}"], raw(folder / "val.cs"), raw(folder / "val.en"), "multi30k/val.cs")
    assert len(out[f"{CS}-{EN}"].src) == 1014


def test_flores200_devtest_and_dev(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "flores200"
    wanted = [(EN, DE), ("zho_Hans", EN), ("npi_Deva", "swh_Latn"), ("arb_Arab", "jpn_Jpan"),
              (EN, "ita_Latn"), ("tur_Latn", EN)]  # Italian and Turkish are not in the shared FLORES copy
    out = load("flores200", shared_data, wanted, tmp_path / "devtest")
    assert sorted(out) == sorted(f"{s}-{t}" for s, t in wanted[:4])
    for direction, lines in out.items():
        s, t = direction.split("-")
        assert len(lines.src) == 1012
        assert_lines(lines, raw(folder / "devtest" / f"{s}.devtest"), raw(folder / "devtest" / f"{t}.devtest"),
                     f"devtest/{s}.devtest")
    dev = load("flores200:dev", shared_data, [(DE, FR)], tmp_path / "dev")
    assert_lines(dev[f"{DE}-{FR}"], raw(folder / "dev" / f"{DE}.dev"), raw(folder / "dev" / f"{FR}.dev"),
                 f"dev/{DE}.dev")
    assert len(dev[f"{DE}-{FR}"].src) == 997


def test_ntrex128_english_both_ways_with_normalised_codes(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "ntrex128"
    codes = list(NTREX.values())
    wanted = [(EN, c) for c in codes] + [(c, EN) for c in codes] + [(DE, FR), (EN, "jpn_Jpan")]
    out = load("ntrex128", shared_data, wanted, tmp_path)
    # English to and from each of the 12 languages; nothing between two non-English ones.
    assert sorted(out) == sorted([f"{EN}-{c}" for c in codes] + [f"{c}-{EN}" for c in codes])
    assert f"{EN}-npi_Deva" in out and f"swh_Latn-{EN}" in out  # nep -> npi_Deva, swa -> swh_Latn
    english = raw(folder / "src.eng")
    assert len(english) == 1997
    for file_code, code in NTREX.items():
        other = raw(folder / f"ref.{file_code}")
        assert_lines(out[f"{EN}-{code}"], english, other, "ntrex128/src.eng")
        # The reverse direction swaps the sides.
        assert_lines(out[f"{code}-{EN}"], other, english, f"ntrex128/ref.{file_code}")


def test_tico19_english_both_ways_with_normalised_codes(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "tico19"
    codes = list(TICO.values())
    wanted = [(EN, c) for c in codes] + [(c, EN) for c in codes] + [(FR, "hau_Latn"), (EN, DE)]
    out = load("tico19", shared_data, wanted, tmp_path)
    assert sorted(out) == sorted([f"{EN}-{c}" for c in codes] + [f"{c}-{EN}" for c in codes])
    for file_code, code in TICO.items():
        english, other = raw(folder / f"test.en.{file_code}"), raw(folder / f"test.{file_code}")
        assert len(english) == len(other) == 2100
        assert_lines(out[f"{EN}-{code}"], english, other, f"tico19/test.en.{file_code}")
        assert_lines(out[f"{code}-{EN}"], other, english, f"tico19/test.{file_code}")


def test_a_named_set_without_any_requested_direction_is_empty(shared_data: Path, tmp_path: Path) -> None:
    assert load("tico19", shared_data, [(DE, FR)], tmp_path) == {}
    assert load("multi30k", shared_data, [(EN, "jpn_Jpan")], tmp_path) == {}


def test_missing_folder_or_split_is_named(shared_data: Path, tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError) as info:
        load("ntrex128", tmp_path, [(EN, DE)], tmp_path / "work")
    assert str(tmp_path / "ntrex128") in str(info.value) and "testsets_root" in str(info.value)
    with pytest.raises(InputNotFoundError) as info:
        load("multi30k:test_2099", shared_data, [(EN, DE)], tmp_path / "work")
    assert "'test_2099'" in str(info.value) and str(shared_data / "multi30k") in str(info.value)


# -------------------------------------------------------------------------------- user sources


@pytest.fixture
def m30k_dir(shared_data: Path, tmp_path: Path) -> Path:
    """A small multi-way directory: test.{en,de,fr} (20 lines) and val.{en,de} (10 lines)."""
    folder = tmp_path / "mine"
    for iso in ("en", "de", "fr"):
        copy_head(shared_data / "multi30k" / f"{M30K_TEST}.{iso}", folder / f"test.{iso}")
    for iso in ("en", "de"):
        copy_head(shared_data / "multi30k" / f"val.{iso}", folder / f"val.{iso}", 10)
    return folder


def test_user_directory_with_split(m30k_dir: Path, tmp_path: Path) -> None:
    en, de, fr = (raw(m30k_dir / f"test.{iso}") for iso in ("en", "de", "fr"))
    out = load(f"mine={m30k_dir}#test", "/unused", [(EN, DE), (FR, EN), (DE, FR)], tmp_path / "work")
    assert list(out) == [f"{DE}-{FR}", f"{EN}-{DE}", f"{FR}-{EN}"]
    assert_lines(out[f"{EN}-{DE}"], en, de, "mine/test.en")
    assert_lines(out[f"{FR}-{EN}"], fr, en, "mine/test.fr")
    val = load(f"mine={m30k_dir}#val", "/unused", [(DE, EN)], tmp_path / "work2")
    assert_lines(val[f"{DE}-{EN}"], raw(m30k_dir / "val.de"), raw(m30k_dir / "val.en"), "mine/val.de")


def test_user_source_lacking_a_language_yields_the_other_directions(m30k_dir: Path, tmp_path: Path) -> None:
    # The val split has no French and no split has Czech: only en<->de remain.
    out = load(f"mine={m30k_dir}#val", "/unused", [(EN, DE), (EN, FR), (FR, DE), (DE, EN), (CS, EN)], tmp_path)
    assert list(out) == [f"{DE}-{EN}", f"{EN}-{DE}"]
    assert len(out[f"{EN}-{DE}"].src) == 10
    # A source holding none of the requested languages covers nothing (not an error).
    assert load(f"mine={m30k_dir}#val", "/unused", [(FR, CS)], tmp_path / "none") == {}


def test_user_pair_of_files_with_plus(m30k_dir: Path, tmp_path: Path) -> None:
    en, de = raw(m30k_dir / "test.en"), raw(m30k_dir / "test.de")
    out = load(f"p={m30k_dir}/test.en+{m30k_dir}/test.de", "/unused", [(DE, EN), (EN, FR), (EN, DE)], tmp_path)
    assert list(out) == [f"{DE}-{EN}", f"{EN}-{DE}"]
    assert_lines(out[f"{DE}-{EN}"], de, en, "mine/test.de")
    assert_lines(out[f"{EN}-{DE}"], en, de, "mine/test.en")


def test_user_file_prefix(m30k_dir: Path, tmp_path: Path) -> None:
    out = load(f"p={m30k_dir}/test", "/unused", [(FR, DE)], tmp_path)
    assert_lines(out[f"{FR}-{DE}"], raw(m30k_dir / "test.fr"), raw(m30k_dir / "test.de"), "mine/test.fr")


def test_user_tsv_serves_both_directions(m30k_dir: Path, tmp_path: Path) -> None:
    en, de = raw(m30k_dir / "test.en"), raw(m30k_dir / "test.de")
    tsv = tmp_path / "tsv" / "pairs.tsv"
    tsv.parent.mkdir()
    tsv.write_text("".join(f"{e}\t{d}\n" for e, d in zip(en, de)), encoding="utf-8")
    # The columns hold the first requested direction's languages (eng, deu).
    out = load(f"t={tsv}", "/unused", [(EN, DE), (DE, EN), (EN, FR)], tmp_path / "work")
    assert list(out) == [f"{DE}-{EN}", f"{EN}-{DE}"]
    assert_lines(out[f"{EN}-{DE}"], en, de, "tsv/pairs.tsv")
    assert_lines(out[f"{DE}-{EN}"], de, en, "tsv/pairs.tsv")


def test_user_mtforge_corpus_serves_the_directions_it_holds(m30k_dir: Path, tmp_path: Path) -> None:
    en, de = raw(m30k_dir / "test.en"), raw(m30k_dir / "test.de")
    with CorpusWriter(tmp_path / "corpus") as writer:
        writer.write([{"src": e, "tgt": d, "src_lang": EN, "tgt_lang": DE, "origin": f"held-out:{i}"}
                      for i, (e, d) in enumerate(zip(en, de), 1)])
    # The corpus holds only eng->deu: the reverse and eng->fra are absent, not an error.
    out = load(f"held={tmp_path / 'corpus'}", "/unused", [(DE, EN), (EN, DE), (EN, FR)], tmp_path / "work")
    assert list(out) == [f"{EN}-{DE}"]
    assert_lines(out[f"{EN}-{DE}"], en, de, "held-out")
    assert load(f"held={tmp_path / 'corpus'}", "/unused", [(DE, EN)], tmp_path / "work2") == {}


@pytest.fixture
def jsonl(m30k_dir: Path, tmp_path: Path) -> Path:
    """The 20 en/de test lines as language-keyed JSONL records."""
    path = tmp_path / "json" / "test.jsonl"
    path.parent.mkdir()
    en, de = raw(m30k_dir / "test.en"), raw(m30k_dir / "test.de")
    path.write_text("".join(json.dumps({"en": e, "de": d}) + "\n" for e, d in zip(en, de)), encoding="utf-8")
    return path


def test_user_jsonl(jsonl: Path, m30k_dir: Path, tmp_path: Path) -> None:
    en, de = raw(m30k_dir / "test.en"), raw(m30k_dir / "test.de")
    out = load(f"j={jsonl}", "/unused", [(DE, EN), (EN, DE)], tmp_path / "work")
    assert list(out) == [f"{DE}-{EN}", f"{EN}-{DE}"]
    assert_lines(out[f"{DE}-{EN}"], de, en, "json/test.jsonl")
    assert_lines(out[f"{EN}-{DE}"], en, de, "json/test.jsonl")


def test_user_jsonl_lacking_a_language_yields_the_other_directions(jsonl: Path, tmp_path: Path) -> None:
    out = load(f"j={jsonl}", "/unused", [(EN, DE), (EN, FR)], tmp_path / "work")
    assert list(out) == [f"{EN}-{DE}"]


def test_missing_user_source_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="no-such-dir"):
        load(f"mine={tmp_path / 'no-such-dir'}", "/unused", [(EN, DE)], tmp_path / "work")


def test_user_directory_with_several_splits_needs_one(m30k_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(CorpusFormatError, match="several splits"):
        load(f"mine={m30k_dir}", "/unused", [(EN, DE)], tmp_path / "work")


def test_loading_again_into_the_same_work_dir_gives_the_new_request(shared_data: Path, tmp_path: Path) -> None:
    load("multi30k", shared_data, [(EN, DE), (DE, EN)], tmp_path)
    again = load("multi30k", shared_data, [(FR, CS)], tmp_path)
    assert list(again) == [f"{FR}-{CS}"]
    assert len(again[f"{FR}-{CS}"].src) == 1000


# ------------------------------------------------------------------------------------ S3 root


@pytest.fixture
def s3_root(s3: Minio, shared_data: Path, tmp_path: Path) -> tuple[str, Path]:
    """A bucket holding a tiny Multi30k-like set under ``sets/multi30k/`` (20 lines of
    test_2016_flickr in en, de, fr); returns its root URI and the local copy."""
    bucket = f"testsets-{uuid.uuid4().hex[:12]}"
    s3.make_bucket(bucket)
    local = tmp_path / "local"
    for iso in ("en", "de", "fr"):
        path = copy_head(shared_data / "multi30k" / f"{M30K_TEST}.{iso}", local / "multi30k" / f"{M30K_TEST}.{iso}")
        s3.fput_object(bucket, f"sets/multi30k/{path.name}", str(path))
    return f"s3://{bucket}/sets", local


def test_s3_root(s3_root: tuple[str, Path], tmp_path: Path) -> None:
    root, local = s3_root
    out = load("multi30k", root, [(EN, DE), (FR, EN), (EN, CS)], tmp_path / "work")
    assert list(out) == [f"{EN}-{DE}", f"{FR}-{EN}"]
    folder = local / "multi30k"
    en, de, fr = (raw(folder / f"{M30K_TEST}.{iso}") for iso in ("en", "de", "fr"))
    assert_lines(out[f"{EN}-{DE}"], en, de, f"multi30k/{M30K_TEST}.en")
    assert_lines(out[f"{FR}-{EN}"], fr, en, f"multi30k/{M30K_TEST}.fr")
    # The same set read locally gives the same lines and origins.
    assert load("multi30k", local, [(EN, DE), (FR, EN)], tmp_path / "work-local") == out
    # A named set the bucket lacks is an error naming where it was looked for.
    with pytest.raises(InputNotFoundError, match=r"sets/ntrex128"):
        load("ntrex128", root, [(EN, DE)], tmp_path / "work")


def test_s3_user_sources(s3: Minio, s3_root: tuple[str, Path], tmp_path: Path) -> None:
    root, local = s3_root
    out = load(f"mine={root}/multi30k#{M30K_TEST}", "/unused", [(DE, FR), (EN, CS)], tmp_path / "work")
    folder = local / "multi30k"
    assert list(out) == [f"{DE}-{FR}"]
    assert_lines(out[f"{DE}-{FR}"], raw(folder / f"{M30K_TEST}.de"), raw(folder / f"{M30K_TEST}.fr"),
                 f"multi30k/{M30K_TEST}.de")
    # An mtforge corpus in the bucket serves only the directions it holds.
    with CorpusWriter(tmp_path / "corpus") as writer:
        writer.write([{"src": e, "tgt": d, "src_lang": EN, "tgt_lang": DE, "origin": f"c:{i}"}
                      for i, (e, d) in enumerate(zip(raw(folder / f"{M30K_TEST}.en"),
                                                     raw(folder / f"{M30K_TEST}.de")), 1)])
    bucket = root.removeprefix("s3://").split("/")[0]
    for path in (tmp_path / "corpus").iterdir():
        s3.fput_object(bucket, f"corpora/held/{path.name}", str(path))
    out = load(f"held=s3://{bucket}/corpora/held", "/unused", [(EN, DE), (DE, EN)], tmp_path / "work2")
    assert list(out) == [f"{EN}-{DE}"] and len(out[f"{EN}-{DE}"].src) == 20


# -------------------------------------------------------------------------------- fingerprint


@pytest.fixture
def small_root(shared_data: Path, tmp_path: Path) -> Path:
    """A test-set root with 20-line copies of multi30k test_2016_flickr (en, de) and ntrex128 (eng, deu)."""
    root = tmp_path / "root"
    for iso in ("en", "de"):
        copy_head(shared_data / "multi30k" / f"{M30K_TEST}.{iso}", root / "multi30k" / f"{M30K_TEST}.{iso}")
    copy_head(shared_data / "ntrex128" / "src.eng", root / "ntrex128" / "src.eng")
    copy_head(shared_data / "ntrex128" / "ref.deu", root / "ntrex128" / "ref.deu")
    return root


def flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[5] = ord("X") if data[5] != ord("X") else ord("Y")
    path.write_bytes(bytes(data))


def test_fingerprint_tracks_content_not_runs(small_root: Path, m30k_dir: Path, tmp_path: Path) -> None:
    text = f"multi30k,ntrex128,mine={m30k_dir}#test"
    first = fingerprint_testsets(text, str(small_root))
    # Loading the sets (a run) and asking again changes nothing.
    for spec in parse_testsets(text):
        load_testset(spec, str(small_root), [(EN, DE)], tmp_path / "work")
    assert fingerprint_testsets(text, str(small_root)) == first
    # The same files under another root: the same fingerprint.
    moved = tmp_path / "elsewhere" / "root"
    shutil.copytree(small_root, moved)
    assert fingerprint_testsets(text, str(moved)) == first
    # The list itself matters.
    assert fingerprint_testsets("multi30k,ntrex128", str(small_root)) != first
    # One byte of a used file, in each kind of set, changes it.
    seen = {first}
    for path in (small_root / "multi30k" / f"{M30K_TEST}.de", small_root / "ntrex128" / "ref.deu",
                 m30k_dir / "test.fr"):
        flip_one_byte(path)
        fingerprint = fingerprint_testsets(text, str(small_root))
        assert fingerprint not in seen, path
        seen.add(fingerprint)


def test_fingerprint_of_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match=str(tmp_path / "tico19")):
        fingerprint_testsets("tico19", str(tmp_path))
    with pytest.raises(InputNotFoundError, match="nothing-here"):
        fingerprint_testsets(f"x={tmp_path / 'nothing-here'}", str(tmp_path))


def test_fingerprint_with_s3_root_tracks_objects(s3: Minio, s3_root: tuple[str, Path]) -> None:
    root, local = s3_root
    first = fingerprint_testsets("multi30k", root)
    assert fingerprint_testsets("multi30k", root) == first
    path = local / "multi30k" / f"{M30K_TEST}.de"
    flip_one_byte(path)
    bucket, _, prefix = root.removeprefix("s3://").partition("/")
    s3.fput_object(bucket, f"{prefix}/multi30k/{path.name}", str(path))
    assert fingerprint_testsets("multi30k", root) != first
