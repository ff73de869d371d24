"""KFP component that records one stage's output as an MLflow run (:mod:`mtforge.tracking`)."""

from kfp import dsl
from kfp.dsl import Artifact, Input

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def track_stage(experiment: str, run_name: str, stage: str, output: Input[Artifact]) -> str:
    """Log one MLflow run: the stage's config (params), stats (metrics), report (artifact) and
    where its output is (tag mtforge.output).

    Args:
        experiment: MLflow experiment name.
        run_name: MLflow run name.
        stage: Name the stage's params and metrics are logged under (<stage>.<name>).
        output: The stage's output (a directory holding stage.json and report.md).

    Returns:
        The MLflow run id.
    """
    from mtforge.tracking_report import log_stage_outputs

    run_id, _ = log_stage_outputs(experiment=experiment, run_name=run_name, stage_dirs={stage: output.path},
                                  tags={"mtforge.output": output.uri})
    return run_id
