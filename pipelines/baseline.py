"""``baseline``: Multi30k → clean → SentencePiece → train → evaluate (test sets, sacrebleu) → MLflow."""


from pathlib import Path

from kfp import dsl

from components.clean import clean
from components.evaluate import evaluate
from components.image import IMAGE
from components.ingest import ingest
from components.spm import spm
from components.track import track
from components.train import train
from mtforge.evaluation.testsets import fingerprint_testsets
from pipelines.resources import apply_stage, finish_pipeline

#: fingerprint parameter → (source parameter, split parameter[, parameter that replaces both
#: when set]), or a function of the parameters; ``mtforge run`` fills them.
FINGERPRINTS = {
    "train_fingerprint": ("data", "train_split", "train_corpus"),
    "valid_fingerprint": ("data", "valid_split"),
    "test_fingerprint": lambda params: fingerprint_testsets(params["testsets"], params["testsets_root"]),
}

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def local_defaults() -> dict[str, str]:
    """Use the checkout's shared data (Multi30k, FLORES-200, …) when there is some."""
    return {"data": str(SHARED_DATA / "multi30k"), "testsets_root": str(SHARED_DATA)} if SHARED_DATA.is_dir() else {}


@dsl.pipeline(name="baseline", description="Train and evaluate a small many-to-many transformer on Multi30k, "
                                           "tracked in MLflow.")
def pipeline(
    data: str = "s3://mtforge/data/multi30k",
    directions: str = "en-de",
    train_split: str = "train",
    valid_split: str = "val",
    testsets: str = "multi30k:test_2016_flickr",
    testsets_root: str = "s3://mtforge/data",
    train_corpus: str = "",
    train_fingerprint: str = "",
    valid_fingerprint: str = "",
    test_fingerprint: str = "",
    min_tokens: int = 1,
    max_tokens: int = 80,
    max_length_ratio: float = 3.0,
    vocab_size: int = 8000,
    sharing: str = "full",
    meta_config: str = "",
    d_model: int = 256,
    ffn_dim: int = 1024,
    encoder_layers: int = 3,
    decoder_layers: int = 3,
    max_steps: int = 400,
    batch_tokens: int = 3000,
    lr: float = 0.002,
    warmup_steps: int = 300,
    nnodes: int = 1,
    nproc: int = 2,
    seed: int = 1,
    launcher: str = "torchrun",
    cluster: str = "",
    beam_size: int = 4,
    eval_max_sentences: int = 0,
    experiment: str = "mtforge-baseline",
    run_name: str = "baseline",
    register_as: str = "mtforge-baseline",
) -> str:
    """Multi30k baseline.

    Args:
        data: Multi30k-style multi-way directory (files <split>.<lang>): local path, s3://bucket/prefix or hf://id.
        directions: Comma-separated translation directions, e.g. "en-de,de-en" (any code form; normalised to FLORES-200).
        train_split: Split used for training.
        valid_split: Split used for validation loss.
        testsets: Test sets translated and scored: multi30k[:split], flores200[:split], ntrex128, tico19, or label=path (comma-separated), e.g. "multi30k,flores200:devtest".
        testsets_root: Folder or s3:// prefix holding the named test sets (multi30k/, flores200/, ntrex128/, tico19/).
        train_corpus: Train on this corpus instead of data's train split, e.g. curate-bitext's curated output (an mtforge corpus directory or s3:// URI). Empty: use data.
        train_fingerprint: Content hash of the training split; `mtforge run` fills it so the cache follows content. Leave empty in the UI.
        valid_fingerprint: Content hash of the validation split (filled by `mtforge run`).
        test_fingerprint: Content hash of the test sets (filled by `mtforge run`).
        min_tokens: Cleaning: fewest whitespace tokens per side.
        max_tokens: Cleaning: most whitespace tokens per side.
        max_length_ratio: Cleaning: largest ratio between the sides' token counts.
        vocab_size: Joint SentencePiece vocabulary size.
        sharing: Architecture preset (MAMMOTH): full (one encoder and decoder, target-language prefix), independent (encoder per source, decoder per target language), shared (one encoder, decoder per target) or partial (language-specific then shared encoder layers, decoder per target).
        d_model: Transformer width.
        ffn_dim: Feed-forward width.
        meta_config: MAMMOTH meta-config (YAML mapping) overriding the preset: layer-wise sharing patterns (enc_layers, enc_sharing, dec_layers, dec_sharing), language groups or clustering, task weight temperature, curriculum, allocation. Empty: the preset alone.
        encoder_layers: Encoder layers.
        decoder_layers: Decoder layers.
        max_steps: Training steps.
        batch_tokens: Source+target tokens per batch per process.
        lr: Peak learning rate.
        warmup_steps: Learning-rate warm-up steps.
        nnodes: Training nodes (PyTorchJob pods; 1 with torchrun).
        nproc: Training processes per node (torchrun --nproc_per_node).
        seed: Random seed.
        launcher: Where training runs: torchrun (inside the train step) or pytorchjob (a Kubeflow PyTorchJob).
        cluster: PyTorchJob settings as a YAML mapping (namespace, staging_uri, secret_name, cpu, memory, gpus, timeout_s).
        beam_size: Beam width for test translation.
        eval_max_sentences: Evaluate only the first N segments of each test set (0: all).
        experiment: MLflow experiment name.
        run_name: MLflow run name.
        register_as: MLflow registered model name; the new version becomes "champion" only if no direction regresses significantly against the current champion. Empty: do not register.

    Returns:
        The MLflow run id.
    """
    train_data = apply_stage(ingest(source=data, directions=directions, split=train_split, fingerprint=train_fingerprint,
                                    replace_with=train_corpus), "ingest").set_display_name("ingest-train")
    valid_data = apply_stage(ingest(source=data, directions=directions, split=valid_split, fingerprint=valid_fingerprint,
                                    replace_with=""), "ingest").set_display_name("ingest-valid")
    cleaned = apply_stage(clean(corpus=train_data.outputs["corpus"], min_tokens=min_tokens, max_tokens=max_tokens,
                                max_length_ratio=max_length_ratio), "clean")
    vocab = apply_stage(spm(corpus=cleaned.outputs["cleaned"], vocab_size=vocab_size), "spm")
    model = apply_stage(train(corpus=cleaned.outputs["cleaned"], valid=valid_data.outputs["corpus"],
                              vocab=vocab.outputs["vocab"], directions=directions, sharing=sharing,
                              meta_config=meta_config, d_model=d_model, ffn_dim=ffn_dim,
                              encoder_layers=encoder_layers, decoder_layers=decoder_layers, max_steps=max_steps,
                              batch_tokens=batch_tokens, lr=lr, warmup_steps=warmup_steps, nnodes=nnodes,
                              nproc=nproc, seed=seed, launcher=launcher, cluster=cluster, image=IMAGE), "train")
    scores = apply_stage(evaluate(model=model.outputs["model"], vocab=vocab.outputs["vocab"], testsets=testsets,
                                  testsets_root=testsets_root, fingerprint=test_fingerprint, directions=directions,
                                  beam_size=beam_size, max_sentences=eval_max_sentences, tokenize="13a",
                                  title=run_name), "evaluate")
    run = track(experiment=experiment, run_name=run_name, register_as=register_as,
                train_corpus=train_data.outputs["corpus"], cleaned=cleaned.outputs["cleaned"],
                vocab=vocab.outputs["vocab"], model=model.outputs["model"], evaluation=scores.outputs["evaluation"])
    finish_pipeline(run)
    return run.outputs["Output"]
