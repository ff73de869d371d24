"""``serve_quantize``: what ``mtforge serve --quantize`` (int8 dynamic quantisation of the
linear layers) costs in quality and gains in CPU speed and memory.

The model: ``MTFORGE_BENCH_SERVE_MODEL`` / ``MTFORGE_BENCH_SERVE_VOCAB`` (a train output folder
and its spm folder, e.g. the baseline pipeline's) when set, else one trained first with the
real stages (:func:`benchmarks.evaluate_speed.train_model`, that benchmark's full or quick
shape). The server's own model code runs it (:class:`mtforge.serve.models.ServedModel`):
eng→deu on the first ``sentences`` sentences of Multi30k ``test_2016_flickr``, beam
``beam_size``, ``batch_sentences`` per forward batch, ``threads`` torch threads, once with
float32 modules and once with int8 ones. The sentences are cut into ``rounds`` slices and the
two variants alternate on each slice (float first in even rounds, int8 first in odd ones), so
a change of machine load weighs on both alike; the times are summed.

Reported: sentences/s of each and int8 ÷ float; BLEU and chrF++ of each (sacrebleu, against
the references); how many hypotheses differ; memory of the loaded modules of each.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from benchmarks import evaluate_speed
from benchmarks.common import SHARED_DATA, Benchmark, Result, log, machine_info, quiet
from benchmarks.train_throughput import torch_threads
from mtforge.evaluation.metrics import score_texts
from mtforge.serve.models import ModuleCache, ServedModel, resolve_model

NAME = "serve_quantize"
DESCRIPTION = "int8 dynamic quantisation in the server: CPU sentences/s, BLEU/chrF++ and module memory vs float32"
MODEL_ENV, VOCAB_ENV = "MTFORGE_BENCH_SERVE_MODEL", "MTFORGE_BENCH_SERVE_VOCAB"


@dataclass(frozen=True)
class Settings:
    sentences: int = 500
    rounds: int = 4
    beam_size: int = 4
    batch_sentences: int = 32
    threads: int = 1
    shape: str = "full"  # evaluate_speed's FULL or QUICK model, when no model is given


FULL = Settings()
QUICK = Settings(sentences=40, rounds=2, shape="quick")


def model_files(s: Settings, work: Path) -> tuple[str, str, str]:
    """(train dir, spm dir, where it came from)."""
    if os.environ.get(MODEL_ENV) and os.environ.get(VOCAB_ENV):
        return os.environ[MODEL_ENV], os.environ[VOCAB_ENV], f"${MODEL_ENV}"
    shape = evaluate_speed.FULL if s.shape == "full" else evaluate_speed.QUICK
    log(f"{NAME}: training a model ({shape.max_steps} steps; set {MODEL_ENV}/{VOCAB_ENV} to reuse one) …")
    with quiet():
        train_dir, spm_dir, _ = evaluate_speed.train_model(work / "model", shape)
    return train_dir, spm_dir, f"trained here: evaluate_speed {s.shape} shape"


def run(settings: Settings, mode: str = "custom") -> Result:
    s = settings
    machine = machine_info()
    data = SHARED_DATA / "multi30k"
    sources = (data / "test_2016_flickr.en").read_text(encoding="utf-8").splitlines()[: s.sentences]
    references = (data / "test_2016_flickr.de").read_text(encoding="utf-8").splitlines()[: s.sentences]
    with tempfile.TemporaryDirectory(prefix="mtforge-bench-quantize-") as tmp, torch_threads(s.threads):
        train_dir, spm_dir, origin = model_files(s, Path(tmp))
        files = resolve_model(train_dir, vocab=spm_dir, cache_dir=tmp)
        models = {"float32": ServedModel(files, ModuleCache(2**34)),
                  "int8": ServedModel(files, ModuleCache(2**34, quantize=True))}
        route = models["float32"].route("eng_Latn", "deu_Latn")
        for model in models.values():
            model.load(route)
        seconds = dict.fromkeys(models, 0.0)
        hyps: dict[str, list[str]] = {name: [] for name in models}
        size = -(-len(sources) // s.rounds)
        try:
            for r in range(s.rounds):
                part = sources[r * size:(r + 1) * size]
                order = list(models) if r % 2 == 0 else list(reversed(models))
                for name in order:
                    log(f"{NAME}: round {r + 1}/{s.rounds}, {name} ({len(part)} sentences) …")
                    start = time.perf_counter()
                    out = translate(models[name], route, part, s)
                    seconds[name] += time.perf_counter() - start
                    hyps[name].extend(out)
        finally:
            torch.backends.mha.set_fastpath_enabled(True)  # quantisation switched it off process-wide
        memory = {name: model.cache.used_bytes for name, model in models.items()}
    scores = {name: {m.metric: m.value for m in score_texts(h, references, testset="test_2016_flickr",
                                                            direction="eng_Latn-deu_Latn", metrics=("bleu", "chrf"))}
              for name, h in hyps.items()}
    speed = {name: len(sources) / seconds[name] for name in models}
    differ = sum(a != b for a, b in zip(hyps["float32"], hyps["int8"]))
    metrics: dict[str, Any] = {
        "sentences_per_s": speed, "int8_over_float32": speed["int8"] / speed["float32"],
        "bleu": {n: sc["bleu"] for n, sc in scores.items()}, "chrf": {n: sc["chrf"] for n, sc in scores.items()},
        "module_bytes": memory, "memory_ratio": memory["int8"] / memory["float32"], "hypotheses_differ": differ,
    }
    table = [(f"{name}: {len(sources)} sentences, beam {s.beam_size}, {s.threads} thread(s)",
              f"{speed[name]:.1f} sentences/s; BLEU {scores[name]['bleu']:.2f}, chrF++ {scores[name]['chrf']:.2f}; "
              f"modules {memory[name] / 2**20:.1f} MiB") for name in models]
    table.append(("int8 ÷ float32", f"{metrics['int8_over_float32']:.2f}× sentences/s, "
                                    f"{metrics['memory_ratio']:.2f}× module memory, {differ} of {len(sources)} "
                                    "hypotheses differ"))
    details = {"model": origin, "version": files.version, "seconds": seconds}
    return Result(NAME, DESCRIPTION, mode, asdict(s), metrics, table, machine, details)


def translate(model: ServedModel, route, sentences: list[str], s: Settings) -> list[str]:
    out: list[str] = []
    for start in range(0, len(sentences), s.batch_sentences):
        chunk = sentences[start:start + s.batch_sentences]
        out.extend(model.translate_ids(route, model.encode(route, chunk), beam_size=s.beam_size)[0])
    return out


BENCHMARK = Benchmark(NAME, run, FULL, QUICK)
