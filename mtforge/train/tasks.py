"""Task plans: which translation directions are trained, with which modules, on which ranks.

A *task* is one translation direction. It names the encoder and decoder stacks it uses; the
sharing scheme decides those names (``full``: one shared encoder and decoder; ``language``:
one encoder per source and one decoder per target language). A plan allocates tasks to
ranks: with at least as many tasks as ranks, tasks are dealt round-robin; with fewer, each
task is replicated on several ranks, which then split its data.
"""

from __future__ import annotations

from dataclasses import dataclass

from mtforge.errors import ConfigError

SHARING = ("full", "language")


@dataclass(frozen=True)
class Task:
    """One translation direction and the modules it trains."""

    src_lang: str
    tgt_lang: str
    encoder: str
    decoder: str

    @property
    def name(self) -> str:
        return f"{self.src_lang}-{self.tgt_lang}"

    @property
    def modules(self) -> tuple[str, ...]:
        return ("embeddings", f"encoder/{self.encoder}", f"decoder/{self.decoder}")


def make_tasks(directions: list[tuple[str, str]], sharing: str = "full") -> list[Task]:
    """Tasks for ``directions`` under a sharing scheme (see module docstring)."""
    if sharing not in SHARING:
        raise ConfigError(f"unknown sharing {sharing!r}; choose one of {', '.join(SHARING)}")
    if not directions:
        raise ConfigError("no translation directions given")
    if sharing == "full":
        return [Task(s, t, "shared", "shared") for s, t in directions]
    return [Task(s, t, s, t) for s, t in directions]


@dataclass(frozen=True)
class Assignment:
    """A task on one rank, with the slice of its data that rank reads."""

    task: Task
    shard: int
    num_shards: int


def allocate(tasks: list[Task], world_size: int) -> list[list[Assignment]]:
    """Assignments per rank (index = rank). Every task runs somewhere; every rank has work."""
    if world_size < 1:
        raise ConfigError(f"world_size must be ≥ 1, got {world_size}")
    per_rank: list[list[Assignment]] = [[] for _ in range(world_size)]
    if len(tasks) >= world_size:
        for i, task in enumerate(tasks):
            per_rank[i % world_size].append(Assignment(task, 0, 1))
        return per_rank
    for rank in range(world_size):
        task_index = rank % len(tasks)
        replicas = [r for r in range(world_size) if r % len(tasks) == task_index]
        per_rank[rank].append(Assignment(tasks[task_index], replicas.index(rank), len(replicas)))
    return per_rank


def module_holders(plan: list[list[Assignment]]) -> dict[str, list[int]]:
    """For each module id, the sorted ranks that hold it (the members of its sync group)."""
    holders: dict[str, set[int]] = {}
    for rank, assignments in enumerate(plan):
        for a in assignments:
            for module in a.task.modules:
                holders.setdefault(module, set()).add(rank)
    return {m: sorted(r) for m, r in sorted(holders.items())}
