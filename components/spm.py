"""KFP component for :mod:`mtforge.stages.spm`."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def spm(corpus: Input[Dataset], vocab_size: int, vocab: Output[Model], stats: Output[Metrics]):
    """Train a joint SentencePiece vocabulary (with language tags) on both sides of a corpus.

    Args:
        corpus: The training corpus.
        vocab_size: Vocabulary size, including special and language-tag symbols.
    """
    from components.kfp_io import publish
    from mtforge.stage import run_stage

    publish(run_stage("spm", {"vocab_size": vocab_size}, out_dir=vocab.path, corpus=corpus.path), stats, vocab)
