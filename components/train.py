"""KFP component for :mod:`mtforge.stages.train`."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train(corpus: Input[Dataset], valid: Input[Dataset], vocab: Input[Model], directions: str, sharing: str,
          d_model: int, ffn_dim: int, encoder_layers: int, decoder_layers: int, max_steps: int,
          batch_tokens: int, lr: float, warmup_steps: int, nproc: int, seed: int,
          model: Output[Model], stats: Output[Metrics]):
    """Train a modular transformer under torchrun (gloo on CPU, NCCL on GPU).

    Args:
        corpus: The training corpus.
        valid: The validation corpus (validation loss is logged during training).
        vocab: The SentencePiece vocabulary.
        directions: Comma-separated src-tgt directions to train.
        sharing: Module sharing: full (one encoder and decoder) or language (one per language).
        d_model: Model width.
        ffn_dim: Feed-forward width.
        encoder_layers: Layers per encoder stack.
        decoder_layers: Layers per decoder stack.
        max_steps: Optimizer steps.
        batch_tokens: Source+target tokens per batch per process.
        lr: Peak learning rate (inverse square-root schedule).
        warmup_steps: Linear warm-up steps.
        nproc: Training processes on the node (torchrun --nproc_per_node).
        seed: Random seed.
    """
    from components.kfp_io import publish
    from mtforge.stage import run_stage
    from mtforge.stages.spm import MODEL_FILE

    config = {"directions": directions, "sharing": sharing, "d_model": d_model, "ffn_dim": ffn_dim,
              "encoder_layers": encoder_layers, "decoder_layers": decoder_layers, "max_steps": max_steps,
              "batch_tokens": batch_tokens, "lr": lr, "warmup_steps": warmup_steps, "nproc": nproc, "seed": seed}
    result = run_stage("train", config, out_dir=model.path, corpus=corpus.path,
                       vocab=f"{vocab.path}/{MODEL_FILE}", valid=valid.path)
    publish(result, stats, model)
