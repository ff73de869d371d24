"""KFP component for :mod:`mtforge.stages.evaluate`."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Markdown, Metrics, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate(translations: Input[Dataset], references: Input[Dataset], scores: Output[Dataset],
             metrics: Output[Metrics], report: Output[Markdown]):
    """Score translations with sacrebleu BLEU and chrF++ per direction.

    Args:
        translations: Hypotheses (output of translate).
        references: The corpus that was translated (its tgt side is the reference).
    """
    import shutil

    from components.kfp_io import publish
    from mtforge.stage import run_stage
    from mtforge.stages.evaluate import REPORT_FILE

    stats = run_stage("evaluate", {}, out_dir=scores.path, translations=translations.path,
                      references=references.path)
    publish(stats, metrics, scores)
    shutil.copyfile(f"{scores.path}/{REPORT_FILE}", report.path)
