"""import_corpus / fingerprint_source on local sources: the shared corpora and small files."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from mtforge.corpus import Corpus, fingerprint_source, import_corpus
from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError

EN_DE = [("en", "de")]
WriteLines = Callable[[Path, list[str]], Path]


# ------------------------------------------------------------------------- shared corpora


def test_multi30k_train_en_de_has_29000_rows(shared_data: Path, tmp_path: Path) -> None:
    corpus = import_corpus(str(shared_data / "multi30k"), tmp_path / "c", directions=EN_DE, split="train")
    assert corpus.rows == 29_000
    assert corpus.manifest.directions == {"eng_Latn-deu_Latn": 29_000}
    first = next(corpus.iter_rows())
    assert first["src"] == (shared_data / "multi30k" / "train.en").open(encoding="utf-8").readline().rstrip("\n")
    assert first["tgt"] == (shared_data / "multi30k" / "train.de").open(encoding="utf-8").readline().rstrip("\n")
    assert first["origin"] == "multi30k/train.en:1"
    assert Corpus.open(corpus.path, verify=True).content_hash == corpus.content_hash


def test_multi30k_prefix_equals_directory_with_split(shared_data: Path, tmp_path: Path) -> None:
    by_dir = import_corpus(str(shared_data / "multi30k"), tmp_path / "a", directions="cs-fr,fr-cs", split="val")
    by_prefix = import_corpus(str(shared_data / "multi30k" / "val"), tmp_path / "b", directions="cs-fr,fr-cs")
    assert by_dir.rows == 2 * 1014
    assert by_dir.content_hash == by_prefix.content_hash


def test_multi30k_without_split_lists_the_splits(shared_data: Path, tmp_path: Path) -> None:
    with pytest.raises(CorpusFormatError, match=r"several splits \('test_2016_flickr', 'train', 'val'\)"):
        import_corpus(str(shared_data / "multi30k"), tmp_path / "c", directions=EN_DE)
    with pytest.raises(InputNotFoundError, match=r"no files for split 'dev' .* splits found: 'test_2016_flickr'"):
        import_corpus(str(shared_data / "multi30k"), tmp_path / "c", directions=EN_DE, split="dev")


def test_flores_split_directory_and_codes(shared_data: Path, tmp_path: Path) -> None:
    corpus = import_corpus(str(shared_data / "flores200"), tmp_path / "c", directions="zh-swa", split="devtest")
    assert corpus.manifest.directions == {"zho_Hans-swh_Latn": 1012}
    assert next(corpus.iter_rows())["origin"] == "devtest/zho_Hans.devtest:1"


def test_oldi_seed_has_no_split(shared_data: Path, tmp_path: Path) -> None:
    corpus = import_corpus(str(shared_data / "oldi_seed"), tmp_path / "c", directions="eng_Latn-scn_Latn")
    assert corpus.rows == 6193


def test_missing_language_lists_the_languages_found(shared_data: Path, tmp_path: Path) -> None:
    with pytest.raises(CorpusFormatError) as err:
        import_corpus(str(shared_data / "multi30k"), tmp_path / "c", directions="en-ja", split="train")
    message = str(err.value)
    assert "no text for jpn_Jpan" in message
    assert (
        "languages found: ces_Latn (train.cs), deu_Latn (train.de), eng_Latn (train.en), fra_Latn (train.fr)" in message
    )


def test_ntrex_and_tico_as_file_pairs(shared_data: Path, tmp_path: Path) -> None:
    ntrex = shared_data / "ntrex128"
    corpus = import_corpus(f"{ntrex / 'ref.swa'},{ntrex / 'src.eng'}", tmp_path / "a", directions="en-sw")
    row = next(corpus.iter_rows())
    assert (row["src_lang"], row["tgt_lang"], row["origin"]) == ("eng_Latn", "swh_Latn", "ntrex128/src.eng:1")
    # "test.en.ne" names two languages, so the pair takes the direction's languages in file order.
    tico = shared_data / "tico19"
    corpus = import_corpus(f"{tico / 'test.en.ne'},{tico / 'test.ne'}", tmp_path / "b", directions="en-ne,ne-en")
    assert corpus.manifest.directions == {"eng_Latn-npi_Deva": 2100, "npi_Deva-eng_Latn": 2100}


# --------------------------------------------------------------------------- small files


@pytest.fixture
def parallel(tmp_path: Path, write_lines: WriteLines) -> Path:
    """``data/{train,dev}.{en,de,fr}``: 3 train lines and 2 dev lines per language."""
    data = tmp_path / "data"
    for split, n in (("train", 3), ("dev", 2)):
        for lang in ("en", "de", "fr"):
            write_lines(data / f"{split}.{lang}", [f"{split} {lang} {i}" for i in range(n)])
    (data / "README.md").write_text("not a language file")
    return data


def test_directions_are_written_in_order(parallel: Path, tmp_path: Path) -> None:
    corpus = import_corpus(str(parallel), tmp_path / "c", directions="de-fr,en-de", split="dev")
    assert [(r["src"], r["tgt"], r["origin"]) for r in corpus.iter_rows()] == [
        ("dev de 0", "dev fr 0", "data/dev.de:1"),
        ("dev de 1", "dev fr 1", "data/dev.de:2"),
        ("dev en 0", "dev de 0", "data/dev.en:1"),
        ("dev en 1", "dev de 1", "data/dev.en:2"),
    ]
    assert corpus.manifest.meta["directions"] == ["deu_Latn-fra_Latn", "eng_Latn-deu_Latn"]


def test_line_count_mismatch_names_both_files_and_counts(
    parallel: Path, tmp_path: Path, write_lines: WriteLines
) -> None:
    write_lines(parallel / "dev.de", ["only one line"])
    with pytest.raises(CorpusFormatError) as err:
        import_corpus(str(parallel), tmp_path / "c", directions=EN_DE, split="dev")
    assert str(err.value) == f"line counts differ: {parallel / 'dev.en'} has 2 lines, {parallel / 'dev.de'} has 1"
    assert not Corpus.is_corpus(tmp_path / "c")


def test_crlf_bom_and_bad_utf8(tmp_path: Path) -> None:
    (tmp_path / "x.en").write_bytes(b"\xef\xbb\xbfHello\r\nWorld\r\n")
    (tmp_path / "x.de").write_bytes(b"Hallo\nWelt\n")
    corpus = import_corpus(f"{tmp_path / 'x.en'},{tmp_path / 'x.de'}", tmp_path / "c", directions=EN_DE)
    assert [(r["src"], r["tgt"]) for r in corpus.iter_rows()] == [("Hello", "Hallo"), ("World", "Welt")]
    (tmp_path / "x.de").write_bytes(b"Hallo\nW\xfclt\n")
    with pytest.raises(CorpusFormatError, match=rf"{tmp_path / 'x.de'}:2: not UTF-8"):
        import_corpus(f"{tmp_path / 'x.en'},{tmp_path / 'x.de'}", tmp_path / "c", directions=EN_DE)


def test_pair_without_language_names_uses_the_first_direction(tmp_path: Path, write_lines: WriteLines) -> None:
    source = f"{write_lines(tmp_path / 'source.txt', ['a'])},{write_lines(tmp_path / 'target.txt', ['b'])}"
    corpus = import_corpus(source, tmp_path / "c", directions="fr-en,en-fr")
    assert [(r["src_lang"], r["src"], r["tgt"]) for r in corpus.iter_rows()] == [
        ("fra_Latn", "a", "b"),
        ("eng_Latn", "b", "a"),
    ]
    with pytest.raises(CorpusFormatError, match="no text for deu_Latn"):
        import_corpus(source, tmp_path / "c", directions="fr-en,en-de")


def test_tsv(tmp_path: Path, write_lines: WriteLines) -> None:
    path = write_lines(tmp_path / "pairs.tsv", ["A dog.\tEin Hund.", "A cat.\tEine Katze."])
    corpus = import_corpus(str(path), tmp_path / "c", directions="en-de,de-en")
    assert corpus.manifest.directions == {"deu_Latn-eng_Latn": 2, "eng_Latn-deu_Latn": 2}
    assert list(corpus.iter_rows())[3] == {
        "src": "Eine Katze.",
        "tgt": "A cat.",
        "src_lang": "deu_Latn",
        "tgt_lang": "eng_Latn",
        "score": None,
        "origin": f"{tmp_path.name}/pairs.tsv:2",
    }


def test_malformed_tsv_line_names_file_and_line(tmp_path: Path, write_lines: WriteLines) -> None:
    path = write_lines(tmp_path / "pairs.tsv", ["a\tb", "c\td", "no tab here"])
    with pytest.raises(CorpusFormatError, match=rf"{path}:3: expected 2 tab-separated fields .* found 1"):
        import_corpus(str(path), tmp_path / "c", directions=EN_DE)


def test_jsonl(tmp_path: Path, write_lines: WriteLines) -> None:
    path = write_lines(
        tmp_path / "data.jsonl",
        [
            json.dumps({"src": "A dog.", "tgt": "Ein Hund.", "score": 0.5}),
            "",
            json.dumps({"src": "Hi", "tgt": "Hallo"}),
        ],
    )
    corpus = import_corpus(str(path), tmp_path / "c", directions=EN_DE)
    assert [(r["src"], r["score"], r["origin"]) for r in corpus.iter_rows()] == [
        ("A dog.", 0.5, f"{tmp_path.name}/data.jsonl:1"),
        ("Hi", None, f"{tmp_path.name}/data.jsonl:3"),
    ]


def test_malformed_jsonl_line_names_file_and_line(tmp_path: Path, write_lines: WriteLines) -> None:
    path = write_lines(tmp_path / "data.jsonl", [json.dumps({"src": "a", "tgt": "b"}), '{"src": "a", "tgt": '])
    with pytest.raises(CorpusFormatError, match=rf"{path}:2: invalid JSON"):
        import_corpus(str(path), tmp_path / "c", directions=EN_DE)
    write_lines(path, [json.dumps({"src": "a", "tgt": 3})])
    with pytest.raises(CorpusFormatError, match=r"data.jsonl:1: field 'tgt' must be a string, got int"):
        import_corpus(str(path), tmp_path / "c", directions=EN_DE)


def test_existing_corpus_is_reused_and_filtered(parallel: Path, tmp_path: Path) -> None:
    both = import_corpus(str(parallel), tmp_path / "both", directions="en-de,de-en", split="train")
    copy = import_corpus(str(both.path), tmp_path / "copy", directions="de-en,en-de")
    assert copy.content_hash == both.content_hash
    only = import_corpus(str(both.path), tmp_path / "only", directions="de-en")
    assert only.manifest.directions == {"deu_Latn-eng_Latn": 3}
    with pytest.raises(
        CorpusFormatError, match="has no eng_Latn-fra_Latn; directions found: deu_Latn-eng_Latn, eng_Latn-deu_Latn"
    ):
        import_corpus(str(both.path), tmp_path / "x", directions="en-fr")
    with pytest.raises(ConfigError, match="is the source itself"):
        import_corpus(str(both.path), both.path, directions="de-en")


@pytest.mark.parametrize(
    ("source", "kwargs", "error", "message"),
    [
        ("{tmp}/nowhere", {}, InputNotFoundError, r"'{tmp}/nowhere': no such file, directory or file prefix"),
        ("{tmp}/data/train.en,{tmp}/data/missing.de", {}, InputNotFoundError, r"'{tmp}/data/missing.de': no such file"),
        ("{tmp}/data/train.en", {}, ConfigError, r"cannot read the single file"),
        ("{tmp}/data", {"fmt": "xml"}, ConfigError, r"unknown corpus format 'xml'; formats: auto, corpus, text"),
        ("{tmp}/data", {"fmt": "tsv"}, ConfigError, r"is a directory"),
        ("{tmp}/data/train", {"split": "dev"}, ConfigError, r"already names split 'train'"),
        ("{tmp}/data/dev.en,{tmp}/data/dev.de", {"split": "dev"}, ConfigError, r"split='dev' does not apply"),
    ],
)
def test_source_errors(
    parallel: Path, tmp_path: Path, source: str, kwargs: dict, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message.format(tmp=tmp_path)):
        import_corpus(source.format(tmp=tmp_path), tmp_path / "c", directions=EN_DE, **kwargs)


# --------------------------------------------------------------------------- fingerprints


def test_fingerprint_follows_content_not_location(parallel: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "data"
    shutil.copytree(parallel, moved)
    original = fingerprint_source(str(parallel), split="train")
    assert fingerprint_source(str(moved), split="train") == original
    assert fingerprint_source(str(parallel), split="dev") != original
    # Files of other splits are not read, so they do not count.
    (moved / "dev.en").write_text("changed\n")
    assert fingerprint_source(str(moved), split="train") == original
    (moved / "train.de").write_bytes((moved / "train.de").read_bytes().replace(b"0", b"1", 1))
    assert fingerprint_source(str(moved), split="train") != original


def test_fingerprint_of_single_files_and_corpora(parallel: Path, tmp_path: Path, write_lines: WriteLines) -> None:
    a = write_lines(tmp_path / "a" / "x" / "pairs.tsv", ["a\tb"])
    b = write_lines(tmp_path / "b" / "x" / "pairs.tsv", ["a\tb"])
    assert fingerprint_source(str(a)) == fingerprint_source(str(b))
    write_lines(b, ["a\tc"])
    assert fingerprint_source(str(a)) != fingerprint_source(str(b))
    corpus = import_corpus(str(parallel), tmp_path / "c", directions=EN_DE, split="dev")
    assert fingerprint_source(str(corpus.path)) == corpus.content_hash


def test_fingerprint_raises_what_import_would(parallel: Path, tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="no such file"):
        fingerprint_source(str(tmp_path / "nowhere"))
    with pytest.raises(CorpusFormatError, match="several splits"):
        fingerprint_source(str(parallel))
