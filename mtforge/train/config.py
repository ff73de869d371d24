"""Training configuration: the model's shape and the optimisation schedule."""

from __future__ import annotations

from pydantic import Field

from mtforge.stage import StageConfig


class TrainConfig(StageConfig):
    """Hyper-parameters of one training run (the ``train`` stage's config)."""

    directions: str = Field("eng_Latn-deu_Latn", description="comma-separated src-tgt directions to train")
    sharing: str = Field("full", description="module sharing: full (one encoder/decoder) or language")
    d_model: int = Field(256, description="model width")
    n_heads: int = Field(4, description="attention heads")
    ffn_dim: int = Field(1024, description="feed-forward width")
    encoder_layers: int = Field(3, description="layers per encoder stack")
    decoder_layers: int = Field(3, description="layers per decoder stack")
    dropout: float = Field(0.1, description="dropout probability")
    max_steps: int = Field(400, description="optimizer steps")
    batch_tokens: int = Field(3000, description="target+source tokens per batch per rank")
    lr: float = Field(2e-3, description="peak learning rate (inverse-sqrt schedule)")
    warmup_steps: int = Field(300, description="linear warm-up steps")
    label_smoothing: float = Field(0.1, description="label smoothing of the cross-entropy")
    clip_norm: float = Field(1.0, description="gradient clipping norm per module (0 = off)")
    max_tokens_per_sentence: int = Field(128, description="longer training sentences are truncated")
    nproc: int = Field(2, description="processes per node (torchrun --nproc_per_node); each gets cores/nproc threads")
    log_every: int = Field(50, description="log training metrics every N steps")
    valid_every: int = Field(200, description="validation loss every N steps (0 = only at the end)")
    checkpoint_every: int = Field(200, description="save per-module checkpoints every N steps")
    seed: int = Field(1, description="random seed")
