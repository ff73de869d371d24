"""``modular_sync``: what modular training communicates, and how it scales, with the real trainer.

Every run is the real distributed trainer — ``python -m torch.distributed.run --standalone
--nproc_per_node N -m mtforge.train JOB.json`` through
:func:`mtforge.train.launcher.run_torchrun`, gloo on CPU — on a
:class:`~mtforge.train.trainer.TrainJob` written here: the first ``train_lines`` lines of
Multi30k ``train`` imported as a corpus of the run's directions, a vocabulary from the ``spm``
stage, a small model, and the plan :func:`~mtforge.train.planning.plan_training` resolves for
the run's architecture preset, directions and process count. No validation; one checkpoint at
the end. The launcher's CPU affinity is limited to N cores, and the trainer gives each of its
N local processes cores ÷ N threads: every process runs on one thread.

(a) **Bytes all-reduced per step versus DDP.** For each of ``presets`` 2 ranks train
``directions`` for ``steps`` steps. ``train_summary.json`` reports ``bytes_all_reduced``: the
gradient bytes each rank put into its per-module all-reduces, *summed over the ranks*; per
step and rank that is ``bytes_all_reduced ÷ (steps × ranks)``. DDP of the same model would
keep the whole model (all P parameters of every module of the plan) on every rank and
all-reduce all of it every step: ``4·P`` bytes per rank per step (fp32 gradients).
**Measured ratio** = the first ÷ the second. The **predicted ratio** comes from the plan
alone (:func:`shared_fraction`): at step t a module m held by h(m) ≥ 2 ranks and used by at
least one of them (:func:`~mtforge.train.sampling.module_users`, the shared task sampler) is
all-reduced by each of its h(m) holders, so::

    predicted = mean over steps t of  Σ_{m synced at t} h(m)·p(m)  ÷  (ranks · P)

with p(m) the parameters of module m (:func:`~mtforge.train.planning.module_inventory`). On 2
ranks h(m) = 2 for every synced module and this is the shared fraction Σ p(m) ÷ P. Both sides
count the same bytes, so they must be equal exactly: ``bytes_match`` compares the integer byte
totals. (This holds for the trainer's default ``sync_counts: sampled``; with ``collective``
every held module is all-reduced every step, with a 4-byte ready flag, and the prediction
does not apply.)

(b) **Tokens/s per process and weak scaling 1 → 2 processes**, one task per process:
``scaling_preset`` with 1 process training ``scaling_directions[0]``, then 2 processes
training both directions (one each), same per-process batch, same model per task. Timing
comes from the trainer's ``metrics.jsonl``: every ``log_every`` steps it logs the target
tokens of all ranks and their rate over rank 0's wall time since the previous log; the first
window (start-up, first allocations) is dropped. Tokens/s per process = window tokens ÷
window seconds ÷ processes; **efficiency** = tokens/s per process with 2 ÷ with 1 (=
tokens/s(2) ÷ (2 × tokens/s(1))). The model FLOPs of those windows are counted exactly with
:func:`benchmarks.train_throughput.step_flops` on every rank's batches, replayed here the way
the trainer draws them (same data, task sampler and
:class:`~mtforge.train.data.BatchStream`; ``replay_matches`` says the replayed target tokens
equal the logged ones in every window). **Utilisation** = model FLOP/s per process ÷ the fp32
matmul FLOP/s of one thread (:func:`benchmarks.train_throughput.matmul_flops`, measured
before and after the runs; the best counts).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import Benchmark, Result, log, machine_info
from benchmarks.train_throughput import corpus_and_vocab, matmul_flops, step_flops, torch_threads
from mtforge.model.transformer import ModelConfig
from mtforge.train.config import TrainConfig
from mtforge.train.data import BatchStream, load_bitexts
from mtforge.train.launcher import run_torchrun
from mtforge.train.plan import Plan
from mtforge.train.planning import model_config, module_inventory, plan_training
from mtforge.train.sampling import module_users, sampled_slot
from mtforge.train.trainer import TrainJob
from mtforge.vocab import Vocab

NAME = "modular_sync"
DESCRIPTION = "modular trainer (torchrun, gloo): all-reduced bytes vs DDP, tokens/s and weak scaling 1 → 2"
#: Bytes of one gradient element (fp32), for the trainer and for DDP alike.
BYTES_PER_PARAMETER = 4
EN_DE, DE_EN = "eng_Latn-deu_Latn", "deu_Latn-eng_Latn"
EN_FR, FR_EN = "eng_Latn-fra_Latn", "fra_Latn-eng_Latn"
DE_FR, FR_DE = "deu_Latn-fra_Latn", "fra_Latn-deu_Latn"


@dataclass(frozen=True)
class Settings:
    """Directions, steps, model and data of one measurement."""

    directions: tuple[str, ...]  # (a): the directions every preset run trains on 2 ranks
    steps: int  # (a): steps of each preset run
    scaling_steps: int  # (b): steps of the 1- and 2-process runs
    log_every: int  # (b): steps per timing window (the first window is not counted)
    presets: tuple[str, ...] = ("independent", "shared", "partial")
    scaling_preset: str = "independent"
    scaling_directions: tuple[str, str] = (EN_DE, DE_EN)
    train_lines: int = 10_000  # first lines of Multi30k train, in every language
    vocab_size: int = 8000
    d_model: int = 256
    n_heads: int = 4
    ffn_dim: int = 1024
    encoder_layers: int = 3
    decoder_layers: int = 3
    batch_tokens: int = 3000  # per process
    matmul_sizes: tuple[int, ...] = (512, 1024)
    matmul_repeats: int = 5
    seed: int = 1

    def __post_init__(self) -> None:
        if self.scaling_steps < 2 * self.log_every:
            raise ValueError(f"scaling_steps ({self.scaling_steps}) must be at least 2 × log_every "
                             f"({self.log_every}): the first window is not timed")


FULL = Settings(directions=(EN_DE, DE_EN, EN_FR, FR_EN, DE_FR, FR_DE), steps=30, scaling_steps=60, log_every=10)
QUICK = Settings(directions=(EN_DE, DE_EN, EN_FR, FR_EN), steps=6, scaling_steps=9, log_every=3,
                 train_lines=2000, vocab_size=1000, d_model=64, n_heads=2, ffn_dim=128, encoder_layers=2,
                 decoder_layers=1, batch_tokens=1000, matmul_sizes=(512,), matmul_repeats=3)


# -- (a) the prediction from the plan ------------------------------------------------------------
def synced_parameters(plan: Plan, parameters: Mapping[str, int], step: int, seed: int) -> int:
    """Parameters all-reduced at ``step``, summed over the ranks that all-reduce them: Σ h(m)·p(m)
    over the modules m held by h(m) ≥ 2 ranks and used at ``step`` by at least one rank (the
    task sampler seeded with ``seed`` decides). ``parameters`` maps every module id to p(m)."""
    users = module_users(plan, step, seed)
    return sum(len(ranks) * parameters[m] for m, ranks in plan.holders().items()
               if len(ranks) >= 2 and users.get(m, 0) >= 1)


def shared_fraction(plan: Plan, parameters: Mapping[str, int], steps: int, seed: int) -> float:
    """Predicted bytes all-reduced ÷ a full-model DDP all-reduce's, over steps 1..``steps``:
    Σ_t :func:`synced_parameters` ÷ (steps · ranks · Σ_m p(m)). 0.0 for a one-rank plan."""
    synced = sum(synced_parameters(plan, parameters, step, seed) for step in range(1, steps + 1))
    return synced / (steps * plan.world_size * sum(parameters.values()))


# -- running the trainer -------------------------------------------------------------------------
@dataclass(frozen=True)
class Training:
    """A finished training run: its job, model shape, the CPUs its processes were pinned to,
    ``train_summary.json`` and the ``metrics.jsonl`` rows."""

    job: TrainJob
    model: ModelConfig
    cpus: list[int]
    summary: dict[str, Any]
    rows: list[dict[str, Any]]


@contextlib.contextmanager
def pinned(cores: int) -> Iterator[list[int]]:
    """Limit this process (and what it starts) to its first ``cores`` usable CPUs; yields them."""
    if not hasattr(os, "sched_setaffinity"):
        yield []
        return
    usable = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, usable[:cores])
    try:
        yield usable[:cores]
    finally:
        os.sched_setaffinity(0, usable)


def train_config(settings: Settings, preset: str, directions: tuple[str, ...], nproc: int, steps: int) -> TrainConfig:
    """The ``train`` config of one run: ``preset`` on ``directions`` with ``nproc`` processes."""
    return TrainConfig(
        directions=",".join(directions), sharing=preset, d_model=settings.d_model, n_heads=settings.n_heads,
        ffn_dim=settings.ffn_dim, encoder_layers=settings.encoder_layers, decoder_layers=settings.decoder_layers,
        max_steps=steps, batch_tokens=settings.batch_tokens, nproc=nproc, log_every=settings.log_every,
        valid_every=0, valid_bleu_sentences=0, checkpoint_every=0, seed=settings.seed)


def train(cfg: TrainConfig, corpus: str, vocab: str, out_dir: Path) -> Training:
    """Resolve the plan of ``cfg``, write the job and run it under torchrun, each process on one core."""
    _, plan = plan_training(cfg, corpus)
    out_dir.mkdir(parents=True)
    job = TrainJob(corpus=corpus, vocab=vocab, out_dir=str(out_dir), valid=None, config=cfg, plan=plan)
    job_file = out_dir / "job.json"
    job_file.write_text(job.model_dump_json())
    with pinned(plan.world_size) as cpus:
        run_torchrun(job_file, plan.procs_per_node, echo=lambda line: None)
    summary = json.loads((out_dir / "train_summary.json").read_text())
    rows = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    return Training(job, model_config(cfg, len(Vocab(vocab))), cpus, summary, rows)


# -- (a) measured against predicted --------------------------------------------------------------
def communication(training: Training) -> dict[str, Any]:
    """Bytes a run all-reduced against a full-model DDP all-reduce, measured and predicted."""
    plan, cfg = training.job.plan, training.job.config
    parameters = {m: info["parameters"] for m, info in module_inventory(plan, training.model).items()}
    total = sum(parameters.values())
    per_step_rank = cfg.max_steps * plan.world_size
    measured = int(training.summary["bytes_all_reduced"])
    predicted = BYTES_PER_PARAMETER * sum(synced_parameters(plan, parameters, step, cfg.seed)
                                          for step in range(1, cfg.max_steps + 1))
    ddp = BYTES_PER_PARAMETER * total
    return {
        "ranks": plan.world_size,
        "steps": cfg.max_steps,
        "directions": [t.name for t in plan.tasks],
        "parameters": total,
        "trainer_parameters": int(training.summary["parameters"]),
        "module_parameters": parameters,
        "holders": plan.holders(),
        "bytes_all_reduced": measured,
        "predicted_bytes_all_reduced": predicted,
        "bytes_match": measured == predicted,
        "bytes_per_step_per_rank": measured / per_step_rank,
        "ddp_bytes_per_step_per_rank": ddp,
        "ratio": measured / per_step_rank / ddp,
        "predicted_ratio": shared_fraction(plan, parameters, cfg.max_steps, cfg.seed),
    }


def without_modules(communicated: dict[str, Any]) -> dict[str, Any]:
    """:func:`communication`'s numbers without its per-module tables (those go to the details)."""
    return {k: v for k, v in communicated.items() if k not in ("module_parameters", "holders")}


# -- (b) throughput from the logged windows and the replayed batches -----------------------------
def replayed_steps(job: TrainJob, model: ModelConfig) -> list[tuple[int, int]]:
    """(model FLOPs, target tokens) of every step 1..max_steps, summed over the ranks, from each
    rank's batches drawn as the trainer draws them (its data, task sampler and batch streams)."""
    plan, cfg = job.plan, job.config
    vocab = Vocab(job.vocab)
    bitexts = load_bitexts(job.corpus, vocab, plan.tasks, cfg.max_tokens_per_sentence)
    totals = [(0, 0)] * cfg.max_steps
    for rank, slots in enumerate(plan.ranks):
        streams = {s.task: BatchStream(bitexts[s.task], vocab.tag_id(plan.task(s.task).tgt_lang), cfg.batch_tokens,
                                       cfg.seed, s.shard, s.num_shards) for s in slots}
        for step in range(1, cfg.max_steps + 1):
            slot = sampled_slot(plan, rank, step, cfg.seed)
            if slot is None:
                continue
            batch = next(streams[slot.task])
            flops, tokens = totals[step - 1]
            totals[step - 1] = (flops + step_flops(model, plan, plan.task(slot.task), batch),
                                tokens + batch.target_tokens)
    return totals


def throughput(training: Training, matmul_peak: float) -> dict[str, Any]:
    """Tokens/s and model FLOP/s per process over the logged windows but the first, and utilisation."""
    steps = replayed_steps(training.job, training.model)
    windows = []
    previous = 0
    for row in (r for r in training.rows if "tgt_tokens" in r):
        flops = sum(f for f, _ in steps[previous : row["step"]])
        replayed = sum(t for _, t in steps[previous : row["step"]])
        windows.append({"steps": row["step"] - previous, "tgt_tokens": row["tgt_tokens"], "replayed_tokens": replayed,
                        "seconds": row["tgt_tokens"] / row["tgt_tokens_per_s"], "flops": flops})
        previous = row["step"]
    timed = windows[1:]
    processes = training.job.plan.world_size
    seconds = sum(w["seconds"] for w in timed)
    flops_per_s = sum(w["flops"] for w in timed) / seconds / processes
    return {
        "processes": processes,
        "cpus": training.cpus,
        "directions": [t.name for t in training.job.plan.tasks],
        "timed_steps": sum(w["steps"] for w in timed),
        "seconds": seconds,
        "tgt_tokens": sum(w["tgt_tokens"] for w in timed),
        "tgt_tokens_per_s_per_process": sum(w["tgt_tokens"] for w in timed) / seconds / processes,
        "model_flops_per_s_per_process": flops_per_s,
        "utilisation": flops_per_s / matmul_peak,
        "replay_matches": all(w["tgt_tokens"] == w["replayed_tokens"] for w in windows),
        "windows": windows,
        "summary_tgt_tokens_per_s_all_ranks": training.summary["tgt_tokens_per_s"],
    }


# -- the benchmark -------------------------------------------------------------------------------
def run(settings: Settings, mode: str = "custom") -> Result:
    """Measure (see the module docstring)."""
    machine = machine_info()
    directions = tuple(dict.fromkeys((*settings.directions, *settings.scaling_directions)))
    with tempfile.TemporaryDirectory(prefix="mtforge-bench-sync-") as tmp:
        work = Path(tmp)
        log(f"{NAME}: corpus of {len(directions)} directions and vocabulary ({settings.vocab_size}) …")
        corpus, vocab = corpus_and_vocab(work, ",".join(directions), settings.train_lines, settings.vocab_size)
        with torch_threads(1):
            before = matmul_flops(settings.matmul_sizes, settings.matmul_repeats)
        bytes_runs = {}
        for preset in settings.presets:
            log(f"{NAME}: {preset}, {len(settings.directions)} directions on 2 ranks, {settings.steps} steps …")
            cfg = train_config(settings, preset, settings.directions, 2, settings.steps)
            bytes_runs[preset] = communication(train(cfg, corpus, vocab, work / preset))
        scaling_runs = {}
        for n in (1, 2):
            log(f"{NAME}: weak scaling, {settings.scaling_preset}, {n} process(es), {settings.scaling_steps} steps …")
            cfg = train_config(settings, settings.scaling_preset, settings.scaling_directions[:n], n,
                               settings.scaling_steps)
            scaling_runs[n] = train(cfg, corpus, vocab, work / f"scaling-{n}")
        with torch_threads(1):
            after = matmul_flops(settings.matmul_sizes, settings.matmul_repeats)
        matmul = {n: max(before[n], after[n]) for n in settings.matmul_sizes}
        peak = max(matmul.values())
        scaling = {n: throughput(r, peak) for n, r in scaling_runs.items()}
        scaling_bytes = communication(scaling_runs[2])
    efficiency = scaling[2]["tgt_tokens_per_s_per_process"] / scaling[1]["tgt_tokens_per_s_per_process"]
    metrics = {
        "bytes": {preset: without_modules(r) for preset, r in bytes_runs.items()},
        "all_bytes_match": all(r["bytes_match"] for r in bytes_runs.values()) and scaling_bytes["bytes_match"],
        "scaling": {str(n): {k: v for k, v in s.items() if k != "windows"} for n, s in scaling.items()},
        "scaling_bytes": without_modules(scaling_bytes),
        "weak_scaling_efficiency": efficiency,
        "matmul_flops_per_s_one_thread": {str(n): rate for n, rate in matmul.items()},
        "matmul_peak_flops_per_s_one_thread": peak,
    }
    details = {
        "model": scaling_runs[1].model.model_dump(),
        "modules": {preset: {"parameters": r["module_parameters"], "holders": r["holders"]}
                    for preset, r in bytes_runs.items()},
        "windows": {str(n): s["windows"] for n, s in scaling.items()},
    }
    return Result(NAME, DESCRIPTION, mode, asdict(settings), metrics, table(bytes_runs, scaling, efficiency, peak),
                  machine, details)


def table(bytes_runs: dict[str, dict[str, Any]], scaling: dict[int, dict[str, Any]], efficiency: float,
          peak: float) -> list[tuple[str, str]]:
    """The result's rows: per preset the byte ratios, then throughput and scaling."""
    rows = []
    for preset, r in bytes_runs.items():
        equal = "equal" if r["bytes_match"] else "DIFFERENT"
        rows += [
            (f"{preset} ({len(r['directions'])} directions, {r['ranks']} ranks): all-reduced ÷ DDP bytes per step",
             f"{r['ratio']:.4f} (plan predicts {r['predicted_ratio']:.4f}: {equal})"),
            (f"{preset}: MB all-reduced per step per rank (DDP)",
             f"{r['bytes_per_step_per_rank'] / 1e6:.2f} ({r['ddp_bytes_per_step_per_rank'] / 1e6:.2f})"),
        ]
    one, two = scaling[1], scaling[2]
    rows += [
        ("fp32 matmul, 1 thread", f"{peak / 1e9:.1f} GFLOP/s"),
        ("target tokens/s per process: 1 process, 2 processes",
         f"{one['tgt_tokens_per_s_per_process']:,.0f}, {two['tgt_tokens_per_s_per_process']:,.0f}"),
        ("weak scaling efficiency 1 → 2 processes", f"{efficiency:.0%}"),
        ("model FLOP/s per process: 1 process, 2 processes",
         f"{one['model_flops_per_s_per_process'] / 1e9:.1f}, {two['model_flops_per_s_per_process'] / 1e9:.1f} GFLOP/s"),
        ("utilisation (model ÷ matmul FLOP/s): 1 process, 2 processes",
         f"{one['utilisation']:.0%}, {two['utilisation']:.0%}"),
    ]
    return rows


BENCHMARK = Benchmark(NAME, run, FULL, QUICK)
