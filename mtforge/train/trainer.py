"""The distributed training program (one process per rank; started by torchrun).

Run as ``python -m mtforge.train JOB.json`` under ``torchrun``; the job file names the
training corpus, optional validation corpus, vocabulary, output directory and the
:class:`~mtforge.train.config.TrainConfig`. Each rank trains the tasks the plan allocates to
it, synchronises each module's gradients only with that module's holders, steps one
optimizer per module, and the holders save per-module checkpoints. Re-running the same job
resumes from the last complete checkpoint in the output directory.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from pydantic import BaseModel
from torch.distributed.elastic.multiprocessing.errors import record as record_errors

from mtforge.langcodes import parse_directions
from mtforge.model.transformer import PAD_ID, ModelConfig, ModularTransformer
from mtforge.train import checkpoint
from mtforge.train.config import TrainConfig
from mtforge.train.data import Batch, BatchStream, load_bitexts, make_batch
from mtforge.train.sync import ModuleSync
from mtforge.train.tasks import Task, allocate, make_tasks, module_holders
from mtforge.vocab import Vocab


class TrainJob(BaseModel):
    """Everything one training run needs; serialised to the JSON file the ranks read."""

    corpus: str
    vocab: str
    out_dir: str
    valid: str | None = None
    config: TrainConfig


def model_config(cfg: TrainConfig, vocab_size: int) -> ModelConfig:
    return ModelConfig(vocab_size=vocab_size, d_model=cfg.d_model, n_heads=cfg.n_heads, ffn_dim=cfg.ffn_dim,
                       encoder_layers=cfg.encoder_layers, decoder_layers=cfg.decoder_layers, dropout=cfg.dropout)


def build_model(cfg: ModelConfig, tasks: list[Task]) -> ModularTransformer:
    return ModularTransformer(cfg, sorted({t.encoder for t in tasks}), sorted({t.decoder for t in tasks}))


def inverse_sqrt(step: int, warmup: int) -> float:
    """LR multiplier: linear warm-up to 1, then decay ∝ 1/sqrt(step)."""
    step = max(step, 1)
    return min(step / warmup, math.sqrt(warmup / step)) if warmup > 0 else 1.0 / math.sqrt(step)


def task_loss(model: ModularTransformer, task: Task, batch: Batch, smoothing: float) -> torch.Tensor:
    """Summed token cross-entropy of one batch."""
    logits = model(task.encoder, task.decoder, batch.src, batch.prefix)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), batch.labels.reshape(-1),
                           ignore_index=PAD_ID, label_smoothing=smoothing, reduction="sum")


@torch.no_grad()
def validation_loss(model: ModularTransformer, task: Task, data, tag_id: int, batch_tokens: int) -> float:
    """Per-token cross-entropy (no smoothing) over a whole validation bitext."""
    model.eval()
    total, tokens = 0.0, 0
    order = sorted(range(len(data)), key=lambda i: len(data.src[i]) + len(data.tgt[i]))
    step = max(1, batch_tokens // 64)
    for start in range(0, len(order), step):
        ids = order[start : start + step]
        batch = make_batch([data.src[i] for i in ids], [data.tgt[i] for i in ids], tag_id).to(device_of(model))
        total += float(task_loss(model, task, batch, 0.0))
        tokens += batch.target_tokens
    model.train()
    return total / max(tokens, 1)


def device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


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


def train(job: TrainJob, env: Env) -> dict[str, Any]:
    """Run (or resume) training; rank 0 returns and writes the summary."""
    cfg = job.config
    out = Path(job.out_dir)
    ckpt_dir = out / "checkpoint"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, cores // env.local_world_size))

    vocab = Vocab(job.vocab)
    tasks = make_tasks(parse_directions(cfg.directions), cfg.sharing)
    plan = allocate(tasks, env.world_size)
    holders = module_holders(plan)
    mine = plan[env.rank]
    held = sorted({m for a in mine for m in a.task.modules})

    device = env.device
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = build_model(model_config(cfg, len(vocab)), tasks).to(device)
    units = model.named_units()
    optimizers = {m: torch.optim.Adam(units[m].parameters(), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-9) for m in held}
    sync = ModuleSync(holders, env.rank)

    bitexts = load_bitexts(job.corpus, vocab, [a.task for a in mine], cfg.max_tokens_per_sentence)
    streams = {a.task.name: BatchStream(bitexts[a.task.name], vocab.tag_id(a.task.tgt_lang), cfg.batch_tokens,
                                        cfg.seed, a.shard, a.num_shards) for a in mine}
    valid = (load_bitexts(job.valid, vocab, [a.task for a in mine if a.shard == 0], cfg.max_tokens_per_sentence)
             if job.valid else {})

    start_step = 0
    frame = checkpoint.read_frame(ckpt_dir)
    summary_file = out / "train_summary.json"
    if frame is not None and frame["step"] >= cfg.max_steps and summary_file.exists():
        # A finished run started again (e.g. a retried task): keep its results as they are.
        log(env.rank, f"already trained to step {frame['step']} ({ckpt_dir}); nothing to do")
        return json.loads(summary_file.read_text())
    if frame is not None:
        for m in held:
            checkpoint.load_module(ckpt_dir, m, units[m], optimizers[m])
        for name, state in frame["data_state"][str(env.rank)].items():
            streams[name].restore(state)
        start_step = frame["step"]
        log(env.rank, f"resuming from step {start_step} ({ckpt_dir})")
    torch.manual_seed(cfg.seed * 7919 + env.rank + start_step)

    metrics_file = out / "metrics.jsonl"
    params = sum(p.numel() for p in model.parameters())
    log(env.rank, f"training {len(tasks)} task(s) on {env.world_size} rank(s); {params / 1e6:.1f}M parameters; "
                  f"steps {start_step}→{cfg.max_steps}")

    def save(step: int) -> None:
        for m in held:
            if holders[m][0] == env.rank:
                checkpoint.save_module(ckpt_dir, m, units[m], optimizers[m])
        states = gather({n: s.state() for n, s in streams.items()})
        if env.rank == 0:
            checkpoint.write_frame(ckpt_dir, {
                "step": step, "model": model_config(cfg, len(vocab)).model_dump(), "train": cfg.model_dump(),
                "tasks": [t.__dict__ for t in tasks], "modules": sorted(holders),
                "data_state": {str(r): s for r, s in enumerate(states)}, "vocab": Path(job.vocab).name,
            })

    def validate(step: int) -> dict[str, float]:
        losses = {a.task.name: validation_loss(model, a.task, valid[a.task.name], vocab.tag_id(a.task.tgt_lang),
                                               cfg.batch_tokens) for a in mine if a.task.name in valid}
        merged = {k: v for part in gather(losses) for k, v in part.items()}
        if merged and env.rank == 0:
            record(metrics_file, {"step": step, **{f"valid_loss.{k}": v for k, v in merged.items()}})
            log(env.rank, f"step {step}: valid loss " + ", ".join(f"{k} {v:.3f}" for k, v in merged.items()))
        return merged

    model.train()
    t0 = time.perf_counter()
    window_tokens, window_loss, window_start = 0, 0.0, time.perf_counter()
    total_tokens = 0
    loss_value = float("nan")
    for step in range(start_step + 1, cfg.max_steps + 1):
        for opt in optimizers.values():
            opt.zero_grad(set_to_none=True)
        step_tokens, step_loss = 0, 0.0
        for a in mine:
            batch = next(streams[a.task.name]).to(device)
            loss = task_loss(model, a.task, batch, cfg.label_smoothing)
            n = batch.target_tokens
            (loss / n).backward()
            step_tokens += n
            step_loss += float(loss.detach())
        sync.all_reduce(units, set(held))
        scale = inverse_sqrt(step, cfg.warmup_steps)
        for m, opt in optimizers.items():
            if cfg.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(units[m].parameters(), cfg.clip_norm)
            for group in opt.param_groups:
                group["lr"] = cfg.lr * scale
            opt.step()
        window_tokens += step_tokens
        window_loss += step_loss
        total_tokens += step_tokens
        if step % cfg.log_every == 0 or step == cfg.max_steps:
            elapsed = time.perf_counter() - window_start
            tokens = all_sum(window_tokens)
            loss_value = all_sum(window_loss) / max(tokens, 1)
            rate = tokens / max(elapsed, 1e-9)
            if env.rank == 0:
                record(metrics_file, {"step": step, "loss": loss_value, "lr": cfg.lr * scale, "tgt_tokens_per_s": rate})
                eta = (cfg.max_steps - step) * (time.perf_counter() - t0) / max(step - start_step, 1)
                log(0, f"step {step}/{cfg.max_steps} loss {loss_value:.3f} lr {cfg.lr * scale:.2e} "
                       f"{rate:,.0f} tgt tok/s eta {eta / 60:.1f} min")
            window_tokens, window_loss, window_start = 0, 0.0, time.perf_counter()
        if cfg.valid_every and step % cfg.valid_every == 0 and step < cfg.max_steps:
            validate(step)
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            save(step)
    final_valid = validate(cfg.max_steps)
    save(cfg.max_steps)
    wall = time.perf_counter() - t0
    summary = {
        "steps": cfg.max_steps, "resumed_from": start_step, "parameters": params, "final_loss": loss_value,
        "wall_seconds": wall, "tgt_tokens": all_sum(total_tokens),
        **{f"valid_loss.{k}": v for k, v in final_valid.items()},
    }
    summary["tgt_tokens_per_s"] = summary["tgt_tokens"] / max(wall, 1e-9)
    if env.rank == 0:
        summary_file.write_text(json.dumps(summary, indent=2))
    return summary


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
    if "MASTER_ADDR" in os.environ:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo", init_method="env://")
    try:
        train(job, env)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0
