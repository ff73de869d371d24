"""KFP component for :mod:`mtforge.stages.translate`."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def translate(model: Input[Model], vocab: Input[Model], corpus: Input[Dataset], beam_size: int,
              translations: Output[Dataset], stats: Output[Metrics]):
    """Beam-search translate every direction of a test corpus, loading only the needed modules.

    Args:
        model: The trained checkpoint.
        vocab: The SentencePiece vocabulary.
        corpus: The corpus to translate (its src side).
        beam_size: Beam width.
    """
    from components.kfp_io import publish
    from mtforge.stage import run_stage

    result = run_stage("translate", {"beam_size": beam_size}, out_dir=translations.path, model=model.path,
                       vocab=vocab.path, corpus=corpus.path)
    publish(result, stats, translations)
