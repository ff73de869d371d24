"""The Model Registry and the promotion gate against a real MLflow SQLite store.

Each system is an evaluation directory of 60 real Multi30k test segments in both directions,
logged in its own run under ``evaluation/`` and registered from that run (a registry version
needs no pyfunc): "good" is the references with a few last words dropped, "same" the very same
hypotheses, "better" the references themselves and "bad" a system whose eng→deu output keeps
only the first half of each sentence (its deu→eng output is the good one).
"""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mtforge import tracking
from mtforge.errors import InputNotFoundError
from mtforge.evaluation.metrics import score_texts
from mtforge.evaluation.results import Evaluation, Texts, write_scores, write_texts
from mtforge.registry import (
    COMPARED_WITH_TAG,
    DECISION_TAG,
    EVALUATION_ARTIFACT,
    REASON_TAG,
    SUPERSEDED_BY_TAG,
    ReusedVersionWarning,
    champion_version,
    promote,
    register_model,
)
from tests.conftest import DE, EN

TESTSET = "multi30k_test_2016_flickr"
N_LINES = 60
N_SAMPLES = 1000  # bootstrap resamples (the default)

_names = (f"translator-{i}" for i in itertools.count())


@pytest.fixture
def name() -> str:
    """A fresh registered model name per test (one store serves the session)."""
    return next(_names)


@pytest.fixture(scope="module")
def lines(shared_data: Path) -> dict[str, list[str]]:
    root = shared_data / "multi30k"
    return {lang: (root / f"test_2016_flickr.{ext}").read_text(encoding="utf-8").splitlines()[:N_LINES]
            for lang, ext in ((EN, "en"), (DE, "de"))}


def drop_last_word_every_tenth(refs: list[str]) -> list[str]:
    return [" ".join(r.split()[:-1]) if i % 10 == 0 else r for i, r in enumerate(refs)]


def first_half(refs: list[str]) -> list[str]:
    return [" ".join(r.split()[: (len(r.split()) + 1) // 2]) for r in refs]


def write_evaluation(root: Path, lines: dict[str, list[str]], systems: dict[str, object],
                     testset: str = TESTSET) -> Evaluation:
    """An evaluation directory: per direction, hypotheses = ``systems[direction](references)``."""
    scores = []
    for src, tgt in ((EN, DE), (DE, EN)):
        direction = f"{src}-{tgt}"
        refs = lines[tgt]
        hyps = systems[direction](refs)
        write_texts(root, testset, direction, Texts(src=lines[src], ref=refs, hyp=hyps))
        scores += score_texts(hyps, refs, testset=testset, direction=direction)
    write_scores(root, scores)
    return Evaluation(root)


SYSTEMS = {
    "good": {f"{EN}-{DE}": drop_last_word_every_tenth, f"{DE}-{EN}": drop_last_word_every_tenth},
    "same": {f"{EN}-{DE}": drop_last_word_every_tenth, f"{DE}-{EN}": drop_last_word_every_tenth},
    "better": {f"{EN}-{DE}": list, f"{DE}-{EN}": list},
    "bad": {f"{EN}-{DE}": first_half, f"{DE}-{EN}": drop_last_word_every_tenth},
}


@pytest.fixture(scope="module")
def evaluations(lines: dict[str, list[str]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Evaluation]:
    root = tmp_path_factory.mktemp("evaluations")
    out = {system: write_evaluation(root / system, lines, fns) for system, fns in SYSTEMS.items()}
    out["other-testset"] = write_evaluation(root / "other-testset", lines, SYSTEMS["good"], testset="flores200_devtest")
    return out


@pytest.fixture(scope="module")
def client() -> MlflowClient:
    return MlflowClient(tracking_uri=tracking.tracking_uri())


@pytest.fixture(scope="module")
def experiment() -> str:
    return tracking.ensure_experiment("test-registry")


def logged_run(client: MlflowClient, experiment: str, evaluation: Evaluation | None) -> str:
    """A finished run holding ``evaluation`` under ``evaluation/`` (nothing when ``None``)."""
    run_id = client.create_run(experiment).info.run_id
    if evaluation is not None:
        client.log_artifacts(run_id, str(evaluation.root), EVALUATION_ARTIFACT)
    client.set_terminated(run_id)
    return run_id


def register(client: MlflowClient, experiment: str, name: str, evaluation: Evaluation | None) -> str:
    run_id = logged_run(client, experiment, evaluation)
    return str(register_model(f"runs:/{run_id}/{EVALUATION_ARTIFACT}", name, run_id=run_id).version)


def tags(client: MlflowClient, name: str, version: str) -> dict[str, str]:
    return client.get_model_version(name, version).tags


def test_first_version_becomes_champion(client, experiment, name, evaluations) -> None:
    assert register(client, experiment, name, evaluations["good"]) == "1"
    assert champion_version(name) is None
    decision = promote(name, "1", evaluations["good"], n_samples=N_SAMPLES)
    assert (decision.promoted, decision.reason, decision.comparisons, decision.previous_champion) == (
        True, "first champion", [], None)
    assert str(champion_version(name).version) == "1"
    assert tags(client, name, "1")[DECISION_TAG] == "promoted"
    assert tags(client, name, "1")[REASON_TAG] == "first champion"


def test_a_regressing_version_is_rejected_and_the_alias_stays(client, experiment, name, evaluations) -> None:
    register(client, experiment, name, evaluations["good"])
    promote(name, "1", evaluations["good"], n_samples=N_SAMPLES)
    bad = register(client, experiment, name, evaluations["bad"])
    decision = promote(name, bad, evaluations["bad"], n_samples=N_SAMPLES)
    assert not decision.promoted and decision.previous_champion == "1"
    assert str(champion_version(name).version) == "1"
    regressed = {(c.direction, c.metric) for c in decision.comparisons if c.regression}
    assert regressed == {(f"{EN}-{DE}", "bleu"), (f"{EN}-{DE}", "chrf")}
    version_tags = tags(client, name, bad)
    assert version_tags[DECISION_TAG] == "rejected"
    assert version_tags[COMPARED_WITH_TAG] == "1"
    reason = version_tags[REASON_TAG]
    assert reason == decision.reason
    assert f"BLEU {EN}-{DE} on {TESTSET}" in reason and f"chrF++ {EN}-{DE} on {TESTSET}" in reason
    assert f"{DE}-{EN}" not in reason  # the direction that did not regress is not blamed
    assert "delta -" in reason and "p=0.00" in reason
    assert SUPERSEDED_BY_TAG not in tags(client, name, "1")


@pytest.mark.parametrize("system", ["same", "better"])
def test_an_equal_or_better_version_is_promoted_and_the_alias_moves(client, experiment, name, evaluations,
                                                                     system: str) -> None:
    register(client, experiment, name, evaluations["good"])
    promote(name, "1", evaluations["good"], n_samples=N_SAMPLES)
    candidate = register(client, experiment, name, evaluations[system])
    decision = promote(name, candidate, evaluations[system], n_samples=N_SAMPLES)
    assert decision.promoted and decision.previous_champion == "1"
    assert str(champion_version(name).version) == candidate
    assert len(decision.comparisons) == 4  # 2 directions × BLEU, chrF++
    assert not any(c.regression for c in decision.comparisons)
    assert tags(client, name, candidate)[DECISION_TAG] == "promoted"
    assert tags(client, name, candidate)[COMPARED_WITH_TAG] == "1"
    assert tags(client, name, "1")[SUPERSEDED_BY_TAG] == candidate
    if system == "same":
        assert all(c.delta == 0 for c in decision.comparisons)
    else:
        assert "significant improvements: BLEU" in decision.reason


def test_the_champion_itself_is_a_no_op(client, experiment, name, evaluations) -> None:
    register(client, experiment, name, evaluations["good"])
    promote(name, "1", evaluations["good"], n_samples=N_SAMPLES)
    decision = promote(name, 1, evaluations["bad"], n_samples=N_SAMPLES)
    assert (decision.promoted, decision.previous_champion, decision.comparisons) == (False, "1", [])
    assert "already holds" in decision.reason
    assert tags(client, name, "1")[REASON_TAG] == "first champion"


def test_nothing_in_common_is_rejected_as_not_comparable(client, experiment, name, evaluations) -> None:
    register(client, experiment, name, evaluations["good"])
    promote(name, "1", evaluations["good"], n_samples=N_SAMPLES)
    other = register(client, experiment, name, evaluations["other-testset"])
    decision = promote(name, other, evaluations["other-testset"], n_samples=N_SAMPLES)
    assert not decision.promoted and str(champion_version(name).version) == "1"
    assert "no (test set, direction) in common" in decision.reason
    assert "flores200_devtest" in decision.reason and TESTSET in decision.reason
    assert tags(client, name, other)[DECISION_TAG] == "rejected"


def test_other_references_on_the_same_test_set_are_rejected_as_not_comparable(
        client, experiment, name, evaluations, lines, tmp_path) -> None:
    """A candidate evaluated on fewer segments of the same test set (e.g. max_sentences) is not
    comparable: rejected with the reason, the champion stays, the pipeline does not fail."""
    register(client, experiment, name, evaluations["good"])
    promote(name, "1", evaluations["good"], n_samples=N_SAMPLES)
    capped = write_evaluation(tmp_path / "capped", {k: v[:30] for k, v in lines.items()}, SYSTEMS["good"])
    version = register(client, experiment, name, capped)
    decision = promote(name, version, capped, n_samples=N_SAMPLES)
    assert not decision.promoted and str(champion_version(name).version) == "1"
    assert decision.reason.startswith("cannot be compared with champion version 1") and "references" in decision.reason
    assert tags(client, name, version)[DECISION_TAG] == "rejected"


def test_a_custom_alias_is_its_own_champion(client, experiment, name, evaluations) -> None:
    register(client, experiment, name, evaluations["good"])
    promote(name, "1", evaluations["good"], alias="staging", n_samples=N_SAMPLES)
    assert str(champion_version(name, "staging").version) == "1"
    assert champion_version(name) is None


def test_registering_twice_returns_the_same_version(client, experiment, name, evaluations) -> None:
    run_id = logged_run(client, experiment, evaluations["good"])
    uri = f"runs:/{run_id}/{EVALUATION_ARTIFACT}"
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReusedVersionWarning)
        first = register_model(uri, name, run_id=run_id)
    with pytest.warns(ReusedVersionWarning, match=rf"{run_id}.*already registered as '{name}' version 1"):
        second = register_model(uri, name, run_id=run_id)
    assert str(first.version) == str(second.version) == "1"
    assert [str(v.version) for v in client.search_model_versions(f"name='{name}'")] == ["1"]
    # Another run's model is a new version; the same run under another name is another model.
    assert register(client, experiment, name, evaluations["good"]) == "2"
    assert str(register_model(uri, f"{name}-other", run_id=run_id).version) == "1"


def test_missing_things_are_named(client, experiment, name, evaluations) -> None:
    with pytest.raises(InputNotFoundError, match=name):
        champion_version(name)
    with pytest.raises(InputNotFoundError, match="no-such-run"):
        register_model("runs:/no-such-run/evaluation", name, run_id="no-such-run")
    no_eval = register(client, experiment, name, None)
    promote(name, no_eval, evaluations["good"], n_samples=N_SAMPLES)  # first champion: nothing to download
    with pytest.raises(InputNotFoundError, match=name):
        promote(name, "9", evaluations["good"], n_samples=N_SAMPLES)
    candidate = register(client, experiment, name, evaluations["good"])
    run_id = client.get_model_version(name, no_eval).run_id
    with pytest.raises(InputNotFoundError, match=rf"runs:/{run_id}/evaluation"):
        promote(name, candidate, evaluations["good"], n_samples=N_SAMPLES)
    assert str(champion_version(name).version) == no_eval
