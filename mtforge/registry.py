"""MLflow Model Registry: registering trained models and the champion promotion gate.

Everything goes to the registry of :func:`mtforge.tracking.tracking_uri` (the tracking store
doubles as the registry; SQLite and ``mlflow server`` both have one).

* :func:`register_model` registers a model URI as a version of a registered model, at most
  once per (run, source): registering the same model again returns the existing version with
  a :class:`ReusedVersionWarning`.
* :func:`promote` is the promotion gate. The *champion* is the version holding an alias
  (``champion`` by default). A candidate version becomes champion only when a paired bootstrap
  (:func:`mtforge.evaluation.significance.compare_evaluations`, BLEU and chrF++) against the
  champion's evaluation finds no significant regression on any (test set, direction) both
  evaluations scored. The champion's evaluation is the evaluation directory (the ``evaluate``
  stage output: ``scores.json`` and ``texts/``) logged in its run under the artifact path
  :data:`EVALUATION_ARTIFACT`. Every decision is recorded as version tags
  (:data:`DECISION_TAG`, :data:`REASON_TAG`, :data:`COMPARED_WITH_TAG`) on the candidate; a
  replaced champion gets :data:`SUPERSEDED_BY_TAG`.

This module never imports KFP.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    ErrorCode,
)
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH

from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.evaluation.results import EVALUATION_ARTIFACT, METRIC_LABELS, Evaluation
from mtforge.evaluation.significance import Comparison, compare_evaluations
from mtforge.tracking import tracking_uri

DEFAULT_ALIAS = "champion"
#: Metrics the gate compares (a significant regression of either rejects the candidate).
GATE_METRICS = ("bleu", "chrf")
#: Version tags the gate writes.
DECISION_TAG = "promotion.decision"  # promoted | rejected
REASON_TAG = "promotion.reason"
COMPARED_WITH_TAG = "promotion.compared_with"  # the champion version the candidate was compared with
SUPERSEDED_BY_TAG = "promotion.superseded_by"  # on a former champion: the version that replaced it

_MODELS_PREFIX = "models:/"


class ReusedVersionWarning(UserWarning):
    """A model was registered again: the existing version is returned instead of a new one."""


@dataclass(frozen=True)
class PromotionDecision:
    """What :func:`promote` decided.

    ``promoted``: the alias was moved to the candidate by this call. ``previous_champion``: the
    version that held the alias before the call (``None`` when none did). ``comparisons``: the
    paired-bootstrap results the decision rests on (empty when nothing was compared).
    """

    promoted: bool
    reason: str
    comparisons: list[Comparison] = field(default_factory=list)
    previous_champion: str | None = None


@contextlib.contextmanager
def global_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's process-wide tracking URI at ``uri`` for the block; restore it (and the
    ``MLFLOW_TRACKING_URI`` environment variable, which MLflow rewrites) afterwards.

    Needed where MLflow ignores a client's own URI and reads the global one: logging a model
    into a run, and registering a ``models:/<id>`` URI in a SQLite registry (MLflow resolves the
    logged model with a default client; without this it reads — and creates — ``./mlflow.db``).
    """
    from mlflow.tracking._tracking_service import utils

    env = os.environ.get("MLFLOW_TRACKING_URI")
    previous = utils._tracking_uri
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)
        if env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = env


def _client() -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri(), registry_uri=tracking_uri())


def _not_found(exc: MlflowException) -> bool:
    return exc.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST)


def _model_id(model_uri: str) -> str | None:
    """The logged-model id of a ``models:/<id>`` URI (``None`` for a ``models:/<name>/<version>``
    or any other URI)."""
    if model_uri.startswith(_MODELS_PREFIX):
        rest = model_uri[len(_MODELS_PREFIX):].strip("/")
        if "/" not in rest and "@" not in rest and rest.startswith("m-"):
            return rest
    return None


def register_model(model_uri: str, name: str, *, run_id: str) -> ModelVersion:
    """Register ``model_uri`` (``models:/<id>`` from :func:`mtforge.mlflow_model.log_translation_model`,
    or ``runs:/<run>/<path>``) as a version of registered model ``name`` produced by ``run_id``.

    The registered model is created when missing. When a version of ``name`` from the same run
    and the same source (or the same logged model) already exists, that version is returned and
    a :class:`ReusedVersionWarning` says so: registering twice never makes two versions.
    InputNotFoundError for an unknown run.
    """
    if not name.strip():
        raise ConfigError("registered model name must not be empty")
    client = _client()
    try:
        client.get_run(run_id)
    except MlflowException as exc:
        raise InputNotFoundError(f"MLflow run {run_id!r} not found in {tracking_uri()}: {exc.message}") from None
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise
    model_id = _model_id(model_uri)
    # Filter by run id only (a hex id, safe in a filter string) and match the name here, so any
    # registered model name works without quoting rules.
    same = sorted((v for v in client.search_model_versions(f"run_id='{run_id}'")
                   if v.name == name and (v.source == model_uri or (model_id and v.model_id == model_id))),
                  key=lambda v: int(v.version))
    if same:
        warnings.warn(
            f"{model_uri} of run {run_id} is already registered as {name!r} version {same[0].version}; "
            "returning that version instead of registering it again",
            ReusedVersionWarning, stacklevel=2)
        return same[0]
    with global_tracking_uri(tracking_uri()):  # a models:/ source is resolved through the global URI
        return client.create_model_version(name, source=model_uri, run_id=run_id, model_id=model_id)


def champion_version(name: str, alias: str = DEFAULT_ALIAS) -> ModelVersion | None:
    """The version of ``name`` holding ``alias``, or ``None`` when no version holds it.

    InputNotFoundError when the registered model ``name`` does not exist.
    """
    client = _client()
    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        if _not_found(exc):
            raise InputNotFoundError(f"registered model {name!r} does not exist in {tracking_uri()}") from None
        raise
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        # The model exists, so a missing alias is what this means (stores differ in the code).
        if _not_found(exc) or exc.error_code == ErrorCode.Name(INVALID_PARAMETER_VALUE):
            return None
        raise


def download_evaluation(run_id: str, dst: str | Path) -> Evaluation:
    """The evaluation directory logged in run ``run_id`` under :data:`EVALUATION_ARTIFACT`,
    downloaded into ``dst`` and read back. InputNotFoundError naming the run when it has none."""
    from mlflow.artifacts import download_artifacts

    where = f"runs:/{run_id}/{EVALUATION_ARTIFACT}"
    try:
        local = download_artifacts(run_id=run_id, artifact_path=EVALUATION_ARTIFACT, dst_path=str(dst),
                                   tracking_uri=tracking_uri())
    except (MlflowException, OSError) as exc:
        raise InputNotFoundError(
            f"no evaluation at {where} ({exc}); log the evaluate stage's output directory there "
            f"(MlflowClient.log_artifacts(run_id, <dir>, {EVALUATION_ARTIFACT!r}))") from None
    try:
        return Evaluation(local)
    except InputNotFoundError as exc:
        raise InputNotFoundError(f"{where} is not an evaluation directory: {exc}") from None


def _fmt(c: Comparison) -> str:
    return (f"{METRIC_LABELS[c.metric]} {c.direction} on {c.testset}: {c.baseline:.2f} -> {c.candidate:.2f} "
            f"(delta {c.delta:+.2f}, p={c.p_value:.4f})")


def _tag_value(text: str) -> str:
    limit = MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH
    return text if len(text) <= limit else text[: limit - 15] + " ...[truncated]"


def _record(client: MlflowClient, name: str, version: str, decision: str, reason: str,
            champion: str | None) -> None:
    client.set_model_version_tag(name, version, DECISION_TAG, decision)
    client.set_model_version_tag(name, version, REASON_TAG, _tag_value(reason))
    if champion is not None:
        client.set_model_version_tag(name, version, COMPARED_WITH_TAG, champion)


def promote(name: str, version: str | int, candidate: Evaluation, *, alias: str = DEFAULT_ALIAS,
            n_samples: int = 1000) -> PromotionDecision:
    """The promotion gate: move ``alias`` of ``name`` to ``version`` unless ``candidate`` (that
    version's evaluation) significantly regresses against the current champion's.

    * No version holds ``alias``: the candidate becomes champion ("first champion").
    * ``version`` already holds it: nothing changes (``promoted=False``, no tags written).
    * Otherwise the champion's evaluation is downloaded from its run
      (:func:`download_evaluation`) and compared with ``candidate`` by paired bootstrap
      (``n_samples`` resamples) on BLEU and chrF++ for every (test set, direction) both hold.
      Any significant regression rejects the candidate (the reason names each regressed
      metric, direction and test set with its delta and p-value); no common (test set,
      direction) also rejects it (nothing can be compared); else the alias moves to the
      candidate and the former champion is tagged :data:`SUPERSEDED_BY_TAG`.

    The candidate version is tagged with the decision and its reason. A test set whose
    references differ between the two evaluations (e.g. capped at another length) rejects the
    candidate as not comparable. InputNotFoundError for an unknown model or version, or a
    champion whose run has no evaluation.
    """
    version = str(version)
    client = _client()
    champion = champion_version(name, alias)
    try:
        client.get_model_version(name, version)
    except MlflowException as exc:
        if _not_found(exc):
            raise InputNotFoundError(f"registered model {name!r} has no version {version}") from None
        raise
    if champion is None:
        reason = "first champion"
        client.set_registered_model_alias(name, alias, version)
        _record(client, name, version, "promoted", reason, None)
        return PromotionDecision(True, reason)
    previous = str(champion.version)
    if previous == version:
        return PromotionDecision(False, f"version {version} already holds alias {alias!r}; nothing to do",
                                 previous_champion=previous)
    if not champion.run_id:
        raise InputNotFoundError(f"champion {name!r} version {previous} has no run, so its evaluation cannot be "
                                 f"found; set alias {alias!r} by hand or register it with its run")
    with tempfile.TemporaryDirectory(prefix="mtforge-champion-eval-") as tmp:
        baseline = download_evaluation(champion.run_id, tmp)
        try:
            comparisons = compare_evaluations(baseline, candidate, metrics=GATE_METRICS, n_samples=n_samples)
        except ConfigError as exc:  # e.g. a test set capped differently: its references differ
            reason = f"cannot be compared with champion version {previous}: {exc}"
            _record(client, name, version, "rejected", reason, previous)
            return PromotionDecision(False, reason, [], previous)
    if not comparisons:
        reason = (f"nothing to compare with champion version {previous}: no (test set, direction) in "
                  f"common (champion: {_pairs(baseline)}; candidate: {_pairs(candidate)})")
        _record(client, name, version, "rejected", reason, previous)
        return PromotionDecision(False, reason, [], previous)
    regressions = [c for c in comparisons if c.regression]
    if regressions:
        reason = (f"significant regression against champion version {previous}: "
                  + "; ".join(_fmt(c) for c in regressions))
        _record(client, name, version, "rejected", reason, previous)
        return PromotionDecision(False, reason, comparisons, previous)
    improved = [c for c in comparisons if c.significant and not c.regression and c.delta != 0]
    pairs = len({(c.testset, c.direction) for c in comparisons})
    reason = (f"no significant regression against champion version {previous} on {pairs} "
              f"(test set, direction) pair(s)"
              + (f"; significant improvements: {'; '.join(_fmt(c) for c in improved)}" if improved else ""))
    client.set_registered_model_alias(name, alias, version)
    _record(client, name, version, "promoted", reason, previous)
    client.set_model_version_tag(name, previous, SUPERSEDED_BY_TAG, version)
    return PromotionDecision(True, reason, comparisons, previous)


def _pairs(evaluation: Evaluation) -> str:
    return ", ".join(f"{d} on {t}" for t, d in evaluation.pairs()) or "none"
