"""KFP component for :mod:`mtforge.stages.train_lid`."""

from kfp import dsl
from kfp.dsl import Markdown, Metrics, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train_lid_model(data: str, config: str, model: Output[Model], stats: Output[Metrics], report: Output[Markdown]):
    """Train a fastText LID model, evaluate it on FLORES devtest and compare it with py3langid and lingua.

    Args:
        data: Root of the labelled data in the shared-data layout (flores200/, oldi_seed/, tatoeba_laser/).
        config: YAML mapping of the train-lid config (dim, epoch, minn, maxn, languages, compare_with, …).
    """
    import os
    import shutil

    import yaml

    from components.kfp_io import publish
    from mtforge.stage import run_stage
    from mtforge.stages.train_lid import REPORT_FILE

    result = run_stage("train-lid", yaml.safe_load(config) or {}, out_dir=model.path, data=data)
    shutil.copy(os.path.join(model.path, REPORT_FILE), report.path)
    publish(result, stats, model)
