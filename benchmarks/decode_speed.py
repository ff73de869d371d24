"""``decode_speed``: beam search with incremental decoding (cached keys and values,
:class:`mtforge.model.incremental.DecoderState`) against full-prefix decoding
(:class:`~mtforge.model.incremental.FullPrefixState`, what beam search did before), same model,
same sentences, same batches, side by side.

The model is the one ``serve_quantize`` uses (``MTFORGE_BENCH_SERVE_MODEL`` /
``MTFORGE_BENCH_SERVE_VOCAB``, else trained first). eng→deu on the first ``sentences``
sentences of Multi30k ``test_2016_flickr``, beam ``beam_size``, ``threads`` torch threads, for
each batch size in ``batch_sizes``: the sentences are cut into ``rounds`` slices and the two
decoders alternate on each (full-prefix first in even rounds), their times summed.

Reported per batch size: sentences/s of each, incremental ÷ full-prefix, and how many
hypotheses differ (expected: none — the two compute the same logits up to rounding).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import SHARED_DATA, Benchmark, Result, log, machine_info
from benchmarks.serve_quantize import model_files
from benchmarks.train_throughput import torch_threads
from mtforge.model.beam import beam_search
from mtforge.model.incremental import DecoderState, FullPrefixState
from mtforge.model.transformer import ModularTransformer
from mtforge.serve.models import ModuleCache, ServedModel, resolve_model
from mtforge.train.data import pad

NAME = "decode_speed"
DESCRIPTION = "beam search: incremental decoding (cached keys/values) vs full-prefix decoding, same model and batches"
DECODERS = {"full-prefix": FullPrefixState, "incremental": DecoderState}


@dataclass(frozen=True)
class Settings:
    sentences: int = 256
    batch_sizes: tuple[int, ...] = (1, 8, 32)
    rounds: int = 4
    beam_size: int = 4
    threads: int = 1
    shape: str = "full"  # the trained model's shape when none is given (see serve_quantize)


FULL = Settings()
QUICK = Settings(sentences=16, batch_sizes=(1, 8), rounds=2, shape="quick")


def run(settings: Settings, mode: str = "custom") -> Result:
    s = settings
    machine = machine_info()
    sources = (SHARED_DATA / "multi30k" / "test_2016_flickr.en").read_text(encoding="utf-8").splitlines()[:s.sentences]
    with tempfile.TemporaryDirectory(prefix="mtforge-bench-decode-") as tmp, torch_threads(s.threads):
        train_dir, spm_dir, origin = model_files(s, Path(tmp))
        files = resolve_model(train_dir, vocab=spm_dir, cache_dir=tmp)
        served = ServedModel(files, ModuleCache(2**34))
        route = served.route("eng_Latn", "deu_Latn")
        model = ModularTransformer.from_units(
            served.cfg, served.cache.units(files, served.cfg, served.plan.module_layers(), route.task.modules))
        ids, tag = served.encode(route, sources), served.vocab.tag_id("deu_Latn")
        speed: dict[int, dict[str, float]] = {}
        differ: dict[int, int] = {}
        size = -(-len(ids) // s.rounds)
        for batch in s.batch_sizes:
            seconds = dict.fromkeys(DECODERS, 0.0)
            hyps: dict[str, list[list[int]]] = {name: [] for name in DECODERS}
            for r in range(s.rounds):
                part = ids[r * size:(r + 1) * size]
                for name in list(DECODERS) if r % 2 == 0 else list(reversed(DECODERS)):
                    log(f"{NAME}: batch {batch}, round {r + 1}/{s.rounds}, {name} …")
                    start = time.perf_counter()
                    for i in range(0, len(part), batch):
                        hyps[name].extend(beam_search(model, route.task, pad(part[i:i + batch]), tag,
                                                      beam_size=s.beam_size, decoder=DECODERS[name]))
                    seconds[name] += time.perf_counter() - start
            speed[batch] = {name: len(ids) / seconds[name] for name in DECODERS}
            differ[batch] = sum(a != b for a, b in zip(hyps["full-prefix"], hyps["incremental"]))
    ratio = {b: v["incremental"] / v["full-prefix"] for b, v in speed.items()}
    metrics: dict[str, Any] = {"sentences_per_s": speed, "incremental_over_full_prefix": ratio,
                               "hypotheses_differ": differ}
    table = [(f"batch {b}: sentences/s full-prefix / incremental (beam {s.beam_size}, {s.threads} thread(s))",
              f"{v['full-prefix']:.1f} / {v['incremental']:.1f} = {ratio[b]:.2f}×; "
              f"{differ[b]} of {len(ids)} hypotheses differ") for b, v in speed.items()]
    details = {"model": origin, "version": files.version}
    return Result(NAME, DESCRIPTION, mode, asdict(s), metrics, table, machine, details)


BENCHMARK = Benchmark(NAME, run, FULL, QUICK)
