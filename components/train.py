"""KFP component for :mod:`mtforge.stages.train`."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train(corpus: Input[Dataset], valid: Input[Dataset], vocab: Input[Model], directions: str, sharing: str,
          meta_config: str, d_model: int, ffn_dim: int, encoder_layers: int, decoder_layers: int, max_steps: int,
          batch_tokens: int, lr: float, warmup_steps: int, nnodes: int, nproc: int, seed: int, launcher: str,
          cluster: str, image: str, model: Output[Model], stats: Output[Metrics]):
    """Train a modular (MAMMOTH-style) transformer: here under torchrun (gloo on CPU, NCCL on
    GPU), or as a Kubeflow PyTorchJob whose Master/Worker layout is the resolved plan's.

    Args:
        corpus: The training corpus.
        valid: The validation corpus (validation loss is logged during training).
        vocab: The SentencePiece vocabulary.
        directions: Comma-separated src-tgt directions to train.
        sharing: Architecture preset: full, independent, shared or partial (see mtforge.train.plan.preset).
        meta_config: YAML mapping of MAMMOTH meta-config fields overriding the preset (sharing patterns, groups, temperature, curriculum, allocation, corpus templates); empty for none.
        d_model: Model width.
        ffn_dim: Feed-forward width.
        encoder_layers: Layers per encoder stack.
        decoder_layers: Layers per decoder stack.
        max_steps: Optimizer steps.
        batch_tokens: Source+target tokens per batch per process.
        lr: Peak learning rate (inverse square-root schedule).
        warmup_steps: Linear warm-up steps.
        nnodes: Nodes (PyTorchJob pods); ranks = nnodes × nproc.
        nproc: Training processes per node (torchrun --nproc_per_node).
        seed: Random seed.
        launcher: torchrun (in this step's container) or pytorchjob (a Kubeflow Training Operator job).
        cluster: YAML mapping of PyTorchJob settings (namespace, staging_uri, secret_name, cpu, memory, gpus, timeout_s); empty for the defaults.
        image: Image of the PyTorchJob's pods (the pipeline passes its own).
    """
    import yaml

    from components.kfp_io import publish
    from mtforge.stage import run_stage
    from mtforge.stages.spm import MODEL_FILE

    config = {"directions": directions, "sharing": sharing, "meta_config": yaml.safe_load(meta_config) or {},
              "d_model": d_model, "ffn_dim": ffn_dim, "encoder_layers": encoder_layers,
              "decoder_layers": decoder_layers, "max_steps": max_steps, "batch_tokens": batch_tokens, "lr": lr,
              "warmup_steps": warmup_steps, "nnodes": nnodes, "nproc": nproc, "seed": seed, "launcher": launcher,
              "cluster": {"image": image, **(yaml.safe_load(cluster) or {})}}
    result = run_stage("train", config, out_dir=model.path, corpus=corpus.path,
                       vocab=f"{vocab.path}/{MODEL_FILE}", valid=valid.path)
    publish(result, stats, model)
