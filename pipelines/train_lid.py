"""``train-lid``: labelled sentences → fastText LID model, scored on FLORES devtest next to
py3langid and lingua, logged to MLflow."""


from kfp import dsl

from components.track_stage import track_stage
from components.train_lid import train_lid_model
from pipelines.curation import SHARED_DATA
from pipelines.resources import apply_stage, finish_pipeline


def local_defaults() -> dict[str, str]:
    """Train on the checkout's shared data when there is some."""
    return {"data": str(SHARED_DATA)} if SHARED_DATA.is_dir() else {}


@dsl.pipeline(name="train-lid", description="Train a fastText language identifier and compare it with the "
                                            "packaged ones on held-out FLORES devtest.")
def pipeline(
    data: str = "/data/shared",
    config: str = "",
    experiment: str = "mtforge-lid",
    run_name: str = "train-lid",
) -> str:
    """LID training.

    Args:
        data: Root of the labelled data (shared-data layout: flores200/dev + devtest, oldi_seed/, tatoeba_laser/).
        config: YAML mapping of the train-lid config (dim, epoch, lr, minn, maxn, languages, max_per_language, compare_with). Empty: defaults.
        experiment: MLflow experiment name.
        run_name: MLflow run name.

    Returns:
        The MLflow run id.
    """
    model = apply_stage(train_lid_model(data=data, config=config), "train-lid")
    run = track_stage(experiment=experiment, run_name=run_name, stage="train-lid", output=model.outputs["model"])
    finish_pipeline(run)
    return run.output
