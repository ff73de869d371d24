"""KFP component that records a pipeline run in MLflow (:mod:`mtforge.track_pipeline`)."""

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def track(experiment: str, run_name: str, register_as: str, train_corpus: Input[Dataset], cleaned: Input[Dataset],
          vocab: Input[Model], model: Input[Model], evaluation: Input[Dataset], summary: Output[Markdown],
          comparison: Output[HTML]) -> str:
    """Log one MLflow run (every stage's config and stats, training curves, per-direction and
    per-test-set BLEU/chrF++/TER, artifacts, nested runs per stage), log the model as an MLflow
    pyfunc, register it and run the champion promotion gate; ``comparison`` shows the new model
    against the champion (deltas, confidence intervals, significance, delta heatmaps).

    Args:
        experiment: MLflow experiment name.
        run_name: MLflow run name.
        register_as: Registered model name (empty: do not register).
        train_corpus: The ingested training corpus.
        cleaned: The cleaned training corpus.
        vocab: The SentencePiece vocabulary.
        model: The trained checkpoint.
        evaluation: The evaluation directory (evaluate's output).

    Returns:
        The MLflow run id.
    """
    from mtforge.track_pipeline import TrackRequest, track as track_run
    from mtforge.tracking import tracking_uri

    stages = {"ingest": train_corpus.path, "clean": cleaned.path, "spm": vocab.path, "train": model.path,
              "evaluate": evaluation.path}
    result = track_run(TrackRequest(experiment=experiment, run_name=run_name, stage_dirs=stages,
                                    tags={"mtforge.output": evaluation.uri}, register_as=register_as))
    with open(summary.path, "w") as f:
        f.write(result.summary + f"\nMLflow run `{result.run_id}` in `{tracking_uri()}`\n")
        if result.decision is not None:
            verdict = "promoted to champion" if result.decision.promoted else "not promoted"
            f.write(f"\nModel `{register_as}` version {result.model_version}: {verdict} ({result.decision.reason})\n")
    with open(comparison.path, "w") as f:
        f.write(result.comparison_html)
    return result.run_id
