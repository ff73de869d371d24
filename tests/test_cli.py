"""``mtforge plan``: the meta-config a user writes, resolved and shown before any training."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtforge.cli import main
from mtforge.train.plan import Plan

META = """\
languages: [en, de, fr, cs]
directions: all
corpus:
  src: {root}/train.{{src_lang}}
  tgt: {root}/train.{{tgt_lang}}
enc_layers: [2, 1]
enc_sharing: [LANGUAGE, FULL]
dec_layers: [3]
dec_sharing: [LANGUAGE]
curriculum: {{cs-fr: 500}}
allocation: {{nodes: 2, gpus_per_node: 2}}
"""


def test_plan_resolves_the_multi30k_meta_config(shared_data: Path, tmp_path: Path, capsys) -> None:
    meta = tmp_path / "meta.yaml"
    meta.write_text(META.format(root=shared_data / "multi30k"))
    assert main(["plan", str(meta), "--out", str(tmp_path / "plan.yaml")]) == 0
    out = capsys.readouterr().out
    assert "12 tasks on 2 node(s) × 2 process(es)" in out and "29,000" in out
    plan = Plan.load(tmp_path / "plan.yaml")
    assert [len(r) for r in plan.ranks] == [3, 3, 3, 3]  # balanced over 4 ranks
    assert plan.task("ces_Latn-fra_Latn").start_step == 500
    assert plan.task("eng_Latn-deu_Latn").encoder == ["encoder/0/eng_Latn", "encoder/1/full"]
    assert plan.holders()["encoder/1/full"] == [0, 1, 2, 3]


def test_plan_reports_a_bad_meta_config_as_an_error(tmp_path: Path, capsys) -> None:
    meta = tmp_path / "meta.yaml"
    meta.write_text("directions: [en-de]\nenc_layers: [1, 1]\nenc_sharing: [FULL]\n")
    assert main(["plan", str(meta)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mtforge: error:") and "enc_layers" in err and "enc_sharing" in err


@pytest.mark.parametrize("missing", ["nowhere.yaml"])
def test_plan_names_a_missing_meta_config(tmp_path: Path, capsys, missing: str) -> None:
    assert main(["plan", str(tmp_path / missing)]) == 2
    assert missing in capsys.readouterr().err


def test_compare_puts_runs_side_by_side_with_the_mean_over_directions(tmp_path: Path, monkeypatch, capsys) -> None:
    """One column per run, one row per direction, then the mean and the params that differ."""
    from mtforge.tracking import Score, log_pipeline_run

    monkeypatch.setenv("MTFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("COLUMNS", "200")
    for name, sharing, bleus in (("independent", "independent", (14.0, 20.0)), ("shared", "shared", (13.0, 17.0))):
        scores = [Score(direction=d, bleu=b, chrf=40.0, bleu_signature="s", chrf_signature="s", n_segments=10)
                  for d, b in zip(("eng_Latn-deu_Latn", "deu_Latn-eng_Latn"), bleus)]
        log_pipeline_run(experiment="cmp", run_name=name, params={"train": {"sharing": sharing, "lr": 0.002}},
                         stage_metrics={}, step_metrics={}, scores=scores, artifacts={})
    assert main(["compare", "cmp"]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = lambda label: [c.strip() for c in next(line for line in lines if label in line).split("│")[2:-1]]  # noqa: E731
    assert row("eng_Latn-deu_Latn") == ["13.00", "14.00"]  # newest first: shared, then independent
    assert row("mean of 2") == ["15.00", "17.00"]
    assert row("train.sharing") == ["shared", "independent"]
    assert not any("train.lr" in line for line in lines)  # equal in both runs: not shown
