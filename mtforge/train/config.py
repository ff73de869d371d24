"""Training configuration: the plan (directions, sharing, allocation), the model's shape and
the optimisation schedule."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mtforge.stage import StageConfig


class ClusterConfig(BaseModel):
    """Where a ``launcher: pytorchjob`` run goes: the PyTorchJob's pods and the object-store
    prefix through which they get their inputs and return the trained model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str = Field("", description="container image of the training pods (the KFP component passes its own)")
    namespace: str = Field("", description="namespace of the PyTorchJob; empty: the namespace the pipeline step "
                                           "runs in (its service account's), or 'kubeflow' outside a cluster")
    staging_uri: str = Field("s3://mtforge/staging", description="s3:// prefix for the job's inputs and outputs")
    secret_name: str | None = Field("mtforge-object-store",
                                    description="Secret with the object-store (and MLflow) credentials as env")
    cpu: str = Field("2", description="CPU request and limit per pod")
    memory: str = Field("8Gi", description="memory request and limit per pod")
    gpus: int = Field(0, description="GPUs per pod (nvidia.com/gpu)")
    timeout_s: float = Field(86400, description="fail the step (and delete the job) after this many seconds")


class TrainConfig(StageConfig):
    """Hyper-parameters of one training run (the ``train`` stage's config).

    The plan comes from the architecture preset ``sharing`` (with ``encoder_layers`` and
    ``decoder_layers``), the ``directions`` and the node/process layout; ``meta_config``
    (a MAMMOTH-style meta-config, see :class:`mtforge.train.plan.MetaConfig`) overrides any
    of those fields, e.g. layer-wise sharing patterns, language groups, task weights, a
    curriculum or a manual allocation.
    """

    directions: str = Field("eng_Latn-deu_Latn",
                            description="comma-separated src-tgt directions to train, or 'all' (every pair with data)")
    sharing: str = Field("full", description="architecture preset: full, independent, shared or partial")
    meta_config: dict[str, Any] = Field(default_factory=dict,
                                        description="MAMMOTH meta-config fields overriding the preset")
    d_model: int = Field(256, description="model width")
    n_heads: int = Field(4, description="attention heads")
    ffn_dim: int = Field(1024, description="feed-forward width")
    encoder_layers: int = Field(3, description="encoder layers (split into stacks by the preset)")
    decoder_layers: int = Field(3, description="decoder layers")
    dropout: float = Field(0.1, description="dropout probability")
    max_steps: int = Field(400, description="optimizer steps")
    batch_tokens: int = Field(3000, description="target+source tokens per batch per rank")
    lr: float = Field(2e-3, description="peak learning rate (inverse-sqrt schedule)")
    warmup_steps: int = Field(300, description="linear warm-up steps")
    label_smoothing: float = Field(0.1, description="label smoothing of the cross-entropy")
    clip_norm: float = Field(1.0, description="gradient clipping norm per module (0 = off)")
    max_tokens_per_sentence: int = Field(128, description="longer training sentences are truncated")
    nnodes: int = Field(1, description="nodes (PyTorchJob replicas); ranks = nnodes × nproc")
    nproc: int = Field(2, description="processes per node (torchrun --nproc_per_node); each gets cores/nproc threads")
    launcher: Literal["torchrun", "pytorchjob"] = Field(
        "torchrun", description="run the ranks here under torchrun, or as a Kubeflow PyTorchJob")
    cluster: ClusterConfig = Field(default_factory=ClusterConfig, description="PyTorchJob settings")
    sync_counts: Literal["sampled", "collective"] = Field(
        "sampled", description="how holders learn how many ranks used a module: from the shared task sampler "
                               "(no extra collective) or a ready-flag all-reduce (Algorithm 1)")
    log_every: int = Field(50, description="log training metrics every N steps")
    valid_every: int = Field(200, description="validation every N steps (0 = only at the end)")
    valid_bleu_sentences: int = Field(100, description="validation sentences per direction decoded (greedy) "
                                                       "for BLEU/chrF++ (0 = loss only)")
    checkpoint_every: int = Field(200, description="save per-module checkpoints every N steps")
    seed: int = Field(1, description="random seed")
