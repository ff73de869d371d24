"""KFP component for :mod:`mtforge.stages.clean`."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def clean(corpus: Input[Dataset], min_tokens: int, max_tokens: int, max_length_ratio: float,
          cleaned: Output[Dataset], stats: Output[Metrics]):
    """Drop empty, too short/long, badly length-ratioed and duplicate pairs (each with its reason).

    Args:
        corpus: The corpus to clean.
        min_tokens: Fewest whitespace tokens per side.
        max_tokens: Most whitespace tokens per side.
        max_length_ratio: Largest allowed ratio between the two sides' token counts.
    """
    from components.kfp_io import publish
    from mtforge.stage import run_stage

    config = {"min_tokens": min_tokens, "max_tokens": max_tokens, "max_length_ratio": max_length_ratio}
    publish(run_stage("clean", config, out_dir=cleaned.path, corpus=corpus.path), stats, cleaned)
