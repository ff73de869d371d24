"""KFP component for :mod:`mtforge.stages.evaluate`."""

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Metrics, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate(model: Input[Model], vocab: Input[Model], testsets: str, testsets_root: str, fingerprint: str,
             directions: str, beam_size: int, max_sentences: int, tokenize: str, title: str,
             evaluation: Output[Dataset], metrics: Output[Metrics], report: Output[HTML]):
    """Translate test sets with the trained model and score BLEU, chrF++ and TER (sacrebleu).

    Args:
        model: The trained checkpoint (train's output).
        vocab: The SentencePiece vocabulary (spm's output).
        testsets: Test sets, e.g. "multi30k:test_2016_flickr,flores200:devtest,ntrex128,tico19" or label=path.
        testsets_root: Folder or s3:// prefix holding the named test sets.
        fingerprint: Content hash of the test sets (filled in by `mtforge run`); only keys the cache.
        directions: Directions to evaluate (empty: every trained one).
        beam_size: Beam width.
        max_sentences: Evaluate only the first N segments of each test set (0: all).
        tokenize: sacrebleu BLEU tokenizer.
        title: Report title.
    """
    import shutil

    from components.kfp_io import publish
    from mtforge.evaluation.report import REPORT_HTML
    from mtforge.stage import run_stage

    config = {"testsets": testsets, "testsets_root": testsets_root, "directions": directions,
              "beam_size": beam_size, "max_sentences": max_sentences, "tokenize": tokenize, "title": title}
    stats = run_stage("evaluate", config, out_dir=evaluation.path, model=model.path, vocab=vocab.path)
    publish(stats, metrics, evaluation)
    shutil.copyfile(f"{evaluation.path}/{REPORT_HTML}", report.path)
