"""Corpus path templates in both modes, and the sizes they point at."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError
from mtforge.train.plan import CorpusTemplate
from mtforge.train.plan.templates import count_lines, fill_template, task_paths, template_sizes

EN, BN, DE = "eng_Latn", "ben_Beng", "deu_Latn"
SPELL = {EN: "eng", BN: "ben", DE: "deu"}


def test_directional_variables() -> None:
    assert fill_template("{lang_pair}/train.{src_lang}", "directional", "en", "de") == "en-de/train.en"
    assert fill_template("{lang_pair}/train.{tgt_lang}", "directional", "en", "de") == "en-de/train.de"


def test_symmetric_variables_both_directions() -> None:
    src, tgt = "{sorted_pair}/train.{side_a}.gz", "{sorted_pair}/train.{side_b}.gz"
    # ben → eng is the "forward" direction (ben sorts first); eng → ben reads the same files swapped.
    assert fill_template(src, "symmetric", "ben", "eng") == "ben-eng/train.src.gz"
    assert fill_template(tgt, "symmetric", "ben", "eng") == "ben-eng/train.trg.gz"
    assert fill_template(src, "symmetric", "eng", "ben") == "ben-eng/train.trg.gz"
    assert fill_template(tgt, "symmetric", "eng", "ben") == "ben-eng/train.src.gz"
    assert fill_template("{lang_a}|{lang_b}", "symmetric", "eng", "ben") == "ben|eng"


def test_variable_of_the_other_mode_is_an_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"\{src_lang\}.*symmetric mode.*\{sorted_pair\}"):
        fill_template("{src_lang}/x", "symmetric", "en", "de")
    with pytest.raises(ConfigError, match=r"\{side_a\}.*directional"):
        fill_template("x.{side_a}", "directional", "en", "de")


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(line + "\n" for line in lines).encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def test_count_lines_plain_gz_and_unterminated_last_line(tmp_path: Path) -> None:
    assert count_lines(_write(tmp_path / "a.txt", ["x", "y", "z"])) == 3
    assert count_lines(_write(tmp_path / "a.txt.gz", ["x", "y"])) == 2
    (tmp_path / "b.txt").write_text("x\ny")
    assert count_lines(tmp_path / "b.txt") == 2
    (tmp_path / "empty.txt").write_text("")
    assert count_lines(tmp_path / "empty.txt") == 0


def test_appendix_a_symmetric_files_serve_both_directions(tmp_path: Path) -> None:
    bengali = ["আমি", "তুমি", "সে"]
    english = ["I", "you", "he"]
    _write(tmp_path / "ben-eng/train.src.gz", bengali)
    _write(tmp_path / "ben-eng/train.trg.gz", english)
    corpus = CorpusTemplate(mode="symmetric", src="{sorted_pair}/train.{side_a}.gz", tgt="{sorted_pair}/train.{side_b}.gz")
    found = template_sizes(corpus, [(EN, BN), (BN, EN)], spell=SPELL, base_dir=tmp_path, required=True)
    en_bn, bn_en = found[(EN, BN)], found[(BN, EN)]
    assert (en_bn.size, bn_en.size) == (3, 3)
    assert gzip.open(en_bn.src_path, "rt").read().split() == english
    assert gzip.open(en_bn.tgt_path, "rt").read().split() == bengali
    assert (bn_en.src_path, bn_en.tgt_path) == (en_bn.tgt_path, en_bn.src_path)


def test_required_missing_file_names_direction_and_path(tmp_path: Path) -> None:
    _write(tmp_path / "eng-deu/train.eng", ["a"])
    corpus = CorpusTemplate(src="{lang_pair}/train.{src_lang}", tgt="{lang_pair}/train.{tgt_lang}")
    with pytest.raises(InputNotFoundError, match=r"eng_Latn-deu_Latn.*eng-deu/train\.deu"):
        template_sizes(corpus, [(EN, DE)], spell=SPELL, base_dir=tmp_path, required=True)
    assert template_sizes(corpus, [(EN, DE)], spell=SPELL, base_dir=tmp_path, required=False) == {}


def test_unequal_line_counts_name_both_files(tmp_path: Path) -> None:
    _write(tmp_path / "eng-deu/train.eng", ["a", "b"])
    _write(tmp_path / "eng-deu/train.deu", ["a"])
    corpus = CorpusTemplate(src="{lang_pair}/train.{src_lang}", tgt="{lang_pair}/train.{tgt_lang}")
    with pytest.raises(CorpusFormatError, match=r"train\.eng has 2 lines but .*train\.deu has 1"):
        template_sizes(corpus, [(EN, DE)], spell=SPELL, base_dir=tmp_path, required=False)


def test_absolute_template_ignores_base_dir(tmp_path: Path) -> None:
    corpus = CorpusTemplate(src=str(tmp_path / "x.{src_lang}"), tgt=str(tmp_path / "x.{tgt_lang}"))
    assert task_paths(corpus, EN, DE, spell=SPELL, base_dir=Path("/elsewhere")) == (tmp_path / "x.eng", tmp_path / "x.deu")


def test_multi30k_directional_template(shared_data: Path) -> None:
    corpus = CorpusTemplate(src="multi30k/train.{src_lang}", tgt="multi30k/train.{tgt_lang}")
    found = template_sizes(corpus, [(EN, DE)], spell={EN: "en", DE: "de"}, base_dir=shared_data, required=True)
    assert found[(EN, DE)].size == 29000
    assert found[(EN, DE)].src_path == shared_data / "multi30k/train.en"
