"""The distributed training program (one process per rank; started by torchrun).

Run as ``python -m mtforge.train JOB.json`` under ``torchrun``; the job file names the
training corpus, optional validation corpus, vocabulary, output directory, the
:class:`~mtforge.train.config.TrainConfig` and the resolved :class:`~mtforge.train.plan.Plan`.
Each rank builds only the modules of the tasks the plan allocates to it, takes their initial
weights from each module's lowest holder, samples one of its tasks per step, synchronises
each module's gradients only with that module's holders, and steps one optimizer per module
when the module got a gradient. The lowest holder of each module saves it; rank 0 writes the
frame. Re-running the same job resumes from the last complete checkpoint in the output
directory; a checkpoint of another plan is refused before any step.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from pydantic import BaseModel
from torch.distributed.elastic.multiprocessing.errors import record as record_errors

from mtforge.errors import ConfigError
from mtforge.model.transformer import ModularTransformer
from mtforge.train import checkpoint
from mtforge.train.config import TrainConfig
from mtforge.train.data import Bitext, BatchStream, load_bitexts
from mtforge.train.planning import model_config
from mtforge.train.plan import Plan
from mtforge.train.sampling import module_users, sampled_slot
from mtforge.train.sync import ModuleSync
from mtforge.train.validate import task_loss, validate
from mtforge.vocab import Vocab


class TrainJob(BaseModel):
    """Everything one training run needs; serialised to the JSON file the ranks read."""

    corpus: str | None
    vocab: str
    out_dir: str
    valid: str | None = None
    config: TrainConfig
    plan: Plan


def inverse_sqrt(step: int, warmup: int) -> float:
    """LR multiplier: linear warm-up to 1, then decay ∝ 1/sqrt(step)."""
    step = max(step, 1)
    return min(step / warmup, math.sqrt(warmup / step)) if warmup > 0 else 1.0 / math.sqrt(step)


@dataclass
class Env:
    """The distributed environment torchrun provides (all ranks of all nodes)."""

    rank: int
    world_size: int
    local_world_size: int
    local_rank: int = 0

    @classmethod
    def from_environ(cls) -> "Env":
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0)))

    @property
    def device(self) -> torch.device:
        """This rank's GPU when there is one (NCCL; also made the current device), else the CPU (gloo)."""
        if torch.cuda.is_available():
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")


def log(rank: int, message: str) -> None:
    if rank == 0:
        print(message, flush=True)


@dataclass
class Window:
    """Per-task target tokens and summed loss since the last log line."""

    start: float = field(default_factory=time.perf_counter)
    loss: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)

    def add(self, task: str, loss: float, tokens: int) -> None:
        self.loss[task] = self.loss.get(task, 0.0) + loss
        self.tokens[task] = self.tokens.get(task, 0) + tokens


class RankTrainer:
    """One rank's share of a training run: its modules, optimizers, data streams and sync."""

    def __init__(self, job: TrainJob, env: Env) -> None:
        self.job, self.env, self.cfg, self.plan = job, env, job.config, job.plan
        self.plan.check_world_size(env.world_size)
        self.out = Path(job.out_dir)
        self.ckpt_dir = self.out / "checkpoint"
        self.vocab = Vocab(job.vocab)
        self.model_cfg = model_config(self.cfg, len(self.vocab))
        self.slots = self.plan.ranks[env.rank]
        self.tasks = {s.task: self.plan.task(s.task) for s in self.slots}
        self.held = sorted({m for t in self.tasks.values() for m in t.modules})
        self.holders = self.plan.holders()
        layers = self.plan.module_layers()
        self.device = env.device
        self.model = ModularTransformer(self.model_cfg, {m: layers[m] for m in self.held},
                                        seed=self.cfg.seed).to(self.device)
        self.units = self.model.named_units()
        self.sync = ModuleSync(self.holders, env.rank)
        self.sync.broadcast_from_lowest(self.units)
        self.optimizers = {m: torch.optim.Adam(self.units[m].parameters(), lr=self.cfg.lr, betas=(0.9, 0.98),
                                               eps=1e-9) for m in self.held}
        bitexts = load_bitexts(job.corpus, self.vocab, list(self.tasks.values()), self.cfg.max_tokens_per_sentence)
        for name, data in bitexts.items():
            if not len(data):
                raise ConfigError(f"task {name} has no training data (rank {env.rank})")
        self.streams = {s.task: BatchStream(bitexts[s.task], self.vocab.tag_id(self.tasks[s.task].tgt_lang),
                                            self.cfg.batch_tokens, self.cfg.seed, s.shard, s.num_shards)
                        for s in self.slots}
        self.valid = self._valid_data()

    def _valid_data(self) -> dict[str, Bitext]:
        """Validation pairs of the tasks this rank validates (those it holds shard 0 of)."""
        if not self.job.valid:
            return {}
        tasks = [self.tasks[s.task].model_copy(update={"src_path": None, "tgt_path": None})
                 for s in self.slots if s.shard == 0]
        data = load_bitexts(self.job.valid, self.vocab, tasks, self.cfg.max_tokens_per_sentence)
        return {name: bitext for name, bitext in data.items() if len(bitext)}

    # -- checkpoints -------------------------------------------------------------------
    def resume(self, frame: dict[str, Any] | None) -> int:
        """Load the checkpoint of ``frame`` (the output directory's last complete one), if any;
        the step to continue from."""
        if frame is None:
            return 0
        checkpoint.require_same_plan(frame, self.plan.fingerprint(), self.ckpt_dir)
        if frame["model"] != self.model_cfg.model_dump():
            raise ConfigError(f"checkpoint {self.ckpt_dir} has model {frame['model']}, this run "
                              f"{self.model_cfg.model_dump()}; train into a new output directory")
        for m in self.held:
            checkpoint.load_module(self.ckpt_dir, m, self.units[m], self.optimizers[m])
        rank = frame["ranks"][str(self.env.rank)]
        for name, state in rank["data"].items():
            self.streams[name].restore(state)
        checkpoint.set_rng_state(rank["rng"])
        return int(frame["step"])

    def save(self, step: int) -> None:
        for m in self.held:
            if self.holders[m][0] == self.env.rank:
                checkpoint.save_module(self.ckpt_dir, step, m, self.units[m], self.optimizers[m])
        states = gather({"data": {n: s.state() for n, s in self.streams.items()}, "rng": checkpoint.rng_state()})
        if self.env.rank == 0:
            checkpoint.write_frame(self.ckpt_dir, {
                "step": step, "plan_fingerprint": self.plan.fingerprint(), "plan": self.plan.model_dump(mode="json"),
                "model": self.model_cfg.model_dump(), "train": self.cfg.model_dump(),
                "ranks": {str(r): s for r, s in enumerate(states)}, "vocab": Path(self.job.vocab).name,
            })

    # -- one step ----------------------------------------------------------------------
    def step(self, step: int, window: Window) -> None:
        """Forward/backward of this rank's sampled task, module-wise sync, optimizer steps."""
        cfg = self.cfg
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        slot = sampled_slot(self.plan, self.env.rank, step, cfg.seed)
        used: set[str] = set()
        if slot is not None:
            task = self.tasks[slot.task]
            batch = next(self.streams[slot.task]).to(self.device)
            loss = task_loss(self.model, task, batch, cfg.label_smoothing)
            tokens = batch.target_tokens
            (loss / tokens).backward()
            used = set(task.modules)
            window.add(task.name, float(loss.detach()), tokens)
        users = module_users(self.plan, step, cfg.seed) if cfg.sync_counts == "sampled" else None
        counts = self.sync.all_reduce(self.units, used, users)
        lr = cfg.lr * inverse_sqrt(step, cfg.warmup_steps)
        for m, opt in self.optimizers.items():
            if counts[m] == 0:
                continue  # no holder used it: no gradient, no update (Adam would still move it)
            if cfg.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(self.units[m].parameters(), cfg.clip_norm)
            for group in opt.param_groups:
                group["lr"] = lr
            opt.step()

    def validate(self) -> dict[str, float]:
        """Validation metrics of every task (each computed by one rank), merged on all ranks."""
        mine = {}
        for name, data in self.valid.items():
            for key, value in validate(self.model, self.tasks[name], data, self.vocab, self.cfg.batch_tokens,
                                       self.cfg.valid_bleu_sentences).items():
                mine[f"{key}.{name}"] = value
        return {k: v for part in gather(mine) for k, v in sorted(part.items())}


def window_metrics(window: Window, step: int, lr: float) -> dict[str, Any]:
    """Merge every rank's window into one metrics row (computed on all ranks; rank 0 logs it)."""
    parts = gather((window.loss, window.tokens))
    loss: dict[str, float] = {}
    tokens: dict[str, int] = {}
    for part_loss, part_tokens in parts:
        for k, v in part_loss.items():
            loss[k] = loss.get(k, 0.0) + v
        for k, v in part_tokens.items():
            tokens[k] = tokens.get(k, 0) + v
    total = sum(tokens.values())
    elapsed = max(time.perf_counter() - window.start, 1e-9)
    row: dict[str, Any] = {"step": step, "loss": sum(loss.values()) / max(total, 1), "lr": lr,
                           "tgt_tokens": total, "tgt_tokens_per_s": total / elapsed}
    row.update({f"loss.{k}": loss[k] / max(tokens[k], 1) for k in sorted(loss)})
    return row


def train(job: TrainJob, env: Env) -> dict[str, Any]:
    """Run (or resume) training; rank 0 writes metrics and the summary, all ranks return it."""
    cfg = job.config
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, cores // env.local_world_size))
    torch.manual_seed(cfg.seed * 7919 + env.rank)
    rank = RankTrainer(job, env)
    out = rank.out
    summary_file = out / "train_summary.json"
    frame = checkpoint.read_frame(rank.ckpt_dir)
    if frame is not None and frame["step"] >= cfg.max_steps and summary_file.exists():
        checkpoint.require_same_plan(frame, job.plan.fingerprint(), rank.ckpt_dir)
        log(env.rank, f"already trained to step {frame['step']} ({rank.ckpt_dir}); nothing to do")
        return json.loads(summary_file.read_text())
    start_step = rank.resume(frame)
    if start_step:
        log(env.rank, f"resuming from step {start_step} ({rank.ckpt_dir})")
    metrics_file = out / "metrics.jsonl"
    params = int(all_sum(sum(p.numel() for m, u in rank.units.items() for p in u.parameters()
                             if rank.holders[m][0] == env.rank)))
    log(env.rank, f"training {len(job.plan.tasks)} task(s) on {env.world_size} rank(s); "
                  f"{params / 1e6:.1f}M parameters in {len(rank.holders)} modules; steps {start_step}→{cfg.max_steps}")

    rank.model.train()
    t0 = time.perf_counter()
    window, total_tokens, loss_value = Window(), 0, float("nan")
    for step in range(start_step + 1, cfg.max_steps + 1):
        rank.step(step, window)
        if step % cfg.log_every == 0 or step == cfg.max_steps:
            row = window_metrics(window, step, cfg.lr * inverse_sqrt(step, cfg.warmup_steps))
            total_tokens += row["tgt_tokens"]
            loss_value = row["loss"]
            if env.rank == 0:
                record(metrics_file, row)
                eta = (cfg.max_steps - step) * (time.perf_counter() - t0) / max(step - start_step, 1)
                log(0, f"step {step}/{cfg.max_steps} loss {row['loss']:.3f} lr {row['lr']:.2e} "
                       f"{row['tgt_tokens_per_s']:,.0f} tgt tok/s eta {eta / 60:.1f} min")
            window = Window()
        if cfg.valid_every and step % cfg.valid_every == 0 and step < cfg.max_steps:
            report_validation(rank, step, metrics_file)
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            rank.save(step)
    final_valid = report_validation(rank, cfg.max_steps, metrics_file)
    rank.save(cfg.max_steps)
    wall = time.perf_counter() - t0
    summary = {"steps": cfg.max_steps, "resumed_from": start_step, "parameters": params, "final_loss": loss_value,
               "wall_seconds": wall, "tgt_tokens": total_tokens, "tgt_tokens_per_s": total_tokens / max(wall, 1e-9),
               "bytes_all_reduced": all_sum(rank.sync.bytes_reduced), **final_valid}
    if env.rank == 0:
        summary_file.write_text(json.dumps(summary, indent=2))
    return summary


def report_validation(rank: RankTrainer, step: int, metrics_file: Path) -> dict[str, float]:
    merged = rank.validate()
    if merged and rank.env.rank == 0:
        record(metrics_file, {"step": step, **merged})
        losses = {k.split(".", 1)[1]: v for k, v in merged.items() if k.startswith("valid_loss.")}
        log(0, f"step {step}: valid loss " + ", ".join(f"{k} {v:.3f}" for k, v in losses.items()))
    return merged


def record(path: Path, row: dict[str, Any]) -> None:
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")


def gather(obj: Any) -> list[Any]:
    """All ranks' ``obj`` (just ``[obj]`` without a process group)."""
    if not dist.is_initialized():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def all_sum(value: float) -> float:
    """Sum of ``value`` over all ranks (on the GPU when NCCL is the backend)."""
    if not dist.is_initialized():
        return value
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item())


@record_errors
def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mtforge.train JOB.json   (normally started by torchrun)", file=sys.stderr)
        return 2
    job = TrainJob.model_validate_json(Path(args[0]).read_text())
    env = Env.from_environ()
    # One rank needs no process group; without one no rendezvous store threads outlive training
    # (a 1-rank gloo group sometimes aborted the process at exit: "terminate called without an
    # active exception").
    if "MASTER_ADDR" in os.environ and env.world_size > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo", init_method="env://")
    try:
        train(job, env)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0
