"""The command line: `plan` (a meta-config resolved before training), `compare` (runs side by side
with significance marks), `score` (hypothesis files against references)."""

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


def _scores(direction_bleus: dict[str, float], testset: str = "flores200_devtest"):
    from mtforge.evaluation.results import MetricScore

    return [MetricScore(testset, d, m, b if m == "bleu" else 40.0, "sig", 10)
            for d, b in direction_bleus.items() for m in ("bleu", "chrf")]


def _table_row(lines: list[str], label: str) -> list[str]:
    return [c.strip() for c in next(line for line in lines if label in line).split("│")[2:-1]]


def test_compare_puts_runs_side_by_side_with_the_mean_over_directions(tmp_path: Path, monkeypatch, capsys) -> None:
    """One column per run, one row per direction and test set, then the mean and the params that differ."""
    from mtforge.tracking import log_pipeline_run

    monkeypatch.setenv("MTFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("COLUMNS", "200")
    for name, sharing, bleus in (("independent", "independent", (14.0, 20.0)), ("shared", "shared", (13.0, 17.0))):
        scores = _scores(dict(zip(("eng_Latn-deu_Latn", "deu_Latn-eng_Latn"), bleus)))
        log_pipeline_run(experiment="cmp", run_name=name, params={"train": {"sharing": sharing, "lr": 0.002}},
                         stage_metrics={}, step_metrics={}, scores=scores, artifacts={})
    assert main(["compare", "cmp"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert _table_row(lines, "eng_Latn-deu_Latn · flores200_devtest") == ["13.00", "14.00"]  # newest first
    assert _table_row(lines, "mean of 2 · flores200_devtest") == ["15.00", "17.00"]
    assert _table_row(lines, "train.sharing") == ["shared", "independent"]
    assert not any("train.lr" in line for line in lines)  # equal in both runs: not shown
    assert any("no significance marks (no evaluation artifact)" in line for line in lines)


def _evaluation(root: Path, refs: list[str], hyps: list[str], testset: str = "multi30k_test_2016_flickr") -> Path:
    from mtforge.evaluation.metrics import score_texts
    from mtforge.evaluation.results import Texts, write_scores, write_texts

    direction = "eng_Latn-deu_Latn"
    write_texts(root, testset, direction, Texts(refs, refs, hyps))
    write_scores(root, score_texts(hyps, refs, testset=testset, direction=direction))
    return root


def test_compare_marks_significant_differences_and_writes_html(shared_data: Path, tmp_path: Path, monkeypatch,
                                                               capsys) -> None:
    """Runs given by id, the first as baseline: a clearly worse system gets '-' from the paired
    bootstrap over the segments each run logged; the HTML holds the same table."""
    from mtforge.evaluation.results import Evaluation
    from mtforge.tracking import log_pipeline_run

    monkeypatch.setenv("MTFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("COLUMNS", "200")
    refs = (shared_data / "multi30k" / "test_2016_flickr.de").read_text().splitlines()[:80]
    systems = {"good": [r.replace(" ein ", " der ") for r in refs],
               "bad": [" ".join(r.split()[: max(1, len(r.split()) // 2)]) for r in refs]}
    ids = {}
    for name, hyps in systems.items():
        evaluation = _evaluation(tmp_path / name, refs, hyps)
        ids[name] = log_pipeline_run(
            experiment="sig", run_name=name, params={}, stage_metrics={}, step_metrics={},
            scores=Evaluation(evaluation).scores,
            artifacts={"evaluation/scores.json": str(evaluation / "scores.json"),
                       "evaluation/texts": str(evaluation / "texts")})
    html = tmp_path / "compare.html"
    assert main(["compare", "--run", ids["good"], "--run", ids["bad"], "--samples", "200",
                 "--html", str(html)]) == 0
    lines = capsys.readouterr().out.splitlines()
    good, bad = _table_row(lines, "eng_Latn-deu_Latn · multi30k_test_2016_flickr")
    assert not good.endswith(("+", "-")) and bad.endswith(" -")
    assert float(bad.split()[0]) < float(good)
    page = html.read_text()
    assert "<html" in page.lower() and good in page and bad.split()[0] in page and "baseline: good" in page

    assert main(["compare", "--run", ids["good"], "--run", ids["bad"], "--baseline", ids["bad"][:8],
                 "--samples", "200"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert _table_row(lines, "eng_Latn-deu_Latn · multi30k")[1].endswith(" +")  # good vs bad baseline


def test_score_checks_alignment_and_counts_empty_hypotheses(tmp_path: Path, capsys) -> None:
    refs, hyps = tmp_path / "refs.de", tmp_path / "hyps.de"
    refs.write_text("Ein Hund rennt.\nZwei Katzen schlafen.\nEin Mann liest.\n")
    hyps.write_text("Ein Hund läuft.\n\n")
    assert main(["score", str(hyps), str(refs)]) == 2
    err = capsys.readouterr().err
    assert f"{hyps} has 2 lines but {refs} has 3" in err
    hyps.write_text("Ein Hund läuft.\n\nEin Mann liest.\n")
    with pytest.warns(UserWarning, match="1 of 3 hypotheses are empty"):
        assert main(["score", str(hyps), str(refs)]) == 0
    out = capsys.readouterr().out
    assert "1 empty hypotheses" in out and "bleu" in out and "chrf" in out and "ter" in out and "tok:13a" in out
