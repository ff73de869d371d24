"""KFP component that records a pipeline run in MLflow (:mod:`mtforge.tracking`)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Markdown, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def track(experiment: str, run_name: str, train_corpus: Input[Dataset], cleaned: Input[Dataset],
          vocab: Input[Model], model: Input[Model], translations: Input[Dataset], scores: Input[Dataset],
          summary: Output[Markdown]) -> str:
    """Log one MLflow run: every stage's config and stats, training curves, BLEU/chrF++, artifacts.

    Args:
        experiment: MLflow experiment name.
        run_name: MLflow run name.
        train_corpus: The ingested training corpus.
        cleaned: The cleaned training corpus.
        vocab: The SentencePiece vocabulary.
        model: The trained checkpoint.
        translations: Test-set translations.
        scores: Evaluation scores.

    Returns:
        The MLflow run id.
    """
    from mtforge.tracking import tracking_uri
    from mtforge.tracking_report import log_stage_outputs

    stages = {"ingest": train_corpus.path, "clean": cleaned.path, "spm": vocab.path, "train": model.path,
              "translate": translations.path, "evaluate": scores.path}
    run_id, markdown = log_stage_outputs(experiment=experiment, run_name=run_name, stage_dirs=stages)
    with open(summary.path, "w") as f:
        f.write(markdown + f"\nMLflow run `{run_id}` in `{tracking_uri()}`\n")
    return run_id
