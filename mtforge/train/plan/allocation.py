"""Allocation of tasks to ranks (``nodes × gpus_per_node`` processes).

* Fewer tasks than ranks: each task is replicated on a contiguous block of ranks (data
  parallel; every rank gets exactly one task and reads shard ``i`` of ``n`` of its data).
* Otherwise each task goes to exactly one rank, chosen by a deterministic local search that
  minimises :func:`allocation_cost`::

      device_weight  × Σ_modules (ranks holding it − 1)        # module copies to keep in sync
    + node_weight    × Σ_modules (nodes holding it − 1)        # … across the slower inter-node link
    + balance_weight × Σ_ranks (tasks on the rank − mean)²     # even load

  subject to at most ``slots_per_gpu`` tasks per rank and every rank holding at least one
  task that starts at step 0 (no rank idles at the start of a curriculum). The search starts
  from a greedy assignment, then applies improving single-task moves and pairwise swaps
  until none improves (a local optimum), and repeats from a *grouped* start (tasks ordered
  so that those sharing the most widely shared modules are adjacent, cut into even
  contiguous blocks) and from a few random feasible starts drawn from ``seed``; the best
  result wins. The grouped start matters when single moves cannot lower the cost: with
  language-specific modules, an English-centric plan's ``eng→X`` tasks share only English's
  encoder, so a copy of it disappears only when *every* ``eng→X`` task has left a rank —
  a plateau that first-improvement moves and swaps never cross, but blocks start on the
  other side of.
* A manual allocation (``allocation.ranks``) is validated instead of searched.

Tasks are named ``"eng_Latn-deu_Latn"``; ``modules`` maps each task name to its module ids.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from mtforge.errors import ConfigError
from mtforge.langcodes import format_direction, parse_direction
from mtforge.train.plan.metaconfig import AllocationConfig

#: Improvements smaller than this are treated as ties (the cost is a float).
_EPS = 1e-9


class Slot(BaseModel):
    """A task on a rank and the data shard that rank reads."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str
    shard: int = 0
    num_shards: int = 1


def allocation_cost_terms(
    ranks: Sequence[Sequence[str]], modules: Mapping[str, Sequence[str]], procs_per_node: int, config: AllocationConfig
) -> dict[str, float]:
    """The three weighted terms of :func:`allocation_cost`: ``device`` (module copies), ``node``
    (copies across nodes) and ``balance`` (squared deviation of tasks per rank)."""
    holding: dict[str, set[int]] = {}
    for rank, tasks in enumerate(ranks):
        for task in tasks:
            for module in modules[task]:
                holding.setdefault(module, set()).add(rank)
    mean = sum(len(t) for t in ranks) / len(ranks)
    return {
        "device": config.device_weight * sum(len(rs) - 1 for rs in holding.values()),
        "node": config.node_weight * sum(len({r // procs_per_node for r in rs}) - 1 for rs in holding.values()),
        "balance": config.balance_weight * sum((len(t) - mean) ** 2 for t in ranks),
    }


def allocation_cost(
    ranks: Sequence[Sequence[str]], modules: Mapping[str, Sequence[str]], procs_per_node: int, config: AllocationConfig
) -> float:
    """The cost of an allocation (see module docstring) computed from scratch.

    ``ranks[r]`` lists the task names on global rank ``r``; node of ``r`` is ``r // procs_per_node``.
    """
    return sum(allocation_cost_terms(ranks, modules, procs_per_node, config).values())


class _Search:
    """An assignment task → rank with its cost maintained incrementally under add/remove."""

    def __init__(
        self,
        modules: Sequence[Sequence[int]],
        step0: Sequence[bool],
        n_modules: int,
        world: int,
        procs_per_node: int,
        capacity: int,
        config: AllocationConfig,
    ) -> None:
        self.modules, self.step0 = modules, step0
        self.world, self.ppn, self.capacity = world, procs_per_node, capacity
        self.dw, self.nw, self.bw = config.device_weight, config.node_weight, config.balance_weight
        self.mean = len(modules) / world
        n_nodes = -(-world // procs_per_node)
        self.count = [[0] * n_modules for _ in range(world)]  # tasks on rank r using module m
        self.node_count = [[0] * n_modules for _ in range(n_nodes)]  # ranks on node n holding m
        self.n_tasks = [0] * world
        self.n_step0 = [0] * world
        self.rank_of: list[int | None] = [None] * len(modules)
        # Constant offsets (−1 per module per term, mean² per empty rank) are added once here.
        self.cost = -(self.dw + self.nw) * n_modules + self.bw * world * self.mean**2

    def add(self, task: int, rank: int) -> None:
        node = rank // self.ppn
        for m in self.modules[task]:
            self.count[rank][m] += 1
            if self.count[rank][m] == 1:
                self.cost += self.dw
                self.node_count[node][m] += 1
                if self.node_count[node][m] == 1:
                    self.cost += self.nw
        n = self.n_tasks[rank]
        self.cost += self.bw * ((n + 1 - self.mean) ** 2 - (n - self.mean) ** 2)
        self.n_tasks[rank] += 1
        self.n_step0[rank] += self.step0[task]
        self.rank_of[task] = rank

    def remove(self, task: int) -> int:
        rank = self.rank_of[task]
        assert rank is not None
        node = rank // self.ppn
        for m in self.modules[task]:
            self.count[rank][m] -= 1
            if self.count[rank][m] == 0:
                self.cost -= self.dw
                self.node_count[node][m] -= 1
                if self.node_count[node][m] == 0:
                    self.cost -= self.nw
        n = self.n_tasks[rank]
        self.cost += self.bw * ((n - 1 - self.mean) ** 2 - (n - self.mean) ** 2)
        self.n_tasks[rank] -= 1
        self.n_step0[rank] -= self.step0[task]
        self.rank_of[task] = None
        return rank

    def _delta(self, changes: Sequence[tuple[int, int]]) -> float:
        """Cost change of moving each ``(task, rank)``; the state is left unchanged."""
        before = self.cost
        origin = [(task, self.remove(task)) for task, _ in changes]
        for task, rank in changes:
            self.add(task, rank)
        delta = self.cost - before
        for task, _ in changes:
            self.remove(task)
        for task, rank in origin:
            self.add(task, rank)
        self.cost = before  # drop float drift from the round trip
        return delta

    def _can_move(self, task: int, rank: int) -> bool:
        a = self.rank_of[task]
        return (
            rank != a
            and self.n_tasks[rank] < self.capacity
            and self.n_step0[a] - self.step0[task] >= 1  # type: ignore[index]
        )

    def _can_swap(self, t: int, u: int) -> bool:
        a, b = self.rank_of[t], self.rank_of[u]
        return (
            a != b
            and self.n_step0[a] - self.step0[t] + self.step0[u] >= 1  # type: ignore[index]
            and self.n_step0[b] - self.step0[u] + self.step0[t] >= 1  # type: ignore[index]
        )

    def improve(self, order: Sequence[int]) -> None:
        """Apply improving moves and swaps (first improvement, tasks in ``order``) until none
        improves: a local optimum."""
        improved = True
        while improved:
            improved = False
            for t in order:
                for rank in range(self.world):
                    if self._can_move(t, rank) and self._delta([(t, rank)]) < -_EPS:
                        self.remove(t)
                        self.add(t, rank)
                        improved = True
            for i, t in enumerate(order):
                for u in order[i + 1 :]:
                    if self._can_swap(t, u):
                        a, b = self.rank_of[t], self.rank_of[u]
                        if self._delta([(t, b), (u, a)]) < -_EPS:  # type: ignore[list-item]
                            self.remove(t)
                            self.remove(u)
                            self.add(t, b)  # type: ignore[arg-type]
                            self.add(u, a)  # type: ignore[arg-type]
                            improved = True


def _greedy_start(search: _Search) -> None:
    """Place step-0 tasks first, then the rest, each on the rank where it adds least cost,
    keeping enough step-0 tasks in hand for the ranks that still lack one."""
    n = len(search.modules)
    order = [t for t in range(n) if search.step0[t]] + [t for t in range(n) if not search.step0[t]]
    step0_left = sum(search.step0)
    for t in order:
        ranks = [r for r in range(search.world) if search.n_tasks[r] < search.capacity]
        needy = [r for r in ranks if search.n_step0[r] == 0]
        if search.step0[t] and len(needy) >= step0_left:
            ranks = needy
        best = min(ranks, key=lambda r: (_added_cost(search, t, r), r))
        search.add(t, best)
        step0_left -= search.step0[t]


def _added_cost(search: _Search, task: int, rank: int) -> float:
    before = search.cost
    search.add(task, rank)
    after = search.cost
    search.remove(task)
    search.cost = before
    return after - before


def grouped_order(modules: Sequence[Sequence[int]]) -> list[int]:
    """Task indices ordered so that tasks sharing widely shared modules are adjacent: each task's
    key is its modules sorted by how many tasks use them (most first, then id), and tasks are
    sorted by key. Modules every task holds do not separate anything; the first module that
    differs groups the tasks (English-centric: all ``eng→X`` by English's encoder, then all
    ``X→eng`` by its decoder)."""
    users: dict[int, int] = {}
    for ms in modules:
        for m in ms:
            users[m] = users.get(m, 0) + 1
    keys = [sorted(ms, key=lambda m: (-users[m], m)) for ms in modules]
    return sorted(range(len(modules)), key=lambda t: (keys[t], t))


def _block_start(search: _Search) -> bool:
    """Even contiguous blocks of :func:`grouped_order` (earlier ranks get the extra task); False
    (and nothing placed) when that violates the capacity or leaves a rank without a step-0 task."""
    order = grouped_order(search.modules)
    per, extra = divmod(len(order), search.world)
    blocks, start = [], 0
    for r in range(search.world):
        size = per + (r < extra)
        blocks.append(order[start:start + size])
        start += size
    if any(len(b) > search.capacity or not any(search.step0[t] for t in b) for b in blocks):
        return False
    for rank, block in enumerate(blocks):
        for t in block:
            search.add(t, rank)
    return True


def _random_start(search: _Search, rng: random.Random) -> None:
    """A random feasible assignment: one random step-0 task per rank, the rest anywhere with room."""
    step0 = [t for t in range(len(search.modules)) if search.step0[t]]
    rng.shuffle(step0)
    for rank, t in enumerate(step0[: search.world]):
        search.add(t, rank)
    rest = step0[search.world :] + [t for t in range(len(search.modules)) if not search.step0[t]]
    for t in rest:
        search.add(t, rng.choice([r for r in range(search.world) if search.n_tasks[r] < search.capacity]))


def search_allocation(
    modules: Mapping[str, Sequence[str]],
    config: AllocationConfig,
    *,
    start_steps: Mapping[str, int] | None = None,
    restarts: int = 4,
) -> list[list[str]]:
    """Task names per rank, one rank per task, by local search (see module docstring).

    Deterministic for a given ``config.seed``. Raises :class:`ConfigError` when the slots
    cannot hold every task, or fewer tasks start at step 0 than there are ranks.
    """
    names = list(modules)
    world, ppn = config.nodes * config.gpus_per_node, config.gpus_per_node
    capacity = config.slots_per_gpu or len(names)
    if world * capacity < len(names):
        raise ConfigError(
            f"allocation: {config.nodes} nodes × {config.gpus_per_node} GPUs × {config.slots_per_gpu} slots "
            f"= {world * capacity} slots cannot hold {len(names)} tasks"
        )
    steps = start_steps or {}
    step0 = [steps.get(name, 0) == 0 for name in names]
    if sum(step0) < world:
        raise ConfigError(
            f"allocation: {world} ranks but only {sum(step0)} tasks start at step 0; every rank needs one "
            "so that none idles at step 0 (start more tasks at step 0 or use fewer ranks)"
        )
    index = {m: i for i, m in enumerate(sorted({m for ms in modules.values() for m in ms}))}
    task_modules = [sorted({index[m] for m in modules[name]}) for name in names]

    def fresh() -> _Search:
        return _Search(task_modules, step0, len(index), world, ppn, capacity, config)

    rng = random.Random(config.seed)
    best: _Search | None = None
    for attempt in range(restarts + 2):
        search = fresh()
        order = list(range(len(names)))
        if attempt == 0:
            _greedy_start(search)
        elif attempt == 1:
            if not _block_start(search):
                continue
        else:
            _random_start(search, rng)
            rng.shuffle(order)
        search.improve(order)
        if best is None or search.cost < best.cost - _EPS:
            best = search
    assert best is not None
    return [[name for t, name in enumerate(names) if best.rank_of[t] == r] for r in range(world)]


def replicate(tasks: Sequence[str], world: int) -> list[list[Slot]]:
    """Fewer tasks than ranks: task ``i`` on a contiguous block of ranks (earlier tasks get
    the extra ranks), each rank reading one shard of it."""
    per, extra = divmod(world, len(tasks))
    ranks: list[list[Slot]] = []
    for i, task in enumerate(tasks):
        copies = per + (i < extra)
        ranks.extend([Slot(task=task, shard=s, num_shards=copies)] for s in range(copies))
    return ranks


def manual_allocation(
    ranks: Sequence[Sequence[str]],
    tasks: Sequence[str],
    config: AllocationConfig,
    *,
    start_steps: Mapping[str, int] | None = None,
) -> list[list[Slot]]:
    """Validate a hand-written allocation (directions in any code form per rank).

    A task listed on several ranks is replicated (shards in rank order). Raises
    :class:`ConfigError` for a wrong rank count, an unknown task, a task on no rank, a task
    twice on one rank, a rank with no task or none at step 0, or a rank over ``slots_per_gpu``.
    """
    world = config.nodes * config.gpus_per_node
    if len(ranks) != world:
        raise ConfigError(
            f"allocation.ranks lists {len(ranks)} ranks but nodes × gpus_per_node = "
            f"{config.nodes} × {config.gpus_per_node} = {world}"
        )
    steps = start_steps or {}
    named: list[list[str]] = []
    for r, entries in enumerate(ranks):
        if not entries:
            raise ConfigError(f"allocation.ranks: rank {r} has no task")
        names = [format_direction(*parse_direction(e)) for e in entries]
        for entry, name in zip(entries, names):
            if name not in tasks:
                raise ConfigError(f"allocation.ranks: rank {r} names {entry!r} ({name}), which is not a planned task")
        if len(set(names)) != len(names):
            raise ConfigError(f"allocation.ranks: rank {r} lists a task twice: {entries}")
        if config.slots_per_gpu is not None and len(names) > config.slots_per_gpu:
            raise ConfigError(
                f"allocation.ranks: rank {r} has {len(names)} tasks but slots_per_gpu is {config.slots_per_gpu}"
            )
        if all(steps.get(name, 0) > 0 for name in names):
            raise ConfigError(f"allocation.ranks: rank {r} has no task at step 0 and would idle (curriculum)")
        named.append(names)
    placed = {name for names in named for name in names}
    missing = [t for t in tasks if t not in placed]
    if missing:
        raise ConfigError(f"allocation.ranks: task {missing[0]} is on no rank")
    copies = {t: sum(t in names for names in named) for t in tasks}
    seen = dict.fromkeys(tasks, 0)
    out: list[list[Slot]] = []
    for names in named:
        slots = []
        for name in sorted(names, key=tasks.index):
            slots.append(Slot(task=name, shard=seen[name], num_shards=copies[name]))
            seen[name] += 1
        out.append(slots)
    return out


def allocate(
    modules: Mapping[str, Sequence[str]],
    config: AllocationConfig,
    *,
    start_steps: Mapping[str, int] | None = None,
) -> list[list[Slot]]:
    """Slots per global rank for the tasks ``modules`` names (in plan order).

    Manual ``config.ranks`` are validated (:func:`manual_allocation`); fewer tasks than ranks
    are replicated (:func:`replicate`; then every task must start at step 0); otherwise
    :func:`search_allocation`. Raises :class:`ConfigError` as those do.
    """
    tasks = list(modules)
    if not tasks:
        raise ConfigError("allocation: no tasks to allocate")
    steps = start_steps or {}
    if config.ranks is not None:
        return manual_allocation(config.ranks, tasks, config, start_steps=steps)
    world = config.nodes * config.gpus_per_node
    if len(tasks) < world:
        late = [t for t in tasks if steps.get(t, 0) > 0]
        if late:
            raise ConfigError(
                f"allocation: {world} ranks but only {len(tasks) - len(late)} tasks start at step 0; with fewer "
                f"tasks than ranks each rank holds one task, so {late[0]} (curriculum) would leave ranks idle at step 0"
            )
        return replicate(tasks, world)
    order = {t: i for i, t in enumerate(tasks)}
    ranks = search_allocation(modules, config, start_steps=steps)
    return [[Slot(task=t) for t in sorted(names, key=order.__getitem__)] for names in ranks]
