"""The local runner: content-keyed caching, failures that name their task, resuming, config errors.

These run the real ``baseline`` pipeline with KFP's local SubprocessRunner on a small slice of
Multi30k, and count executed versus cached tasks (never timings).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mtforge.errors import ConfigError, StageFailedError
from pipelines.runner import RunReport, resolve_params, run_pipeline
from tests.pipelines.conftest import FAST

ALL_TASKS = {"ingest-train", "ingest-valid", "clean", "spm", "train", "evaluate", "track"}


def run(data: Path, home: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> RunReport:
    monkeypatch.setenv("MTFORGE_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    params = resolve_params("baseline", "tiny", [f"data={data}", f"testsets_root={data.parent}", *FAST, *extra])
    return run_pipeline("baseline", params, home, echo=lambda line: None)


@pytest.fixture(scope="module")
def first_run(small_multi30k: Path, state_dir: Path) -> RunReport:
    with pytest.MonkeyPatch.context() as mp:
        return run(small_multi30k, state_dir, mp)


def test_first_run_executes_every_task_and_returns_the_mlflow_run(first_run: RunReport) -> None:
    assert set(first_run.executed) == ALL_TASKS
    assert first_run.cached == []
    assert isinstance(first_run.output, str) and len(first_run.output) == 32  # MLflow run id


def test_unchanged_rerun_executes_nothing(first_run, small_multi30k, state_dir, monkeypatch) -> None:
    again = run(small_multi30k, state_dir, monkeypatch)
    assert again.executed == []
    assert set(again.cached) == ALL_TASKS
    assert again.output == first_run.output


def test_changing_a_training_parameter_reruns_only_training_and_what_follows(
        first_run, small_multi30k, state_dir, monkeypatch) -> None:
    changed = run(small_multi30k, state_dir, monkeypatch, "max_steps=5")
    assert set(changed.executed) == {"train", "evaluate", "track"}
    assert set(changed.cached) == {"ingest-train", "ingest-valid", "clean", "spm"}


def test_changing_one_byte_of_a_corpus_reruns_everything_downstream_of_it(
        first_run, small_multi30k, state_dir, monkeypatch) -> None:
    target = small_multi30k / "train.de"
    original = target.read_bytes()
    index = original.index(b"e")
    target.write_bytes(original[:index] + b"E" + original[index + 1:])
    try:
        changed = run(small_multi30k, state_dir, monkeypatch)
    finally:
        target.write_bytes(original)
    assert set(changed.executed) == {"ingest-train", "clean", "spm", "train", "evaluate", "track"}
    assert set(changed.cached) == {"ingest-valid"}


def test_a_failing_task_is_named_with_its_error_and_a_rerun_resumes_from_the_cache(
        first_run, small_multi30k, state_dir, monkeypatch) -> None:
    (small_multi30k / "broken.en").write_text("one\ntwo\nthree\n")
    (small_multi30k / "broken.de").write_text("eins\nzwei\n")
    broken = f"testsets=broken={small_multi30k}#broken"
    with pytest.raises(StageFailedError) as failure:
        run(small_multi30k, state_dir, monkeypatch, broken)
    message = str(failure.value)
    assert "'evaluate'" in message
    assert "broken.en" in message and "broken.de" in message and "3" in message and "2" in message

    (small_multi30k / "broken.de").write_text("eins\nzwei\ndrei\n")
    fixed = run(small_multi30k, state_dir, monkeypatch, broken)
    assert set(fixed.executed) == {"evaluate", "track"}
    assert {"ingest-train", "clean", "spm", "train"} <= set(fixed.cached)


def test_unknown_parameter_lists_the_valid_keys() -> None:
    with pytest.raises(ConfigError) as err:
        resolve_params("baseline", None, ["max_step=3"], fingerprint=False)
    assert "'max_step'" in str(err.value) and "max_steps" in str(err.value) and "vocab_size" in str(err.value)


def test_parameter_of_the_wrong_type_is_named() -> None:
    with pytest.raises(ConfigError, match="'max_steps'.*Integer.*'many'"):
        resolve_params("baseline", None, ["max_steps=many"], fingerprint=False)


def test_unknown_pipeline_and_named_config_are_listed() -> None:
    with pytest.raises(ConfigError, match="pipelines: baseline"):
        resolve_params("nope")
    with pytest.raises(ConfigError, match="named configs: multi30k-12, tiny"):
        resolve_params("baseline", "huge", fingerprint=False)


def test_the_multi30k_config_trains_all_twelve_directions() -> None:
    params = resolve_params("baseline", "multi30k-12", ["sharing=partial"], fingerprint=False)
    assert len(params["directions"].split(",")) == 12 and params["sharing"] == "partial"


def test_missing_data_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    with pytest.raises(Exception, match=str(missing)):
        resolve_params("baseline", "tiny", [f"data={missing}"])


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(MTFORGE_HOME=str(home), COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "mtforge.cli", *args], capture_output=True, text=True, env=env)


def test_cli_rerun_prints_the_summary_scores_and_mlflow_run(first_run, small_multi30k, state_dir) -> None:
    done = cli(state_dir, "run", "baseline", "--config", "tiny", "--set", f"data={small_multi30k}",
               "--set", f"testsets_root={small_multi30k.parent}", *[arg for item in FAST for arg in ("--set", item)])
    assert done.returncode == 0, done.stderr
    assert "0 executed, 7 cached" in done.stdout
    assert "eng_Latn-deu_Latn" in done.stdout and "BLEU" in done.stdout and "chrF++" in done.stdout
    assert first_run.output in done.stdout


def test_cli_compare_lists_the_experiment_runs(first_run, state_dir) -> None:
    done = cli(state_dir, "compare", "mtforge-tiny")
    assert done.returncode == 0, done.stderr
    assert first_run.output[:8] in done.stdout
    assert "eng_Latn-deu_Latn" in done.stdout


def test_cli_bad_input_exits_2_with_the_reason(state_dir, tmp_path) -> None:
    done = cli(state_dir, "run", "baseline", "--set", "vocab=5")
    assert done.returncode == 2 and "unknown parameter(s) 'vocab'" in done.stderr and "vocab_size" in done.stderr
    missing = tmp_path / "nowhere"
    done = cli(state_dir, "run", "baseline", "--set", f"data={missing}")
    assert done.returncode == 2 and str(missing) in done.stderr
