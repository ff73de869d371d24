"""``distill``: sequence-level knowledge distillation (stopes §5.3). Monolingual source text →
seeded sampling → teacher translation (beam search) → filtering (LID, length ratio, QE) →
SentencePiece → a smaller student trained with the modular trainer → student and teacher
evaluated on the same test sets → a comparison (scores, parameters, CPU speed) → MLflow."""

from pathlib import Path

from kfp import dsl

from components.distill import distill_filter, distill_report, distill_sample, track_distill
from components.evaluate import evaluate
from components.image import IMAGE
from components.ingest import ingest
from components.spm import spm
from components.train import train
from components.translate import translate
from mtforge.distill.sample import mono_fingerprint
from mtforge.distill.teacher import model_fingerprint
from mtforge.evaluation.testsets import fingerprint_testsets
from pipelines.resources import apply_stage, finish_pipeline

__all__ = ["FINGERPRINTS", "local_defaults", "pipeline"]

#: Filled in by ``mtforge run`` (see :mod:`pipelines`); the teacher's is checked on the way.
FINGERPRINTS = {
    "mono_fingerprint": lambda params: mono_fingerprint(params["mono_source"]),
    "teacher_fingerprint": lambda params: model_fingerprint(params["teacher_model"], params["teacher_vocab"]),
    "valid_fingerprint": ("valid_data", "valid_split"),
    "test_fingerprint": lambda params: fingerprint_testsets(params["testsets"], params["testsets_root"]),
}

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def local_defaults() -> dict[str, str]:
    """Distil on Multi30k's English training side, validate and test on Multi30k, when the
    shared data is here."""
    if not SHARED_DATA.is_dir():
        return {}
    multi30k = SHARED_DATA / "multi30k"
    return {"mono_source": str(multi30k / "train.en"), "valid_data": str(multi30k), "testsets_root": str(SHARED_DATA)}


def _imported(uri: str, fingerprint: str, name: str) -> dsl.PipelineTask:
    """An existing model directory as a Model artifact; its fingerprint in the metadata keys the
    cache of every task that reads it."""
    task = dsl.importer(artifact_uri=uri, artifact_class=dsl.Model, reimport=False,
                        metadata={"content_hash": fingerprint})
    return task.set_display_name(name)


@dsl.pipeline(name="distill", description="Sequence-level knowledge distillation: a trained teacher translates "
                                          "sampled monolingual text, the output is filtered and a smaller student "
                                          "is trained on it and compared with the teacher.")
def pipeline(
    mono_source: str = "s3://mtforge/data/multi30k/train.en",
    mono_fingerprint: str = "",
    directions: str = "en-de",
    sample_count: int = 29000,
    sample_with_replacement: bool = True,
    teacher_model: str = "",
    teacher_vocab: str = "",
    teacher_fingerprint: str = "",
    beam_size: int = 4,
    lid_backend: str = "py3langid",
    lid_threshold: float = 0.0,
    max_length_ratio: float = 3.0,
    qe: str = "cosine",
    qe_threshold: str = "",
    qe_percentile: float = 5.0,
    vocab_size: int = 8000,
    sharing: str = "full",
    meta_config: str = "",
    d_model: int = 128,
    ffn_dim: int = 512,
    encoder_layers: int = 2,
    decoder_layers: int = 2,
    max_steps: int = 400,
    batch_tokens: int = 3000,
    lr: float = 0.002,
    warmup_steps: int = 300,
    nnodes: int = 1,
    nproc: int = 2,
    seed: int = 1,
    launcher: str = "torchrun",
    cluster: str = "",
    valid_data: str = "s3://mtforge/data/multi30k",
    valid_split: str = "val",
    valid_fingerprint: str = "",
    testsets: str = "multi30k:test_2016_flickr",
    testsets_root: str = "s3://mtforge/data",
    test_fingerprint: str = "",
    eval_max_sentences: int = 0,
    speed_sentences: int = 200,
    experiment: str = "mtforge-distill",
    run_name: str = "distill",
) -> str:
    """Sequence-level distillation.

    Args:
        mono_source: Monolingual source text: files named with a language part (train.en, eng_Latn.dev), directories or s3:// prefixes of them, or mono corpora (curate-mono's output); comma-separated.
        mono_fingerprint: Content hash of mono_source (filled by `mtforge run`).
        directions: Comma-separated directions the teacher translates and the student learns, e.g. "en-de".
        sample_count: Source sentences sampled per source language.
        sample_with_replacement: Sample with replacement as stopes does; false: every line once before any repeats.
        teacher_model: The teacher: a train stage output directory (holding checkpoint/), local path or s3:// URI.
        teacher_vocab: The teacher's vocabulary: an spm stage output directory (holding spm.model).
        teacher_fingerprint: Content hash of the teacher and its vocabulary (filled and checked by `mtforge run`).
        beam_size: Beam width of the teacher's translation and of both evaluations.
        lid_backend: Language identifier checking the teacher's output: py3langid, lingua, or none.
        lid_threshold: Least probability of the target language for a translation to be kept.
        max_length_ratio: Drop pairs whose longer side has more than this many times the tokens of the shorter.
        qe: Quality estimator: cosine (multilingual e5 embeddings), cosine:<encoder spec>, chrf-roundtrip (round trip through the teacher), blaser (needs mtforge[blaser]); empty: none (then set qe_percentile to 0).
        qe_threshold: Keep pairs whose QE score is at least this number; empty: no threshold (set qe_percentile to 0 when using it).
        qe_percentile: Drop the pairs below this percentile of each direction's QE scores (5: the worst 5 %); 0: no percentile cut.
        vocab_size: The student's SentencePiece vocabulary size (trained on the filtered data).
        sharing: The student's architecture preset (MAMMOTH): full, independent, shared or partial.
        meta_config: MAMMOTH meta-config (YAML mapping) overriding the student's preset; empty: the preset alone.
        d_model: The student's width.
        ffn_dim: The student's feed-forward width.
        encoder_layers: The student's encoder layers.
        decoder_layers: The student's decoder layers.
        max_steps: The student's training steps.
        batch_tokens: Source+target tokens per batch per process.
        lr: Peak learning rate.
        warmup_steps: Learning-rate warm-up steps.
        nnodes: Training nodes (PyTorchJob pods; 1 with torchrun).
        nproc: Training processes per node.
        seed: Seed of the sample and of the student's training.
        launcher: Where the student trains: torchrun (inside the train step) or pytorchjob.
        cluster: PyTorchJob settings as a YAML mapping (namespace, staging_uri, secret_name, cpu, memory, gpus, timeout_s).
        valid_data: Multi30k-style directory holding the validation split (real references).
        valid_split: Split of valid_data used for the student's validation loss.
        valid_fingerprint: Content hash of the validation split (filled by `mtforge run`).
        testsets: Test sets both models are scored on: multi30k[:split], flores200[:split], ntrex128, tico19, or label=path (comma-separated).
        testsets_root: Folder or s3:// prefix holding the named test sets.
        test_fingerprint: Content hash of the test sets (filled by `mtforge run`).
        eval_max_sentences: Evaluate only the first N segments of each test set (0: all).
        speed_sentences: Test-set sentences each model translates, timed side by side on one CPU thread.
        experiment: MLflow experiment name.
        run_name: MLflow run name.

    Returns:
        The MLflow run id.
    """
    teacher = _imported(teacher_model, teacher_fingerprint, "teacher-model")
    teacher_spm = _imported(teacher_vocab, teacher_fingerprint, "teacher-vocab")
    sampled = apply_stage(distill_sample(source=mono_source, directions=directions, count=sample_count,
                                         replace=sample_with_replacement, seed=seed, fingerprint=mono_fingerprint),
                          "distill-sample")
    translated = apply_stage(translate(model=teacher.output, vocab=teacher_spm.output,
                                       corpus=sampled.outputs["sampled"], beam_size=beam_size), "translate")
    translated.set_display_name("teacher-translate")
    filtered = apply_stage(distill_filter(translations=translated.outputs["translations"], teacher=teacher.output,
                                          teacher_vocab=teacher_spm.output, lid_backend=lid_backend,
                                          lid_threshold=lid_threshold, max_length_ratio=max_length_ratio, qe=qe,
                                          qe_threshold=qe_threshold, qe_percentile=qe_percentile), "distill-filter")
    valid = apply_stage(ingest(source=valid_data, directions=directions, split=valid_split,
                               fingerprint=valid_fingerprint, replace_with=""), "ingest")
    valid.set_display_name("ingest-valid")
    vocab = apply_stage(spm(corpus=filtered.outputs["filtered"], vocab_size=vocab_size), "spm")
    student = apply_stage(train(corpus=filtered.outputs["filtered"], valid=valid.outputs["corpus"],
                                vocab=vocab.outputs["vocab"], directions=directions, sharing=sharing,
                                meta_config=meta_config, d_model=d_model, ffn_dim=ffn_dim,
                                encoder_layers=encoder_layers, decoder_layers=decoder_layers, max_steps=max_steps,
                                batch_tokens=batch_tokens, lr=lr, warmup_steps=warmup_steps, nnodes=nnodes,
                                nproc=nproc, seed=seed, launcher=launcher, cluster=cluster, image=IMAGE), "train")
    student.set_display_name("train-student")
    scores = {}
    for role, model, model_vocab in (("student", student.outputs["model"], vocab.outputs["vocab"]),
                                     ("teacher", teacher.output, teacher_spm.output)):
        scores[role] = apply_stage(evaluate(model=model, vocab=model_vocab, testsets=testsets,
                                            testsets_root=testsets_root, fingerprint=test_fingerprint,
                                            directions=directions, beam_size=beam_size,
                                            max_sentences=eval_max_sentences, tokenize="13a",
                                            title=f"distill {role}"), "evaluate")
        scores[role].set_display_name(f"evaluate-{role}")
    report = apply_stage(distill_report(teacher=teacher.output, teacher_vocab=teacher_spm.output,
                                        student=student.outputs["model"], student_vocab=vocab.outputs["vocab"],
                                        teacher_evaluation=scores["teacher"].outputs["evaluation"],
                                        student_evaluation=scores["student"].outputs["evaluation"],
                                        speed_sentences=speed_sentences, beam_size=beam_size, title=run_name),
                         "distill-report")
    run = track_distill(experiment=experiment, run_name=run_name, sampled=sampled.outputs["sampled"],
                        filtered=filtered.outputs["filtered"], vocab=vocab.outputs["vocab"],
                        student=student.outputs["model"], evaluation=scores["student"].outputs["evaluation"],
                        report=report.outputs["report"])
    finish_pipeline(run)
    return run.output
