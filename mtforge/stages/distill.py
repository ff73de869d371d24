"""``distill-sample``, ``distill-filter`` and ``distill-report``: the steps of sequence-level
distillation (stopes §5.3) around the existing ``translate`` (the teacher), ``spm``, ``train``
(the student) and ``evaluate`` stages.

``distill-sample`` writes a bitext corpus whose rows have the sampled source sentence, an
empty ``tgt`` and the direction (one row per sampled sentence and direction from its
language; ``origin`` = ``<file>:<line>``), the lines it could not use in
``exclusions.parquet`` (a mono record, reason ``empty`` or the read error) and ``sample.json``.

``distill-filter`` reads the teacher's translations (``translate``'s output; into memory, then
decided one direction at a time) and writes the
kept pairs (``score`` = the QE score when QE ran), the dropped ones with their reasons
(:data:`mtforge.distill.filter.REASONS`) and the deciding check's score in
``exclusions.parquet``, ``filter.json`` and ``report.md`` (counts, and the QE score histogram
of each direction with its cut, for calibration).

``distill-report`` compares a student with its teacher (:mod:`mtforge.distill.report`) into
``distill.json`` and ``report.md``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from mtforge.corpus import Corpus, CorpusWriter, ExclusionWriter
from mtforge.curate.lid import LanguageIdentifier, load_identifier
from mtforge.distill.filter import REASONS, decide
from mtforge.distill.report import compare, flat_stats, markdown
from mtforge.distill.sample import read_mono, sample_indices
from mtforge.distill.teacher import Translators
from mtforge.errors import ConfigError
from mtforge.evaluation.results import Evaluation
from mtforge.langcodes import format_direction, normalise, parse_directions
from mtforge.stage import Resources, StageConfig, stage
from mtforge.synth.qe import QualityEstimator, histogram_markdown, load_qe

SAMPLE_REPORT, FILTER_REPORT, DISTILL_REPORT, REPORT_MD = "sample.json", "filter.json", "distill.json", "report.md"


class SampleConfig(StageConfig):
    """How much source text to sample for each source language."""

    directions: str = Field("eng_Latn-deu_Latn", description="directions the teacher translates, e.g. 'en-de,en-fr'")
    count: int = Field(10_000, ge=1, description="sentences sampled per source language")
    counts: dict[str, int] = Field(default_factory=dict,
                                   description="per source language (any code form), overriding count")
    replace: bool = Field(True, description="sample with replacement (stopes); false: every line once before any "
                                            "repeats")
    seed: int = Field(1, description="seed of the sample (each language's generator also depends on the language)")


@stage("distill-sample", version="1", config=SampleConfig, resources=Resources(cpu="1", memory="4Gi", retries=2))
def distill_sample(*, source: str, out_dir: str, config: SampleConfig) -> dict[str, float]:
    """Sample each source language's lines of ``source`` (see :mod:`mtforge.distill.sample`)
    into a corpus to translate. Stats: ``rows`` and per language ``available``, ``excluded``,
    ``sampled`` and ``unique`` (distinct lines sampled)."""
    directions = parse_directions(config.directions)
    languages = list(dict.fromkeys(src for src, _ in directions))
    counts = {normalise(lang): n for lang, n in config.counts.items()}
    if stray := sorted(set(counts) - set(languages)):
        raise ConfigError(f"counts names {', '.join(stray)}, not a source language of {config.directions!r} "
                          f"({', '.join(languages)})")
    if bad := {lang: n for lang, n in counts.items() if n < 1}:
        raise ConfigError(f"counts must be at least 1, got {bad}")
    out = Path(out_dir)
    stats: dict[str, float] = {}
    report: dict[str, dict] = {}
    with CorpusWriter(out / Corpus.STAGE_SUBDIR) as writer, ExclusionWriter(out, kind="mono") as excluded:
        for lang in languages:
            mono = read_mono(source, lang)
            count = counts.get(lang, config.count)
            picked = sample_indices(len(mono.texts), count, seed=config.seed, lang=lang, replace=config.replace)
            texts, origins = [mono.texts[i] for i in picked], [mono.origins[i] for i in picked]
            for tgt in (tgt for src, tgt in directions if src == lang):
                writer.write(pa.table({"src": texts, "tgt": [""] * count, "src_lang": [lang] * count,
                                       "tgt_lang": [tgt] * count, "origin": origins}))
            excluded.add([{"text": "", "lang": lang, "origin": origin} for origin, _, _ in mono.excluded],
                         pa.array([reason for _, reason, _ in mono.excluded], pa.string()))
            unique = len(np.unique(picked))
            report[lang] = {"parts": mono.parts, "available": len(mono.texts), "sampled": count, "unique": unique,
                            "excluded": dict(Counter(reason for _, reason, _ in mono.excluded))}
            stats.update({f"available.{lang}": float(len(mono.texts)), f"excluded.{lang}": float(len(mono.excluded)),
                          f"sampled.{lang}": float(count), f"unique.{lang}": float(unique)})
        stats["rows"] = float(writer.rows)
    (out / SAMPLE_REPORT).write_text(json.dumps({"config": config.model_dump(mode="json"), "languages": report},
                                                indent=2))
    return stats


class FilterConfig(StageConfig):
    """Which teacher translations to keep (see :mod:`mtforge.distill.filter`)."""

    lid_backend: str = Field("py3langid", description="language identifier: py3langid, lingua, fasttext; "
                                                      "none skips the language check")
    lid_model_path: str = Field("", description="model file of the fasttext backend")
    lid_languages: str = Field("", description="languages the identifier may answer (comma-separated); empty: "
                                               "the corpus's languages; all: every language it knows")
    lid_threshold: float = Field(0.0, ge=0, le=1, description="least probability of the target language")
    max_length_ratio: float = Field(3.0, ge=1, description="most tokens of the longer side per token of the shorter")
    qe: str = Field("cosine", description="quality estimator (mtforge.synth.qe): cosine, cosine:<encoder>, "
                                          "chrf-roundtrip (back-translates with the teacher), blaser; empty: none")
    qe_threshold: float | None = Field(None, description="keep pairs whose QE score is at least this")
    qe_percentile: float | None = Field(None, ge=0, le=100, description="keep pairs at or above this percentile "
                                                                        "of their direction's QE scores")
    back_beam_size: int = Field(4, ge=1, description="beam of the chrf-roundtrip back-translation")
    histogram_bins: int = Field(20, ge=1, description="bins of the QE histograms in report.md")

    @model_validator(mode="after")
    def _one_cut_with_qe(self) -> FilterConfig:
        if self.qe_threshold is not None and self.qe_percentile is not None:
            raise ValueError(f"give qe_threshold or qe_percentile, not both ({self.qe_threshold}, "
                             f"{self.qe_percentile})")
        if not self.qe.strip() and (self.qe_threshold is not None or self.qe_percentile is not None):
            raise ValueError("qe_threshold/qe_percentile need a quality estimator: qe is empty (no QE: leave both "
                             "unset; the distill pipeline: qe_percentile=0, qe_threshold empty)")
        return self


def _identifier(config: FilterConfig, languages: list[str]) -> LanguageIdentifier | None:
    if config.lid_backend == "none":
        return None
    wanted = config.lid_languages.strip()
    restriction = None if wanted == "all" else [c for c in wanted.split(",") if c.strip()] if wanted else languages
    return load_identifier(config.lid_backend, model_path=config.lid_model_path or None, languages=restriction)


def _estimator(config: FilterConfig, directions: list[tuple[str, str]], model: str | None,
               vocab: str | None) -> QualityEstimator | None:
    """The configured quality estimator; for ``chrf-roundtrip`` the teacher translates back,
    checked first to have every reverse direction."""
    back = None
    try:
        if config.qe == "chrf-roundtrip" and model and vocab:
            teacher = Translators(model, vocab, beam_size=config.back_beam_size)
            for src, tgt in directions:
                try:
                    teacher.get(tgt, src)
                except ConfigError as exc:
                    raise ConfigError(f"the round trip needs the teacher {model} to translate {tgt}-{src}: {exc}") \
                        from None
            back = teacher.translate
        return load_qe(config.qe, back=back) if config.qe.strip() else None
    except ConfigError as exc:
        raise ConfigError(f"distill-filter config key 'qe' ({config.qe!r}): {exc}") from None


def _nullable(values: np.ndarray, kind: pa.DataType) -> pa.Array:
    return pa.array(values, kind, mask=np.isnan(values))


@stage("distill-filter", version="1", config=FilterConfig, resources=Resources(cpu="2", memory="4Gi"))
def distill_filter(*, corpus: str, out_dir: str, config: FilterConfig, model: str | None = None,
                   vocab: str | None = None) -> dict[str, float]:
    """Filter the teacher's translations in ``corpus``; ``model``/``vocab`` (the teacher) serve
    the ``chrf-roundtrip`` QE. Stats: ``rows_in``, ``rows_out``, ``dropped_<reason>`` for every
    reason, per direction ``kept.<direction>`` and, with a QE cut, ``qe_cut.<direction>``.
    Raises :class:`ConfigError` when nothing is kept (after writing the reports)."""
    data = Corpus.open(corpus)
    qe = _estimator(config, data.directions(), model, vocab)
    identifier = _identifier(config, data.languages())
    table = data.to_table()
    out = Path(out_dir)
    report: dict[str, dict] = {}
    scores: dict[str, np.ndarray] = {}
    cuts: dict[str, float] = {}
    stats: dict[str, float] = {}
    with CorpusWriter(out / Corpus.STAGE_SUBDIR) as writer, ExclusionWriter(out) as excluded:
        for src_lang, tgt_lang in data.directions():
            name = format_direction(src_lang, tgt_lang)
            rows = table.filter(pc.and_(pc.equal(table["src_lang"], src_lang), pc.equal(table["tgt_lang"], tgt_lang)))
            found = decide(rows["src"].to_pylist(), rows["tgt"].to_pylist(), src_lang, tgt_lang,
                           identifier=identifier, lid_threshold=config.lid_threshold,
                           max_length_ratio=config.max_length_ratio, qe=qe, qe_threshold=config.qe_threshold,
                           qe_percentile=config.qe_percentile)
            if qe is not None:
                rows = rows.set_column(rows.schema.get_field_index("score"), "score",
                                       _nullable(found.qe_scores, pa.float32()))
            kept = pa.array(found.kept)
            writer.write(rows.filter(kept))
            dropped = ~found.kept
            excluded.add(rows.filter(pc.invert(kept)), pa.array(found.reasons[dropped].tolist(), pa.string()),
                         _nullable(found.reason_scores[dropped], pa.float64()))
            counts = Counter(found.reasons[dropped].tolist())
            scored = found.qe_scores[~np.isnan(found.qe_scores)]
            report[name] = {"rows": rows.num_rows, "kept": int(found.kept.sum()),
                            "dropped": {reason: counts.get(reason, 0) for reason in REASONS}, "qe_cut": found.qe_cut,
                            "qe_quantiles": {str(q): float(np.quantile(scored, q)) for q in (0, 0.1, 0.5, 0.9, 1)}
                            if scored.size else {}}
            stats[f"kept.{name}"] = float(found.kept.sum())
            if qe is not None:
                scores[name] = scored
            if found.qe_cut is not None:
                cuts[name] = stats[f"qe_cut.{name}"] = found.qe_cut
        stats.update({"rows_in": float(data.rows), "rows_out": float(writer.rows),
                      **{f"dropped_{reason}": float(excluded.counts().get(reason, 0)) for reason in REASONS}})
    (out / FILTER_REPORT).write_text(json.dumps({"config": config.model_dump(mode="json"),
                                                 "qe": qe.name if qe else None, "directions": report}, indent=2))
    (out / REPORT_MD).write_text(_filter_markdown(report, scores, cuts, qe.name if qe else None,
                                                  config.histogram_bins))
    if not stats["rows_out"]:
        raise ConfigError(f"distill-filter kept none of the {data.rows} teacher translations in {corpus} "
                          f"({', '.join(f'{k}={int(v)}' for k, v in stats.items() if k.startswith('dropped_'))}); "
                          f"loosen the filters (see {out / REPORT_MD})")
    return stats


def _filter_markdown(report: dict[str, dict], scores: dict[str, np.ndarray], cuts: dict[str, float],
                     qe: str | None, bins: int) -> str:
    lines = ["# Distillation filter\n", f"| direction | pairs | kept | {' | '.join(REASONS)} |",
             "|---|---:|---:|" + "---:|" * len(REASONS)]
    lines += [f"| {name} | {r['rows']} | {r['kept']} | {' | '.join(str(r['dropped'][x]) for x in REASONS)} |"
              for name, r in report.items()]
    if qe is not None:
        lines += [f"\n## QE scores ({qe}) of the pairs that passed the other checks\n",
                  histogram_markdown(scores, bins=bins, cut=cuts)]
    return "\n".join(lines) + "\n"


class ReportConfig(StageConfig):
    """How the student is timed against the teacher."""

    speed_sentences: int = Field(200, ge=1, description="test-set source sentences each model translates, timed")
    beam_size: int = Field(4, ge=1, description="beam width of the timed translation")
    batch_sentences: int = Field(64, ge=1, description="sentences decoded together")
    threads: int = Field(1, ge=0, description="torch threads while timing (0: torch's default)")
    title: str = Field("Distillation: student against teacher", description="report title")


@stage("distill-report", version="1", config=ReportConfig, resources=Resources(cpu="2", memory="4Gi"))
def distill_report(*, teacher: str, teacher_vocab: str, student: str, student_vocab: str, teacher_evaluation: str,
                   student_evaluation: str, out_dir: str, config: ReportConfig) -> dict[str, float]:
    """Compare the student (``student`` train output, ``student_vocab`` spm output) with the
    teacher on their ``evaluate`` outputs, and time both; stats as
    :func:`mtforge.distill.report.flat_stats`."""
    models = {"teacher": Translators(teacher, teacher_vocab, role="teacher"),
              "student": Translators(student, student_vocab, role="student")}
    evaluations = {"teacher": Evaluation(teacher_evaluation), "student": Evaluation(student_evaluation)}
    comparison = compare(models, evaluations, speed_sentences=config.speed_sentences, beam_size=config.beam_size,
                         batch_sentences=config.batch_sentences, threads=config.threads)
    out = Path(out_dir)
    (out / DISTILL_REPORT).write_text(json.dumps(comparison, indent=2))
    (out / REPORT_MD).write_text(markdown(comparison, title=config.title))
    return flat_stats(comparison)
