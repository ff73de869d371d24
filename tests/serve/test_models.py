"""Model sources (train folder, logged MLflow model, registry alias) and the module LRU."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient

from mtforge import tracking
from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.mlflow_model import log_translation_model
from mtforge.registry import register_model
from mtforge.serve.models import ModuleCache, ServedModel, resolve_model, unit_bytes
from mtforge.stages.spm import MODEL_FILE
from mtforge.translate import Translator
from tests.conftest import DE, EN, TOY_CHECK, toy_translation

pytestmark = pytest.mark.usefixtures("torch_one_thread")

EN_DE, DE_EN = ["decoder/0/deu_Latn", "embeddings/shared", "encoder/0/eng_Latn"], \
    ["decoder/0/eng_Latn", "embeddings/shared", "encoder/0/deu_Latn"]


def served(files, budget_mb: float = 512, **options) -> ServedModel:
    return ServedModel(files, ModuleCache(int(budget_mb * 2**20), **options))


@pytest.fixture(scope="module")
def pipeline_model(tiny_pipeline: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    return resolve_model(tiny_pipeline["train"], vocab=tiny_pipeline["spm"],
                         cache_dir=tmp_path_factory.mktemp("models"))


def test_a_train_folder_with_its_spm_folder_translates_like_the_translator(pipeline_model,
                                                                         tiny_pipeline: dict[str, str]) -> None:
    model = served(pipeline_model)
    route = model.route("en", "de")
    lines = ["A man in an orange hat starring at something.", "People are fixing the roof of a house."]
    got, pieces = model.translate_ids(route, model.encode(route, lines), beam_size=2)
    expected = Translator(pipeline_model.checkpoint, model.vocab, EN, DE).translate(lines, beam_size=2)
    assert got == expected and pieces > 0
    assert pipeline_model.version.startswith("train@step")
    assert model.trained_directions == [f"{EN}-{DE}", f"{DE}-{EN}"]


def test_a_train_folder_without_vocab_or_a_missing_path_is_named(tiny_pipeline: dict[str, str],
                                                                 tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--vocab"):
        resolve_model(tiny_pipeline["train"], cache_dir=tmp_path)
    with pytest.raises(InputNotFoundError, match="nowhere"):
        resolve_model(str(tmp_path / "nowhere"), cache_dir=tmp_path)
    with pytest.raises(InputNotFoundError, match="spm.model"):
        resolve_model(tiny_pipeline["train"], vocab=str(tmp_path), cache_dir=tmp_path)


def test_the_champion_alias_of_the_registry_is_downloaded_and_versioned(tiny_pipeline: dict[str, str],
                                                                        tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=tracking.tracking_uri())
    run = client.create_run(tracking.ensure_experiment("test-serve-models")).info.run_id
    client.set_terminated(run, "FINISHED")
    uri = log_translation_model(run, checkpoint_dir=Path(tiny_pipeline["train"]) / "checkpoint",
                                vocab_file=Path(tiny_pipeline["spm"]) / MODEL_FILE)
    version = register_model(uri, "serve-champion", run_id=run)
    client.set_registered_model_alias("serve-champion", "champion", version.version)

    files = resolve_model("models:/serve-champion@champion", cache_dir=tmp_path / "cache")
    assert files.version == f"serve-champion/{version.version}"
    assert files.checkpoint.is_relative_to(tmp_path / "cache") and files.vocab.is_file()
    model = served(files)
    route = model.route("de", "en")
    line = ["Ein Mann mit einem orangefarbenen Hut, der etwas anstarrt."]
    assert model.translate_ids(route, model.encode(route, line), beam_size=2)[0] == \
        Translator(Path(tiny_pipeline["train"]) / "checkpoint", model.vocab, DE, EN).translate(line, beam_size=2)
    # the same registry version is not downloaded twice; a logged model folder works directly
    marker = files.checkpoint / "marker"
    marker.write_text("kept")
    assert resolve_model("models:/serve-champion@champion", cache_dir=tmp_path / "cache").checkpoint == files.checkpoint
    assert marker.exists()
    model_dir = files.checkpoint.parents[1]
    assert resolve_model(str(model_dir), cache_dir=tmp_path).checkpoint == files.checkpoint
    with pytest.raises(InputNotFoundError, match="serve-champion@nobody"):
        resolve_model("models:/serve-champion@nobody", cache_dir=tmp_path / "cache")


def test_units_are_shared_between_directions_and_evicted_least_recently_used_first(pipeline_model) -> None:
    probe = served(pipeline_model)
    sizes = {m: unit_bytes(u) for m, u in probe.cache.units(pipeline_model, probe.cfg, probe.plan.module_layers(),
                                                          EN_DE + DE_EN).items()}
    # a budget that holds one direction (3 units) but not both (5 units)
    budget = sum(sizes[m] for m in EN_DE) + sizes["encoder/0/deu_Latn"] // 2
    cache = ModuleCache(budget)
    model = ServedModel(pipeline_model, cache)
    en_de, de_en = model.route("en", "de"), model.route("de", "en")
    model.load(en_de)
    assert sorted(m for _, m in cache.loaded()) == EN_DE and cache.loads == 3
    model.load(de_en)  # the shared embeddings stay; the eng encoder and deu decoder go
    assert sorted(m for _, m in cache.loaded()) == DE_EN
    assert (cache.loads, cache.evictions) == (5, 2) and cache.used_bytes <= budget
    model.load(de_en)
    assert cache.loads == 5  # nothing reloaded


def test_a_direction_larger_than_the_budget_is_a_clear_error(pipeline_model) -> None:
    model = served(pipeline_model, budget_mb=0.01)
    with pytest.raises(ConfigError, match="memory budget"):
        model.load(model.route("en", "de"))
    assert model.cache.loaded() == []


def test_two_checkpoints_with_the_same_folder_name_do_not_share_units(toy_files: dict[str, str],
                                                                     tmp_path: Path) -> None:
    copy = tmp_path / "other" / "checkpoint"
    shutil.copytree(toy_files["model"], copy)
    cache = ModuleCache(2**30)
    a = ServedModel(resolve_model(toy_files["model"], vocab=toy_files["vocab"], cache_dir=tmp_path), cache)
    b = ServedModel(resolve_model(str(copy), vocab=toy_files["vocab"], cache_dir=tmp_path), cache)
    a.load(a.route("en", "de"))
    b.load(b.route("en", "de"))
    assert cache.loads == 6


def test_int8_quantisation_shrinks_the_stacks_and_keeps_toy_translations(toy_files: dict[str, str],
                                                                         tmp_path: Path) -> None:
    files = resolve_model(toy_files["model"], vocab=toy_files["vocab"], cache_dir=tmp_path)
    plain, quantized = served(files), served(files, quantize=True)
    route = plain.route("en", "de")
    try:
        sentences = TOY_CHECK[:40]
        assert quantized.translate_ids(route, quantized.encode(route, sentences), beam_size=2)[0] == \
            [toy_translation(s) for s in sentences]
        plain.load(route)
        assert quantized.cache.used_bytes < 0.8 * plain.cache.used_bytes  # embeddings and attention stay float
        encoder = "encoder/0/eng_Latn"
        q_unit = quantized.cache.units(files, quantized.cfg, quantized.plan.module_layers(), [encoder])[encoder]
        f_unit = plain.cache.units(files, plain.cfg, plain.plan.module_layers(), [encoder])[encoder]
        assert unit_bytes(q_unit) < unit_bytes(f_unit)
        assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in q_unit.modules())
    finally:
        torch.backends.mha.set_fastpath_enabled(True)
