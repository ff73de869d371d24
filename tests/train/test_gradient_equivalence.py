"""The correctness test of modular training: with 4 gloo processes on CPU, the synchronized
gradient of every module equals (to float tolerance) the gradient one process computes over
the same batches.

The plan is the "partially shared" preset over the 12 Multi30k directions among
eng/deu/fra/ces on 4 ranks (3 tasks each), so modules are held by 1, 2, 3 or 4 ranks and
the number of ranks that use a module changes from step to step. Each rank runs the real
:class:`~mtforge.train.trainer.RankTrainer` (learning rate 0, so the weights stay at their
initial values and each step's gradients can be compared on the same weights), once with
user counts from the shared sampler and once with the ready-flag collective.

The reference, in this process, builds *every* module with the same seed, replays each
rank's batch stream, backpropagates each rank's sampled task separately and averages each
module's gradient over the ranks whose task used it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from mtforge.model.transformer import ModularTransformer
from mtforge.train.config import TrainConfig
from mtforge.train.data import BatchStream, load_bitexts
from mtforge.train.plan import Plan
from mtforge.train.planning import model_config, plan_training
from mtforge.train.sampling import sampled_slot
from mtforge.train.trainer import Env, RankTrainer, TrainJob, Window
from mtforge.train.validate import task_loss
from mtforge.vocab import Vocab, train_vocab
from tests.train.test_planning import write_multi30k
from tests.train.test_sync import run_ranks

WORLD = 4
STEPS = range(1, 5)
LANGS = ["en", "de", "fr", "cs"]
DIRECTIONS = [f"{a}-{b}" for a in LANGS for b in LANGS if a != b]
CONFIG = dict(directions=",".join(DIRECTIONS), sharing="partial", encoder_layers=2, decoder_layers=1, d_model=32,
              n_heads=2, ffn_dim=64, dropout=0.0, lr=0.0, clip_norm=0.0, batch_tokens=300,
              max_tokens_per_sentence=32, nproc=WORLD, seed=5)

Grads = dict[str, list[torch.Tensor | None]]


@pytest.fixture(scope="module")
def run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A corpus of the 12 directions (24 multi30k pairs each), a joint vocabulary, and the
    job every rank trains."""
    root = tmp_path_factory.mktemp("gradient-equivalence")
    corpus = write_multi30k(shared_data, root / "corpus", dict.fromkeys(DIRECTIONS, 24))
    text = [line for iso in LANGS for line in
            (shared_data / "multi30k" / f"train.{iso}").read_text(encoding="utf-8").splitlines()[:300]]
    vocab = train_vocab(iter(text), root / "spm", vocab_size=400,
                        languages=["eng_Latn", "deu_Latn", "fra_Latn", "ces_Latn"])
    _, plan = plan_training(TrainConfig(**CONFIG), corpus)
    return {"corpus": str(corpus), "vocab": str(vocab), "plan": plan, "root": root}


class CpuEnv(Env):
    """The issue's setting, gloo on the CPU, also on a machine with GPUs."""

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")


def grads_of(trainer: RankTrainer) -> Grads:
    return {m: [None if p.grad is None else p.grad.clone() for p in unit.parameters()]
            for m, unit in trainer.units.items()}


def rank_worker(rank: int, run: dict, out: str) -> None:
    """Run the trainer's steps with both ways of counting users; save the gradients after each."""
    saved: dict[tuple[str, int], Grads] = {}
    for counts in ("sampled", "collective"):
        config = TrainConfig(**CONFIG, sync_counts=counts)
        job = TrainJob(corpus=run["corpus"], vocab=run["vocab"], out_dir=str(Path(out) / counts), config=config,
                       plan=run["plan"])
        trainer = RankTrainer(job, CpuEnv(rank=rank, world_size=WORLD, local_world_size=WORLD, local_rank=rank))
        window = Window()
        for step in STEPS:
            trainer.step(step, window)
            saved[counts, step] = grads_of(trainer)
    torch.save(saved, Path(out) / f"rank{rank}.pt")


@pytest.fixture(scope="module")
def synced(run: dict) -> dict[int, dict[tuple[str, int], Grads]]:
    """Each rank's gradients after each step, keyed by ``(sync_counts, step)``."""
    out = run["root"] / "ranks"
    out.mkdir()
    run_ranks(rank_worker, WORLD, run, str(out))
    return {r: torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)}


@pytest.fixture(scope="module")
def reference(run: dict) -> dict[int, tuple[Grads, Counter[str]]]:
    """Per step: each module's gradient averaged over the ranks that used it, computed in
    one process with every module built, and how many ranks used each module."""
    plan: Plan = run["plan"]
    cfg = TrainConfig(**CONFIG)
    vocab = Vocab(run["vocab"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = ModularTransformer(model_config(cfg, len(vocab)), plan.module_layers(), seed=cfg.seed)
        bitexts = load_bitexts(run["corpus"], vocab, plan.tasks, cfg.max_tokens_per_sentence)
        streams = {(r, s.task): BatchStream(bitexts[s.task], vocab.tag_id(plan.task(s.task).tgt_lang),
                                            cfg.batch_tokens, cfg.seed, s.shard, s.num_shards)
                   for r, slots in enumerate(plan.ranks) for s in slots}
        out = {}
        for step in STEPS:
            total: dict[str, list[torch.Tensor]] = {}
            users: Counter[str] = Counter()
            for rank in range(WORLD):
                task = plan.task(sampled_slot(plan, rank, step, cfg.seed).task)
                batch = next(streams[rank, task.name])
                model.zero_grad(set_to_none=True)
                (task_loss(model, task, batch, cfg.label_smoothing) / batch.target_tokens).backward()
                users.update(task.modules)
                for m in task.modules:
                    grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in model.unit(m).parameters()]
                    total[m] = [a + g for a, g in zip(total[m], grads)] if m in total else grads
            out[step] = ({m: [g / users[m] for g in gs] for m, gs in total.items()}, users)
        return out
    finally:
        torch.set_num_threads(threads)


def test_the_plan_exercises_partial_sharing_and_changing_users(run: dict, reference: dict) -> None:
    """Guard: the case is one where averaging over users, not holders, matters."""
    plan: Plan = run["plan"]
    holders = plan.holders()
    copies = {len(ranks) for ranks in holders.values()}
    assert 1 in copies and WORLD in copies and copies & {2, 3}  # private, partly and fully shared modules
    assert all(len(slots) == 3 for slots in plan.ranks)
    per_step = [reference[step][1] for step in STEPS]
    assert any(1 < users[m] < len(holders[m]) for users in per_step for m in holders)
    assert any(users[m] == 0 for users in per_step for m in holders if len(holders[m]) > 1)
    tasks = {step: [sampled_slot(plan, r, step, CONFIG["seed"]).task for r in range(WORLD)] for step in STEPS}
    assert len({tuple(t) for t in tasks.values()}) == len(STEPS)  # different sampled tasks every step


@pytest.mark.parametrize("counts", ["sampled", "collective"])
def test_synced_gradients_equal_the_single_process_gradients(run: dict, synced: dict, reference: dict,
                                                             counts: str) -> None:
    plan: Plan = run["plan"]
    for step in STEPS:
        expected, users = reference[step]
        for rank in range(WORLD):
            grads = synced[rank][counts, step]
            assert sorted(grads) == [m for m, ranks in plan.holders().items() if rank in ranks]
            for module, actual in grads.items():
                if users[module] == 0:  # nobody used it: no gradient, no optimizer step
                    assert actual == [None] * len(actual), (step, rank, module)
                    continue
                assert len(actual) == len(expected[module])
                for a, e in zip(actual, expected[module]):
                    assert a is not None, (step, rank, module)
                    torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-6, msg=f"step {step} rank {rank} {module}")
