"""``synth_speed``: how fast the synthetic-data backends work — LLM generation through each
:mod:`mtforge.synth.generators` backend and back-translation through each
:mod:`mtforge.synth.backtranslate` backend — measured side by side in one run on tiny models.

**Generation**: completion tokens per wall second of one ``Generator.chat`` call answering the
same ``prompts`` synth prompts (:func:`mtforge.synth.tiny_model.synth_prompts`, Swahili) with
the same sampling (``temperature``, ``max_tokens``) and seeds, best of ``repeats`` after one
warm-up call, through

* ``hf`` — transformers' ``generate``, one conversation at a time (the reference: the ratios
  are to it);
* ``vllm`` — vLLM's offline engine in this process, every conversation in one call;
* ``openai`` — a vLLM OpenAI-compatible server in a subprocess
  (:func:`~mtforge.synth.generators.serve_vllm`), ``concurrency`` requests at a time.

The model is :func:`~mtforge.synth.tiny_model.build_synth_llm`'s tiny Llama (width 64, 2
layers), taught ``teach_steps`` steps so that its answers end at realistic lengths: *mechanics
only* — what a backend adds around a model that costs almost nothing; a real model's forward
passes dominate and batching (vLLM) matters more. vLLM runs the model in bfloat16 on a CPU
(its default there), transformers in float32.

**Back-translation**: sentences per second and output tokens per second (in each model's own
tokens) of ``BackTranslator.translate`` on the same ``bt_sentences`` English FLORES dev
sentences into German, beam ``beam_size``, batches of ``batch_size``, best of ``repeats``:

* ``hf`` — the random-weight NLLB-style model of
  :func:`~mtforge.synth.tiny_model.build_tiny_nllb` (width 64, 2 + 2 layers): random weights
  emit ``bt_max_new_tokens`` tokens for every sentence;
* ``mtforge`` — a model of the same width and depth trained by the real ``spm`` and ``train``
  stages (:func:`benchmarks.evaluate_speed.train_model`, Multi30k eng→deu, ``bt_max_steps``
  steps), whose outputs have their own lengths.

Output lengths differ between the two, so the tokens/s ratio is the comparable one (the cost of
each decoder step); sentences/s are reported with the mean output length.

Everything in this process runs on ``threads`` torch threads (1 by default: models this small
gain nothing from more, and on a busy machine two threads made transformers' generation 25×
slower than one); vLLM generates on its own serving count (1 unless ``OMP_NUM_THREADS`` is set),
in this process and in the server. Absolute rates are context only: the machine is shared.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks import evaluate_speed
from benchmarks.common import SHARED_DATA, Benchmark, Result, best_seconds, log, machine_info, quiet
from benchmarks.train_throughput import torch_threads
from mtforge.synth.backtranslate import BackTranslator, load_back_translator
from mtforge.synth.generators import Generator, SamplingConfig, load_generator, serve_vllm
from mtforge.synth.prompts import ExamplePool
from mtforge.synth.tiny_model import build_synth_llm, build_tiny_nllb, synth_prompts

NAME = "synth_speed"
DESCRIPTION = "synthetic data: generation tokens/s per LLM backend (vs transformers), back-translation rates"
LANG = "swh_Latn"
REFERENCE = "hf"
BT_SRC, BT_TGT = evaluate_speed.SRC, evaluate_speed.TGT  # the mtforge model's trained direction


@dataclass(frozen=True)
class Settings:
    """Prompts and sampling of the generation runs, sentences and beam of the back-translation runs."""

    prompts: int = 32
    max_tokens: int = 160
    temperature: float = 0.8
    repeats: int = 2
    teach_steps: int = 200
    concurrency: int = 16  # the openai backend's requests in flight
    bt_sentences: int = 256
    beam_size: int = 4
    batch_size: int = 32
    bt_max_new_tokens: int = 48
    bt_max_steps: int = 100  # training steps of the mtforge model
    bt_train_lines: int | None = 10_000  # first lines of Multi30k train it is trained on
    threads: int | None = 1  # torch threads in this process (None: torch's default)


FULL = Settings()
QUICK = Settings(prompts=6, max_tokens=24, repeats=1, teach_steps=10, concurrency=3, bt_sentences=12,
                 bt_max_new_tokens=12, bt_max_steps=4, bt_train_lines=300)


def measure_generators(s: Settings, pool: ExamplePool, work: Path) -> tuple[dict[str, float], dict[str, Any]]:
    """Tokens/s of each generation backend (module docstring) and per-backend notes."""
    log(f"{NAME}: teaching the tiny chat model ({s.teach_steps} steps) …")
    with quiet():
        model = build_synth_llm(work / "tiny-llm", pool, [LANG], steps=s.teach_steps)
    conversations = synth_prompts(pool, LANG, s.prompts, seed=1)
    seeds = list(range(s.prompts))
    sampling = SamplingConfig(temperature=s.temperature, max_tokens=s.max_tokens)
    speeds: dict[str, float] = {}
    notes: dict[str, Any] = {}

    def measure(name: str, generator: Generator) -> None:
        log(f"{NAME}: generating with {generator.name} …")
        answers = []
        with quiet():
            seconds = best_seconds(lambda: answers.append(generator.chat(conversations, sampling, seeds)), s.repeats)
        tokens = sum(a.completion_tokens for a in answers[-1])
        speeds[name] = tokens / seconds
        notes[name] = {"completion_tokens": tokens, "prompt_tokens": sum(a.prompt_tokens for a in answers[-1]),
                       "seconds": seconds}

    for name in (REFERENCE, "vllm"):
        with quiet():  # the libraries' start-up messages
            generator = load_generator(f"{name}:{model}")
        with generator:
            measure(name, generator)
    log(f"{NAME}: starting a vLLM server …")
    with serve_vllm(model, log=work / "vllm-server.log") as url, \
            load_generator(f"openai:{url}#{model.name}", concurrency=s.concurrency) as openai:
        measure("openai", openai)
    return speeds, notes


def mtforge_translator(s: Settings, work: Path) -> tuple[BackTranslator, dict[str, Any]]:
    """The ``mtforge:`` back-translator of a width-64, 2 + 2-layer model trained by the real stages."""
    shape = replace(evaluate_speed.QUICK, max_steps=s.bt_max_steps, train_lines=s.bt_train_lines, vocab_size=1000,
                    encoder_layers=2, decoder_layers=2)
    log(f"{NAME}: training the mtforge back-translator ({s.bt_max_steps} steps) …")
    with quiet():
        train_dir, spm_dir, details = evaluate_speed.train_model(work / "mt", shape)
    return load_back_translator(f"mtforge:{train_dir}", vocab=spm_dir), {"train_seconds": details["train_seconds"]}


def measure_back_translators(s: Settings, pool: ExamplePool, work: Path) -> tuple[dict[str, dict[str, float]], dict]:
    """Sentences/s, output tokens/s and mean output tokens of each back-translator."""
    sentences = pool.require(BT_SRC, s.bt_sentences)[: s.bt_sentences]
    with quiet():
        nllb_dir = build_tiny_nllb(work / "nllb-tiny", [t for lang in (BT_SRC, BT_TGT, LANG) for t in pool.sentences[lang]],
                                   [BT_SRC, BT_TGT, LANG])
    hf = load_back_translator(f"hf:{nllb_dir}")
    mtforge, notes = mtforge_translator(s, work)
    token_counts = {"hf": lambda texts: sum(len(ids) for ids in hf.tokenizer(texts, add_special_tokens=False).input_ids),
                    "mtforge": lambda texts: sum(map(len, mtforge.vocab.encode(texts)))}
    rates: dict[str, dict[str, float]] = {}
    for name, translator in (("hf", hf), ("mtforge", mtforge)):
        log(f"{NAME}: back-translating with {translator.name} …")
        outputs = []
        with quiet():
            seconds = best_seconds(lambda: outputs.append(translator.translate(
                sentences, BT_SRC, BT_TGT, beam_size=s.beam_size, batch_size=s.batch_size,
                max_new_tokens=s.bt_max_new_tokens)), s.repeats)
        tokens = token_counts[name](outputs[-1])
        rates[name] = {"sentences_per_s": len(sentences) / seconds, "tokens_per_s": tokens / seconds,
                       "mean_output_tokens": tokens / len(sentences)}
    return rates, notes


def run(settings: Settings, mode: str = "custom") -> Result:
    """Measure (see the module docstring)."""
    s = settings
    machine = machine_info()
    pool = ExamplePool.from_dir(SHARED_DATA / "flores200" / "dev")
    with tempfile.TemporaryDirectory(prefix="mtforge-bench-synth-") as tmp, torch_threads(s.threads) as threads:
        speeds, generation_notes = measure_generators(s, pool, Path(tmp))
        bt, bt_notes = measure_back_translators(s, pool, Path(tmp))
    reference = speeds[REFERENCE]
    bt_ratio = {key: bt["mtforge"][key] / bt["hf"][key] for key in ("sentences_per_s", "tokens_per_s")}
    metrics: dict[str, Any] = {
        "generation_tokens_per_s": speeds,
        "generation_ratio_to_hf": {name: v / reference for name, v in speeds.items()},
        "back_translation": bt,
        "back_translation_mtforge_over_hf": bt_ratio,
    }
    table = [(f"generate {name} ({s.prompts} prompts, ≤{s.max_tokens} tokens)",
              f"{v:,.0f} tokens/s ({v / reference:.2f}× hf)") for name, v in speeds.items()]
    table += [(f"back-translate {name} (beam {s.beam_size}, {s.bt_sentences} sentences)",
               f"{r['sentences_per_s']:,.1f} sentences/s, {r['tokens_per_s']:,.0f} tokens/s "
               f"({r['mean_output_tokens']:.1f} tokens/sentence)") for name, r in bt.items()]
    table.append(("back-translate mtforge ÷ hf", f"{bt_ratio['tokens_per_s']:.2f}× tokens/s, "
                                                  f"{bt_ratio['sentences_per_s']:.2f}× sentences/s"))
    details = {"generation": generation_notes, "back_translation": bt_notes, "language": LANG, "threads": threads,
               "back_translation_direction": f"{BT_SRC}-{BT_TGT}"}
    return Result(NAME, DESCRIPTION, mode, asdict(s), metrics, table, machine, details)


BENCHMARK = Benchmark(NAME, run, FULL, QUICK)
