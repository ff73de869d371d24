"""``train_throughput``: the trainer's speed on real batches against the machine's matmul speed.

(a) **Matmul FLOP/s**: square fp32 ``n × n`` matmuls (2n³ FLOPs each), the best of
``matmul_repeats`` timings for each ``n``, with torch's default number of threads. Measured
before and after training; the best of all is the machine's *peak*.

(b) **Training**: the model of the ``full`` architecture preset (one encoder stack, one decoder
stack, shared embeddings, target-language prefix) on Multi30k eng→deu ``train`` with the
:class:`mtforge.train.config.TrainConfig` defaults (d_model 256, 4 heads, ffn 1024, 3 + 3
layers, dropout 0.1) and a ``vocab_size`` SentencePiece vocabulary trained by the ``spm``
stage. The plan comes from :func:`~mtforge.train.planning.plan_training` on one rank, the
model is built from ``plan.module_layers()``, and batches come from the trainer's own
:class:`~mtforge.train.data.BatchStream` over :func:`~mtforge.train.data.load_bitexts`. Each
step is the trainer's step for one task: :func:`~mtforge.train.validate.task_loss`, backward
of the per-token loss, clipping and Adam per module with the inverse-sqrt learning rate.
``warmup_steps`` untimed steps come first; ``steps`` timed steps follow.

Both parts run on ``threads`` torch threads: by default torch's default, which is what the
trainer uses with one process per node. (On a machine that other work keeps busy, two or more
threads can be many times slower than one on this model's small matmuls: compare with
``threads=1``.) Reported: target (label) tokens per second — the trainer's
``tgt_tokens_per_s`` — and model FLOP/s; **utilisation** = model FLOP/s ÷ peak matmul FLOP/s.

Model FLOPs of a step are counted exactly from the padded batch shape — B sentences, S source
and T target positions (padding is computed, so it counts) — with d = d_model, f = ffn_dim,
V = vocabulary size, Le/Ld the layers of all the task's encoder/decoder stacks together
(:func:`step_flops`)::

    encoder layer   2·B·S·(4d² + 2df)                    Q/K/V/out projections, feed-forward
                  + 4·B·S²·d                             self-attention scores and values
    decoder layer   2·B·T·(4d² + 2d² + 2df) + 2·B·S·2d²  self- and cross-attention projections
                                                         (cross K/V over the S memory positions), FFN
                  + 4·B·T²·d + 4·B·T·S·d                 self- and cross-attention scores and values
    output          2·B·T·d·V                            projection tied to the embeddings
    step          = 3 × (Le·encoder + Ld·decoder + output)   forward + backward (2× forward)

i.e. 6 FLOPs per weight touched per token, plus attention. Embedding look-ups, norms,
softmax and the optimizer are left out (they are not matmuls). The first warm-up step runs
under :class:`torch.utils.flop_counter.FlopCounterMode`; ``flop_formula_check`` = counted ÷
formula for that step (1.0 when the formula is exact for this torch). The counter sees the
attention matmuls because training uses dropout: without dropout, CPU attention runs a fused
kernel (``_scaled_dot_product_flash_attention_for_cpu``) that it does not count.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import Benchmark, Result, best_seconds, log, machine_info, multi30k_slice, stopwatch
from mtforge.corpus import import_corpus
from mtforge.model.transformer import ModelConfig, ModularTransformer
from mtforge.stage import run_stage
from mtforge.stages.spm import MODEL_FILE
from mtforge.train.config import TrainConfig
from mtforge.train.data import Batch, BatchStream, load_bitexts
from mtforge.train.plan import Plan, TaskPlan
from mtforge.train.planning import model_config, plan_training
from mtforge.train.trainer import inverse_sqrt
from mtforge.train.validate import task_loss
from mtforge.vocab import Vocab

NAME = "train_throughput"
DESCRIPTION = "trainer tokens/s and model FLOP/s on Multi30k vs fp32 matmul FLOP/s"
#: Multi30k's languages, as its file suffixes.
MULTI30K_LANGS = ("en", "de", "fr", "cs")


@dataclass(frozen=True)
class Settings:
    """Steps, batch size, vocabulary and matmul sizes of one measurement."""

    steps: int  # timed training steps
    warmup_steps: int = 2  # untimed steps before them (the first is FLOP-counted); at least 1
    batch_tokens: int = TrainConfig.model_fields["batch_tokens"].default
    vocab_size: int = 8000  # the baseline pipeline's default
    train_lines: int | None = None  # first lines of Multi30k train used (None: all 29,000)
    matmul_sizes: tuple[int, ...] = (1024, 2048)
    matmul_repeats: int = 10
    threads: int | None = None  # torch threads for matmuls and training (None: torch's default)


FULL = Settings(steps=20)
QUICK = Settings(steps=3, warmup_steps=1, matmul_repeats=3)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Run with ``threads`` torch threads (``None``: leave the number as it is); yields the number."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


def matmul_flops(sizes: tuple[int, ...], repeats: int) -> dict[int, float]:
    """Best fp32 FLOP/s of an ``n × n`` by ``n × n`` matmul, for each ``n``."""
    out = {}
    for n in sizes:
        a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
        out[n] = 2 * n**3 / best_seconds(lambda: torch.mm(a, b, out=c), repeats)
    return out


def step_flops(cfg: ModelConfig, plan: Plan, task: TaskPlan, batch: Batch) -> int:
    """Matmul FLOPs of one forward + backward pass of ``task`` over ``batch`` (the formula in the
    module docstring); Le and Ld are the layers of the task's stacks in ``plan``, summed."""
    layers = plan.module_layers()
    encoder_layers = sum(layers[m] for m in task.encoder)
    decoder_layers = sum(layers[m] for m in task.decoder)
    b, s = batch.src.shape
    t = batch.prefix.size(1)
    d, f, v = cfg.d_model, cfg.ffn_dim, cfg.vocab_size
    encoder = 2 * b * s * (4 * d * d + 2 * d * f) + 4 * b * s * s * d
    decoder = (2 * b * t * (4 * d * d + 2 * d * d + 2 * d * f) + 2 * b * s * 2 * d * d
               + 4 * b * t * t * d + 4 * b * t * s * d)
    output = 2 * b * t * d * v
    return 3 * (encoder_layers * encoder + decoder_layers * decoder + output)


class Stepper:
    """The trainer's optimisation step for one task on one process (no gradient sync to do)."""

    def __init__(self, model: ModularTransformer, task: TaskPlan, cfg: TrainConfig) -> None:
        self.model, self.task, self.cfg = model, task, cfg
        self.units = {m: model.named_units()[m] for m in task.modules}
        self.optimizers = {m: torch.optim.Adam(unit.parameters(), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-9)
                           for m, unit in self.units.items()}
        self.step_number = 0

    def step(self, batch: Batch) -> None:
        """One optimizer step on ``batch``."""
        self.step_number += 1
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        loss = task_loss(self.model, self.task, batch, self.cfg.label_smoothing)
        (loss / batch.target_tokens).backward()
        lr = self.cfg.lr * inverse_sqrt(self.step_number, self.cfg.warmup_steps)
        for m, opt in self.optimizers.items():
            if self.cfg.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(self.units[m].parameters(), self.cfg.clip_norm)
            for group in opt.param_groups:
                group["lr"] = lr
            opt.step()


def corpus_and_vocab(work: Path, directions: str, train_lines: int | None, vocab_size: int) -> tuple[str, str]:
    """The first ``train_lines`` lines of Multi30k ``train`` → a corpus of ``directions`` (e.g.
    ``"eng_Latn-deu_Latn,deu_Latn-eng_Latn"``) under ``work`` → the ``spm`` stage; returns the
    corpus path and the SentencePiece model file."""
    data = multi30k_slice(work / "multi30k", {"train": train_lines}, MULTI30K_LANGS)
    corpus = import_corpus(str(data), work / "corpus", directions=directions, split="train")
    run_stage("spm", {"vocab_size": vocab_size}, out_dir=str(work / "spm"), corpus=str(corpus.path))
    return str(corpus.path), str(work / "spm" / MODEL_FILE)


def batch_stream(work: Path, settings: Settings, cfg: TrainConfig) -> tuple[BatchStream, Plan, int]:
    """Multi30k ``train`` → corpus → ``spm`` stage → the plan of ``cfg`` → the trainer's batches
    of its (one) task; (stream, plan, vocabulary size)."""
    corpus, vocab_file = corpus_and_vocab(work, cfg.directions, settings.train_lines, settings.vocab_size)
    vocab = Vocab(vocab_file)
    _, plan = plan_training(cfg, corpus)
    task = plan.tasks[0]
    bitext = load_bitexts(corpus, vocab, [task], cfg.max_tokens_per_sentence)[task.name]
    return BatchStream(bitext, vocab.tag_id(task.tgt_lang), settings.batch_tokens, cfg.seed), plan, len(vocab)


def run(settings: Settings, mode: str = "custom") -> Result:
    """Measure (see the module docstring)."""
    machine = machine_info()
    with torch_threads(settings.threads) as threads:
        metrics, table, details = measure(settings)
    metrics["threads"] = threads
    return Result(NAME, DESCRIPTION, mode, asdict(settings), metrics, table, machine, details)


def measure(settings: Settings) -> tuple[dict[str, Any], list[tuple[str, str]], dict[str, Any]]:
    """Matmuls, training, matmuls again; (metrics, table, details) of :class:`Result`."""
    cfg = TrainConfig(batch_tokens=settings.batch_tokens, sharing="full", directions="eng_Latn-deu_Latn", nproc=1)
    log(f"{NAME}: matmuls {settings.matmul_sizes} on {torch.get_num_threads()} thread(s) …")
    before = matmul_flops(settings.matmul_sizes, settings.matmul_repeats)
    with tempfile.TemporaryDirectory(prefix="mtforge-bench-train-") as tmp:
        log(f"{NAME}: vocabulary ({settings.vocab_size}) and batches …")
        stream, plan, vocab_size = batch_stream(Path(tmp), settings, cfg)
    task = plan.tasks[0]
    model_cfg = model_config(cfg, vocab_size)
    torch.manual_seed(cfg.seed)
    model = ModularTransformer(model_cfg, plan.module_layers(), seed=cfg.seed)
    model.train()
    stepper = Stepper(model, task, cfg)

    log(f"{NAME}: {settings.warmup_steps} warm-up + {settings.steps} timed steps …")
    first = next(stream)
    with FlopCounterMode(display=False) as counter:
        stepper.step(first)
    flop_check = counter.get_total_flops() / step_flops(model_cfg, plan, task, first)
    for _ in range(settings.warmup_steps - 1):
        stepper.step(next(stream))
    seconds, tokens, flops = 0.0, 0, 0
    for _ in range(settings.steps):
        batch = next(stream)
        with stopwatch() as elapsed:
            stepper.step(batch)
        seconds += elapsed[0]
        tokens += batch.target_tokens
        flops += step_flops(model_cfg, plan, task, batch)
    after = matmul_flops(settings.matmul_sizes, settings.matmul_repeats)

    matmul = {n: max(before[n], after[n]) for n in settings.matmul_sizes}
    peak = max(matmul.values())
    model_rate = flops / seconds
    metrics = {
        "matmul_flops_per_s": {str(n): rate for n, rate in matmul.items()},
        "matmul_flops_per_s_before": {str(n): rate for n, rate in before.items()},
        "matmul_flops_per_s_after": {str(n): rate for n, rate in after.items()},
        "matmul_peak_flops_per_s": peak,
        "tgt_tokens_per_s": tokens / seconds,
        "model_flops_per_s": model_rate,
        "utilisation": model_rate / peak,
        "steps": settings.steps,
        "seconds": seconds,
        "tgt_tokens": tokens,
        "flops_per_step": flops / settings.steps,
        "flop_formula_check": flop_check,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    table = [
        *((f"fp32 matmul n={n}", f"{rate / 1e9:.1f} GFLOP/s") for n, rate in matmul.items()),
        (f"training target tokens/s ({settings.steps} steps)", f"{tokens / seconds:,.0f}"),
        ("model FLOPs per step", f"{flops / settings.steps / 1e9:.1f} GFLOP"),
        ("model FLOP/s", f"{model_rate / 1e9:.1f} GFLOP/s"),
        ("utilisation (model ÷ peak matmul FLOP/s)", f"{model_rate / peak:.0%}"),
    ]
    details = {"model": model_cfg.model_dump(), "train": cfg.model_dump(), "modules": plan.module_layers(),
               "task": task.model_dump()}
    return metrics, table, details


BENCHMARK = Benchmark(NAME, run, FULL, QUICK)
