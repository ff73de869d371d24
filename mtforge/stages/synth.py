"""``synth-generate``, ``synth-translate`` and ``synth-select``: TopXGen's synthetic parallel
data in three steps (see :mod:`mtforge.synth`).

* ``synth-generate`` — paragraphs per target language from an LLM (vLLM, an
  OpenAI-compatible server or transformers) into TopXGen's ``{Language}.jsonl``, with the
  rejected answers/paragraphs and their reasons in ``rejected/{Language}.jsonl`` and counts
  in ``generation.json``. It works in a directory that outlives the task
  (:meth:`~mtforge.stage.StageSpec.work_dir`), so a retried task resumes the batches already done.
* ``synth-translate`` — sentences, language ID, length floor, back-translation and quality
  scores into ``{back-translator}/{Language}_translate.jsonl``; dropped sentences in
  ``exclusions.parquet``.
* ``synth-select`` — decontamination and the quality cut into a bitext corpus, TopXGen's
  full layout under ``topxgen/``, ``calibration.md`` (score histogram per language),
  ``decontamination.md`` and ``synth.json``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
from pydantic import Field
from tqdm import tqdm

from mtforge.corpus import Corpus, CorpusWriter, ExclusionWriter
from mtforge.curate.decontam import Decontaminator, DecontamReport
from mtforge.curate.evalsets import collect_eval_sets
from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.langcodes import english_name, normalise
from mtforge.stage import Resources, StageConfig, stage
from mtforge.synth.backtranslate import load_back_translator
from mtforge.synth.generate import REJECTED, GenerateConfig, generate_language, paragraphs_file, read_jsonl
from mtforge.synth.generators import load_generator
from mtforge.synth.pairs import Exclusions, SentenceConfig, TranslateSettings, sentences_of, translate_and_score
from mtforge.synth.prompts import ExamplePool, read_topics
from mtforge.synth.qe import histogram_markdown, load_qe
from mtforge.synth.select import SelectConfig, check_languages, origin, select_language
from mtforge.synth.topxgen import (CALIBRATION_REPORT, DECONTAMINATION_REPORT, GENERATION_REPORT, SYNTH_REPORT,
                                   find_translated, read_translated, translate_file,
                                   write_translated)

TOPXGEN_DIR = "topxgen"


def _languages(codes: list[str]) -> list[str]:
    if not codes:
        raise ConfigError("languages: give at least one target language (e.g. [swh_Latn, hau_Latn])")
    return list(dict.fromkeys(normalise(code) for code in codes))


class SynthGenerateConfig(GenerateConfig):
    """The generator and the target languages, plus :class:`GenerateConfig`."""

    generator: str = Field(..., description="vllm:<model dir> | hf:<model dir> | openai:<base url>#<model name>")
    languages: list[str] = Field(..., description="target languages (any code form or English name)")


@stage("synth-generate", version="1", config=SynthGenerateConfig, resources=Resources(cpu="4", memory="16Gi", gpu=1))
def synth_generate(*, topics: str, examples: str, out_dir: str, config: SynthGenerateConfig) -> dict[str, float]:
    """Generate paragraphs about the topics in ``topics`` (one per line) for each language, with
    prompt examples from the multi-way set ``examples`` (FLORES-200 dev)."""
    languages = _languages(config.languages)
    topic_list = read_topics(topics)
    pool = ExamplePool.from_dir(examples)
    for lang in languages:  # fail before loading the model when an example language is missing
        pool.require(lang, config.prompt.example_sentences)
    work = synth_generate.spec.work_dir(config, {"topics": topics, "examples": examples})
    out = Path(out_dir)
    (out / "rejected").mkdir(parents=True, exist_ok=True)
    generator = load_generator(config.generator)
    report, stats = {"generator": generator.name, "languages": {}}, {}
    try:
        for lang in languages:
            with tqdm(total=config.target_paragraphs, desc=f"generate {lang}", unit="par", leave=False) as bar:
                state = generate_language(generator, topic_list, pool, lang, work / lang, config, progress=bar.update)
            shutil.copyfile(paragraphs_file(work / lang, lang), paragraphs_file(out, lang))
            shutil.copyfile(work / lang / REJECTED, out / "rejected" / f"{english_name(lang)}.jsonl")
            counts = dict(state.counts)
            counts["tokens_per_second"] = counts.get("completion_tokens", 0) / state.seconds if state.seconds else 0.0
            report["languages"][lang] = {"batches": state.batch, "seconds": state.seconds, **counts}
            stats.update({f"{key}.{lang}": float(value) for key, value in counts.items()})
    finally:
        generator.close()
    (out / GENERATION_REPORT).write_text(json.dumps(report, indent=2))
    return stats


def generated_languages(root: Path) -> dict[str, Path]:
    """FLORES code → ``{Language}.jsonl`` of every generated-paragraph file in ``root``."""
    found = {}
    for path in sorted(root.glob("*.jsonl")):
        found[normalise(path.stem)] = path
    if not found:
        raise InputNotFoundError(f"{root}: no {{Language}}.jsonl files of generated paragraphs")
    return found


class SynthTranslateConfig(StageConfig):
    """Sentence checks, back-translation and quality estimation."""

    src_lang: str = Field("eng_Latn", description="the language back-translations are in")
    back_translator: str = Field(..., description="hf:<seq2seq model dir> (NLLB-style) | mtforge:<train output dir>")
    vocab: str = Field("", description="the spm output dir (back_translator mtforge:…)")
    beam_size: int = Field(4, ge=1, description="beam width of the back-translator")
    batch_size: int = Field(32, ge=1, description="sentences translated at once")
    max_new_tokens: int = Field(256, ge=1, description="longest back-translation, in tokens")
    qe: str = Field("auto", description="auto (blaser when installed, else cosine) | cosine[:<encoder>] | "
                                        "chrf-roundtrip | blaser")
    sentences: SentenceConfig = Field(default_factory=SentenceConfig, description="which sentences are translated")


@stage("synth-translate", version="1", config=SynthTranslateConfig, resources=Resources(cpu="4", memory="8Gi", gpu=1))
def synth_translate(*, generated: str, out_dir: str, config: SynthTranslateConfig) -> dict[str, float]:
    """Split, check, back-translate and score the paragraphs of every ``{Language}.jsonl`` in ``generated``."""
    src_lang = normalise(config.src_lang)
    files = generated_languages(Path(generated))
    settings = TranslateSettings(config.beam_size, config.batch_size, config.max_new_tokens)

    def back(texts: list[str], from_lang: str, to_lang: str) -> list[str]:
        return translator.translate(texts, from_lang, to_lang, beam_size=settings.beam_size,
                                    batch_size=settings.batch_size, max_new_tokens=settings.max_new_tokens)

    qe = load_qe(config.qe, back=back)  # before the model loads: a QE backend that is not installed fails fast
    translator = load_back_translator(config.back_translator, vocab=config.vocab or None)
    stats: dict[str, float] = {}
    excluded = Exclusions()
    for lang, path in files.items():
        paragraphs = read_jsonl(path)
        sentences = sentences_of(paragraphs, lang, config.sentences, excluded, lambda i, j: origin(lang, i, j))
        translated = translate_and_score(paragraphs, sentences, lang, src_lang, translator, qe, settings)
        write_translated(translate_file(Path(out_dir), translator.name, lang), translated)
        stats[f"paragraphs.{lang}"] = float(len(paragraphs))
        stats[f"sentences.{lang}"] = float(sum(map(len, sentences)))
    with ExclusionWriter(out_dir, kind="mono") as writer:
        if excluded.rows:
            writer.add(excluded.rows, pa.array(excluded.reasons, pa.string()), pa.array(excluded.scores, pa.float64()))
    stats.update({f"excluded.{reason}": float(n) for reason, n in writer.counts().items()})
    return stats


@stage("synth-select", version="1", config=SelectConfig, resources=Resources(cpu="2", memory="4Gi"))
def synth_select(*, translated: str, out_dir: str, config: SelectConfig, generated: str | None = None
                 ) -> dict[str, float]:
    """Decontaminate and cut the pairs under ``translated`` (TopXGen layout) into a corpus."""
    found = find_translated(Path(translated))
    check_languages(config, list(found))
    eval_sets = collect_eval_sets(config.eval_data, config.benchmarks, config.eval_files)
    decontaminator = Decontaminator(eval_sets, diff_threshold=config.diff_threshold) if eval_sets else None
    out, report = Path(out_dir), DecontamReport()
    topx = out / TOPXGEN_DIR
    stats: dict[str, float] = {}
    summary: dict[str, dict] = {}
    scores: dict[str, np.ndarray] = {}
    cuts: dict[str, float] = {}
    with CorpusWriter(out / Corpus.STAGE_SUBDIR) as corpus, ExclusionWriter(out) as excluded:
        for lang, (back_translator, path) in found.items():
            paragraphs = read_translated(path)
            chosen = select_language(paragraphs, lang, normalise(config.src_lang), config, decontaminator, report)
            corpus.write(chosen.rows)
            for reason in ("contaminated", "low_qe"):
                rows = [(row, score) for row, why, score in chosen.dropped if why == reason]
                if rows:
                    excluded.add([row for row, _ in rows], reason, pa.array([s for _, s in rows], pa.float64()))
            write_translated(translate_file(topx, back_translator, lang), paragraphs)
            write_translated(translate_file(topx, back_translator, lang, filtered=True), chosen.clean)
            if generated and paragraphs_file(Path(generated), lang).is_file():
                shutil.copyfile(paragraphs_file(Path(generated), lang), paragraphs_file(topx, lang))
            scores[lang] = chosen.scores
            if chosen.cut is not None:
                cuts[lang] = chosen.cut
            summary[lang] = {"back_translator": back_translator, "paragraphs": len(paragraphs),
                             "paragraphs_clean": len(chosen.clean), "pairs": len(chosen.scores) + sum(
                                 why == "contaminated" for _, why, _ in chosen.dropped), "kept": len(chosen.rows),
                             "cut": chosen.cut}
            stats[f"pairs_kept.{lang}"] = float(len(chosen.rows))
            stats[f"paragraphs_contaminated.{lang}"] = float(len(paragraphs) - len(chosen.clean))
    if generated and (Path(generated) / GENERATION_REPORT).is_file():
        shutil.copyfile(Path(generated) / GENERATION_REPORT, out / GENERATION_REPORT)
    (out / CALIBRATION_REPORT).write_text(histogram_markdown(scores, cut=cuts))
    (out / DECONTAMINATION_REPORT).write_text(report.to_markdown())
    (out / SYNTH_REPORT).write_text(json.dumps({"config": config.model_dump(mode="json"), "languages": summary,
                                                "decontamination": report.to_dict()}, indent=2))
    stats["pairs_kept"] = float(sum(v["kept"] for v in summary.values()))
    return stats
