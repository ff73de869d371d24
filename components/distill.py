"""KFP components of the ``distill`` pipeline (:mod:`mtforge.stages.distill`, :mod:`mtforge.distill`)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def distill_sample(source: str, directions: str, count: int, replace: bool, seed: int, fingerprint: str,
                   sampled: Output[Dataset], stats: Output[Metrics]):
    """Sample monolingual source sentences (seeded) into a corpus for the teacher to translate.

    Args:
        source: Text files named with a language part (train.en), directories or s3:// prefixes of them, or mono corpora; comma-separated.
        directions: Directions the teacher translates, e.g. "en-de".
        count: Sentences sampled per source language.
        replace: Sample with replacement (stopes); false: every line once before any repeats.
        seed: Seed of the sample.
        fingerprint: Content hash of the source (filled in by `mtforge run`); only keys the cache.
    """
    from components.kfp_io import publish
    from mtforge.stage import run_stage

    config = {"directions": directions, "count": count, "replace": replace, "seed": seed}
    publish(run_stage("distill-sample", config, out_dir=sampled.path, source=source), stats, sampled)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def distill_filter(translations: Input[Dataset], teacher: Input[Model], teacher_vocab: Input[Model], lid_backend: str,
                   lid_threshold: float, max_length_ratio: float, qe: str, qe_threshold: str, qe_percentile: float,
                   filtered: Output[Dataset], stats: Output[Metrics]):
    """Keep the teacher's translations in the target language, of a plausible length ratio and good QE score.

    Args:
        translations: The teacher's translations (translate's output).
        teacher: The teacher's checkpoint (back-translates for the chrf-roundtrip QE).
        teacher_vocab: The teacher's SentencePiece vocabulary.
        lid_backend: py3langid, lingua or none.
        lid_threshold: Least probability of the target language.
        max_length_ratio: Most tokens of the longer side per token of the shorter.
        qe: Quality estimator: cosine, cosine:<encoder>, chrf-roundtrip, blaser; empty: none.
        qe_threshold: Keep pairs scoring at least this (a number); empty: no threshold.
        qe_percentile: Keep pairs at or above this percentile of their direction's scores; 0: no percentile cut.
    """
    from components.kfp_io import publish
    from mtforge.stage import run_stage

    config = {"lid_backend": lid_backend, "lid_threshold": lid_threshold, "max_length_ratio": max_length_ratio,
              "qe": qe, "qe_threshold": qe_threshold.strip() or None, "qe_percentile": qe_percentile or None}
    result = run_stage("distill-filter", config, out_dir=filtered.path, corpus=translations.path, model=teacher.path,
                       vocab=teacher_vocab.path)
    publish(result, stats, filtered)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def distill_report(teacher: Input[Model], teacher_vocab: Input[Model], student: Input[Model],
                   student_vocab: Input[Model], teacher_evaluation: Input[Dataset], student_evaluation: Input[Dataset],
                   speed_sentences: int, beam_size: int, title: str, report: Output[Dataset], stats: Output[Metrics]):
    """Compare the student with its teacher: test-set scores, parameters and CPU translation speed.

    Args:
        teacher: The teacher's checkpoint.
        teacher_vocab: The teacher's SentencePiece vocabulary.
        student: The student's checkpoint.
        student_vocab: The student's SentencePiece vocabulary.
        teacher_evaluation: The teacher's evaluation (evaluate's output).
        student_evaluation: The student's evaluation on the same test sets.
        speed_sentences: Test-set sentences each model translates, timed on one thread.
        beam_size: Beam width of the timed translation.
        title: Report title.
    """
    from components.kfp_io import publish
    from mtforge.stage import run_stage

    config = {"speed_sentences": speed_sentences, "beam_size": beam_size, "title": title}
    result = run_stage("distill-report", config, out_dir=report.path, teacher=teacher.path,
                       teacher_vocab=teacher_vocab.path, student=student.path, student_vocab=student_vocab.path,
                       teacher_evaluation=teacher_evaluation.path, student_evaluation=student_evaluation.path)
    publish(result, stats, report)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def track_distill(experiment: str, run_name: str, sampled: Input[Dataset], filtered: Input[Dataset],
                  vocab: Input[Model], student: Input[Model], evaluation: Input[Dataset],
                  report: Input[Dataset]) -> str:
    """Log one MLflow run of the distillation: every step's config and stats (teacher scores, parameters and speed
    under distill-report), the student's training curves and test scores, the filter and comparison reports.

    Args:
        experiment: MLflow experiment name.
        run_name: MLflow run name.
        sampled: distill-sample's output.
        filtered: distill-filter's output.
        vocab: The student's SentencePiece vocabulary.
        student: The student's checkpoint.
        evaluation: The student's evaluation.
        report: distill-report's output.

    Returns:
        The MLflow run id.
    """
    from mtforge.tracking_report import log_stage_outputs

    stages = {"distill-sample": sampled.path, "distill-filter": filtered.path, "spm": vocab.path,
              "train": student.path, "evaluate": evaluation.path, "distill-report": report.path}
    run_id, _ = log_stage_outputs(experiment=experiment, run_name=run_name, stage_dirs=stages,
                                  tags={"mtforge.output": report.uri})
    return run_id
