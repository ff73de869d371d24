"""KFP components of the ``synth`` pipeline (:mod:`mtforge.stages.synth`). Stage configs travel
as YAML text so the Kubeflow UI shows them; inputs given as s3:// URIs are downloaded first."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def synth_generate(topics: str, examples: str, generator: str, languages: str, config: str,
                   generated: Output[Dataset], stats: Output[Metrics]):
    """Generate topic-diverse paragraphs per target language with an LLM; rejected answers kept with reasons.

    Args:
        topics: Topic file (one topic per line): local path or s3:// URI.
        examples: Multi-way example set for the prompts (FLORES-200 dev: <lang>.dev files): local path or s3:// URI.
        generator: The LLM: vllm:<model dir>, hf:<model dir> or openai:<base url>#<model name>.
        languages: Comma-separated target languages.
        config: YAML mapping of the rest of the synth-generate config (prompt, sampling, seed, stopping, lid).
    """
    import yaml

    from components.kfp_io import publish
    from mtforge.corpus.remote import as_local
    from mtforge.stage import run_stage

    with as_local(topics) as topic_file, as_local(examples) as example_dir:
        values = {**(yaml.safe_load(config) or {}), "generator": generator,
                  "languages": [code.strip() for code in languages.split(",") if code.strip()]}
        result = run_stage("synth-generate", values, out_dir=generated.path, topics=topic_file, examples=example_dir)
    publish(result, stats, generated)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def synth_translate(generated: Input[Dataset], back_translator: str, vocab: str, config: str,
                    translated: Output[Dataset], stats: Output[Metrics]):
    """Split paragraphs into sentences, check language and length, back-translate and score each pair.

    Args:
        generated: The generated paragraphs (synth-generate).
        back_translator: hf:<seq2seq model dir> (NLLB-style) or mtforge:<train output dir>.
        vocab: The spm output dir for an mtforge back-translator; empty otherwise.
        config: YAML mapping of the rest of the synth-translate config (src_lang, beam_size, batch_size, qe, sentences).
    """
    import yaml

    from components.kfp_io import publish
    from mtforge.stage import run_stage

    values = {**(yaml.safe_load(config) or {}), "back_translator": back_translator, "vocab": vocab}
    publish(run_stage("synth-translate", values, out_dir=translated.path, generated=generated.path), stats, translated)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def synth_select(translated: Input[Dataset], generated: Input[Dataset], config: str, eval_data: str,
                 selected: Output[Dataset], stats: Output[Metrics]):
    """Decontaminate (whole paragraphs) and cut by quality: a bitext corpus plus TopXGen's JSONL layout.

    Args:
        translated: The scored pairs (synth-translate).
        generated: The generated paragraphs (copied into the TopXGen layout).
        config: YAML mapping of the synth-select config (threshold | percentile, thresholds, benchmarks, src_lang).
        eval_data: Root of the evaluation sets (shared-data layout) to decontaminate against: local path or s3:// URI; empty: none.
    """
    import yaml

    from components.kfp_io import publish
    from mtforge.corpus.remote import as_local
    from mtforge.stage import run_stage

    values = yaml.safe_load(config) or {}
    with as_local(eval_data) as eval_root:
        result = run_stage("synth-select", {**values, "eval_data": eval_root}, out_dir=selected.path,
                           translated=translated.path, generated=generated.path)
    publish(result, stats, selected)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def track_synth(experiment: str, run_name: str, generated: Input[Dataset], translated: Input[Dataset],
                selected: Input[Dataset]) -> str:
    """Log one MLflow run of the three synth stages: configs (params), counts (metrics), reports (artifacts).

    Args:
        experiment: MLflow experiment name.
        run_name: MLflow run name.
        generated: synth-generate's output.
        translated: synth-translate's output.
        selected: synth-select's output (its URI becomes the tag mtforge.output).

    Returns:
        The MLflow run id.
    """
    from mtforge.tracking_report import log_stage_outputs

    run_id, _ = log_stage_outputs(experiment=experiment, run_name=run_name, tags={"mtforge.output": selected.uri},
                                  stage_dirs={"synth-generate": generated.path, "synth-translate": translated.path,
                                              "synth-select": selected.path})
    return run_id
