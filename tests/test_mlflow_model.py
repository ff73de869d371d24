"""The pyfunc translation model: logged into a real (finished) MLflow run of a SQLite store,
loaded back with ``mlflow.pyfunc.load_model`` and checked against the Translator it wraps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mtforge import tracking
from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.mlflow_model import TranslationModel, log_translation_model, pip_requirements
from mtforge.registry import ReusedVersionWarning, register_model
from mtforge.stages.spm import MODEL_FILE
from mtforge.translate import Translator
from mtforge.vocab import Vocab
from tests.conftest import DE, EN

pytestmark = pytest.mark.usefixtures("torch_one_thread")

#: Multi30k test sentences (not in the tiny model's training data).
EN_LINES = ["A man in an orange hat starring at something.", "A Boston Terrier is running on lush green grass.",
            "A girl in karate uniform breaking a stick with a front kick.", "People are fixing the roof of a house."]
DE_LINES = ["Ein Mann mit einem orangefarbenen Hut, der etwas anstarrt.",
            "Ein Boston Terrier läuft über saftig-grünes Gras vor einem weißen Zaun.",
            "Leute Reparieren das Dach eines Hauses."]


@pytest.fixture(scope="module")
def paths(tiny_pipeline: dict[str, str]) -> tuple[Path, Path]:
    return Path(tiny_pipeline["train"]) / "checkpoint", Path(tiny_pipeline["spm"]) / MODEL_FILE


@pytest.fixture(scope="module")
def client() -> MlflowClient:
    return MlflowClient(tracking_uri=tracking.tracking_uri())


@pytest.fixture(scope="module")
def finished_info(client: MlflowClient):
    """The RunInfo of a finished run, as it was before any model was logged into it."""
    experiment = tracking.ensure_experiment("test-mlflow-model")
    run_id = client.create_run(experiment).info.run_id
    client.set_terminated(run_id, "FINISHED")
    return client.get_run(run_id).info


@pytest.fixture(scope="module")
def finished_run(finished_info) -> str:
    return finished_info.run_id


@pytest.fixture(scope="module")
def model_uri(paths: tuple[Path, Path], finished_run: str) -> str:
    ckpt, vocab = paths
    return log_translation_model(finished_run, checkpoint_dir=ckpt, vocab_file=vocab)


@pytest.fixture(scope="module")
def model_dir(model_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The logged model downloaded from the store (the models:/ URI itself is loaded in a fresh
    interpreter below, so this process's global tracking URI is left alone)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", tracking.tracking_uri())  # models:/ URIs ignore tracking_uri=
        return Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=str(tmp_path_factory.mktemp("model"))))


@pytest.fixture(scope="module")
def loaded(model_dir: Path) -> mlflow.pyfunc.PyFuncModel:
    return mlflow.pyfunc.load_model(str(model_dir))


def mixed_rows() -> pd.DataFrame:
    """Both directions interleaved, in the code forms a user may write."""
    rows = [("de", "en", DE_LINES[0]), (EN, DE, EN_LINES[0]), ("en", "de", EN_LINES[1]), ("deu", "eng", DE_LINES[1]),
            ("English", "German", EN_LINES[2]), (DE, EN, DE_LINES[2]), ("en", DE, EN_LINES[3])]
    return pd.DataFrame({"text": [r[2] for r in rows], "src_lang": [r[0] for r in rows],
                         "tgt_lang": [r[1] for r in rows]})


def expected(paths: tuple[Path, Path], frame: pd.DataFrame, beam_size: int) -> list[str]:
    ckpt, vocab_file = paths
    vocab = Vocab(vocab_file)
    out = {}
    for src, tgt, lines in ((EN, DE, EN_LINES), (DE, EN, DE_LINES)):
        out.update(zip(lines, Translator(ckpt, vocab, src, tgt).translate(lines, beam_size=beam_size)))
    return [out[text] for text in frame["text"]]


@pytest.fixture(scope="module")
def two_way_toy(toy_model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-direction checkpoint made from the toy model, whose eng→deu output is known
    exactly (word-by-word German): eng→deu is the toy model; deu→eng is built from the same
    encoder/decoder weights saved as the deu encoder and eng decoder, so it decodes from the
    (untrained) eng tag and gives other, but deterministic, output."""
    from mtforge.train import checkpoint
    from mtforge.train.plan import load_meta_config, preset, resolve_plan

    meta = load_meta_config({**preset("independent", encoder_layers=1, decoder_layers=1),
                             "directions": [f"{EN}-{DE}", f"{DE}-{EN}"]})
    plan = resolve_plan(meta, sizes={(EN, DE): 100, (DE, EN): 100})
    units = toy_model.model.named_units()
    source = {"encoder/0/deu_Latn": "encoder/0/eng_Latn", "decoder/0/eng_Latn": "decoder/0/deu_Latn"}
    ckpt = tmp_path_factory.mktemp("two-way-toy") / "checkpoint"
    for module in plan.module_layers():
        checkpoint.save_module(ckpt, 1, module, units[source.get(module, module)], None)
    frame = checkpoint.read_frame(toy_model.ckpt)
    checkpoint.write_frame(ckpt, {"step": 1, "model": frame["model"], "plan": plan.model_dump(mode="json"),
                                  "plan_fingerprint": plan.fingerprint()})
    return ckpt


@pytest.mark.parametrize("beam_size", [None, 2])
def test_mixed_directions_translate_like_the_translator_in_input_order(
        loaded, paths: tuple[Path, Path], beam_size: int | None) -> None:
    """The tiny pipeline's train-stage checkpoint, both directions in one frame."""
    frame = mixed_rows()
    params = None if beam_size is None else {"beam_size": beam_size}
    result = loaded.predict(frame, params=params)
    assert isinstance(result, list) and len(result) == len(frame)
    assert result == expected(paths, frame, beam_size or 4)


def test_rows_come_back_in_input_order_with_known_translations(
        toy_model, two_way_toy: Path, client: MlflowClient, finished_run: str, tmp_path: Path) -> None:
    """Interleaved directions and lengths; eng→deu rows must be exactly the toy translation of
    their own row, deu→eng rows exactly what that direction's Translator gives for the row."""
    uri = log_translation_model(finished_run, checkpoint_dir=two_way_toy, vocab_file=toy_model.vocab.path,
                                name="toy")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", tracking.tracking_uri())
        model = mlflow.pyfunc.load_model(uri)
    english = list(dict.fromkeys(s for s in toy_model.sentences if len(s.split()) in (1, 4)))[:6]
    german = [toy_model.translation(s) for s in toy_model.sentences[-4:]]
    rows = [("en", "de", english[0]), ("de", "en", german[0]), ("en", "de", english[1]), ("en", "de", english[2]),
            ("deu_Latn", "eng_Latn", german[1]), ("en", "de", english[3]), ("de", "en", german[2]),
            ("de", "en", german[3]), ("en", "de", english[4]), ("en", "de", english[5])]
    frame = pd.DataFrame(rows, columns=["src_lang", "tgt_lang", "text"])
    out = model.predict(frame, params={"beam_size": 3})
    back = dict(zip(german, Translator(two_way_toy, toy_model.vocab, DE, EN).translate(german, beam_size=3)))
    assert out == [toy_model.translation(t) if s == "en" else back[t] for s, _, t in rows]
    assert len(set(out[i] for i, r in enumerate(rows) if r[0] == "en")) == 6  # distinct: order is checked


def test_one_translator_per_direction_loading_only_its_modules(loaded) -> None:
    model = loaded.unwrap_python_model()
    loaded.predict(mixed_rows())
    assert sorted(model._translators) == [(DE, EN), (EN, DE)]
    assert model._translators[(EN, DE)].loaded_modules == ["decoder/0/deu_Latn", "embeddings/shared",
                                                           "encoder/0/eng_Latn"]
    cached = model._translators[(EN, DE)]
    loaded.predict(pd.DataFrame({"text": [EN_LINES[0]], "src_lang": ["en"], "tgt_lang": ["de"]}))
    assert model._translators[(EN, DE)] is cached


def test_logging_leaves_the_finished_run_as_it_was_and_records_the_model(
        client: MlflowClient, finished_info, finished_run: str, model_uri: str, model_dir: Path) -> None:
    run = client.get_run(finished_run)
    assert (run.info.status, run.info.end_time) == ("FINISHED", finished_info.end_time)
    assert model_uri.removeprefix("models:/") in [o.model_id for o in run.outputs.model_outputs]
    logged = client.get_logged_model(model_uri.removeprefix("models:/"))
    assert logged.source_run_id == finished_run and logged.experiment_id == run.info.experiment_id
    info = mlflow.models.Model.load(model_dir)
    assert [c.name for c in info.signature.inputs.inputs] == ["text", "src_lang", "tgt_lang"]
    assert info.signature.params.to_dict()[0]["name"] == "beam_size"
    local = model_dir
    requirements = (local / "requirements.txt").read_text().split()
    assert set(pip_requirements()) <= set(requirements)
    assert any(r.startswith("torch==") and "+" not in r for r in requirements)
    assert any(r.startswith("mlflow==") for r in requirements)
    assert (local / "code" / "mtforge" / "translate.py").is_file()
    assert not list((local / "code").rglob("__pycache__"))
    example = json.loads((local / "input_example.json").read_text())
    assert example["columns"] == ["text", "src_lang", "tgt_lang"]


def test_registered_pyfunc_loads_by_name_and_registers_once(model_uri: str, finished_run: str, loaded,
                                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    first = register_model(model_uri, "mt-pyfunc", run_id=finished_run)
    with pytest.warns(ReusedVersionWarning, match="version 1"):
        second = register_model(model_uri, "mt-pyfunc", run_id=finished_run)
    assert not list(tmp_path.iterdir())  # MLflow's default store (./mlflow.db) was never touched
    assert str(first.version) == str(second.version) == "1"
    assert (first.source, first.run_id) == (model_uri, finished_run)
    frame = pd.DataFrame({"text": EN_LINES[:1] + DE_LINES[:1], "src_lang": ["en", "de"], "tgt_lang": ["de", "en"]})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", tracking.tracking_uri())
        by_name = mlflow.pyfunc.load_model("models:/mt-pyfunc/1")
    assert by_name.predict(frame) == loaded.predict(frame)


def test_unknown_direction_names_it_and_the_trained_directions(loaded) -> None:
    frame = pd.DataFrame({"text": [EN_LINES[0], EN_LINES[1]], "src_lang": ["en", "en"], "tgt_lang": ["de", "fr"]})
    with pytest.raises(ConfigError, match=r"eng_Latn-fra_Latn.*trained for eng_Latn-deu_Latn, deu_Latn-eng_Latn"):
        loaded.predict(frame)


def test_unknown_language_code_names_the_row(loaded) -> None:
    frame = pd.DataFrame({"text": ["x", "y"], "src_lang": ["en", "en"], "tgt_lang": ["de", "xx-nonsense"]})
    with pytest.raises(ConfigError, match=r"row 1.*xx-nonsense"):
        loaded.predict(frame)


def test_missing_column_names_expected_and_given(loaded) -> None:
    frame = pd.DataFrame({"text": ["A dog."], "source": ["en"], "tgt_lang": ["de"]})
    with pytest.raises(ConfigError, match=r"lacks column\(s\) src_lang.*expected columns text, src_lang, tgt_lang, "
                                          r"given text, source, tgt_lang"):
        loaded.unwrap_python_model().predict(None, frame)
    # Through pyfunc the signature catches it first, naming the column too.
    with pytest.raises(MlflowException, match="src_lang"):
        loaded.predict(frame)


def test_bad_beam_size_is_a_config_error(loaded) -> None:
    with pytest.raises(ConfigError, match="beam_size"):
        loaded.unwrap_python_model().predict(None, mixed_rows(), params={"beam_size": 0})


def test_missing_inputs_and_unknown_run_are_named(paths: tuple[Path, Path], finished_run: str,
                                                  tmp_path: Path) -> None:
    ckpt, vocab = paths
    with pytest.raises(InputNotFoundError, match=str(tmp_path)):
        log_translation_model(finished_run, checkpoint_dir=tmp_path, vocab_file=vocab)
    with pytest.raises(InputNotFoundError, match="nope.model"):
        log_translation_model(finished_run, checkpoint_dir=ckpt, vocab_file=tmp_path / "nope.model")
    with pytest.raises(InputNotFoundError, match="0123456789abcdef"):
        log_translation_model("0123456789abcdef", checkpoint_dir=ckpt, vocab_file=vocab)
    direct = TranslationModel()
    with pytest.raises(InputNotFoundError, match="spm.missing"):
        direct.load(ckpt, tmp_path / "spm.missing")


def test_loads_and_translates_where_mtforge_is_not_installed(model_uri: str, loaded, tmp_path: Path) -> None:
    """A fresh interpreter with the editable mtforge install hidden: the model's own copy of the
    package (code_paths) is what gets imported, and it translates as the loaded model does."""
    script = f"""
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in getattr(f, "__module__", "")
                    and "editable" not in getattr(f, "__name__", "")]
sys.path[:] = [p for p in sys.path if p not in ("", {str(Path.cwd())!r}, {str(Path(__file__).parents[1])!r})]
try:
    import mtforge
except ImportError:
    pass
else:
    raise SystemExit("mtforge is still importable: " + mtforge.__file__)
import json, mlflow, pandas as pd
model = mlflow.pyfunc.load_model({model_uri!r})
import mtforge
out = model.predict(pd.DataFrame({{"text": {EN_LINES[:2]!r}, "src_lang": ["en", "en"], "tgt_lang": ["de", "de"]}}))
print(json.dumps({{"file": mtforge.__file__, "out": list(out)}}))
"""
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking.tracking_uri(), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "/code/mtforge/" in result["file"]
    assert result["out"] == list(loaded.predict(pd.DataFrame({"text": EN_LINES[:2], "src_lang": ["en", "en"],
                                                               "tgt_lang": ["de", "de"]})))

