"""ModuleSync under a real 4-process gloo group: per-module groups, the initial broadcast from
the lowest holder, and gradients averaged over the holders that used a module in the step.

The four ranks run once per session (:func:`synced`); each test checks one property of what
they saved.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from mtforge.train.sync import ModuleSync

WORLD = 4
#: module → holders. "all": every rank; "pair"/"trio": some ranks (the others must still take
#: part in creating their groups); "idle": two holders, neither uses it; "solo"/"lonely": one
#: holder each, so no group at all.
HOLDERS = {"all": [0, 1, 2, 3], "pair": [1, 2], "idle": [0, 3], "solo": [2], "lonely": [1], "trio": [0, 2, 3]}
#: the modules each rank's backward pass goes through this step
USED = {0: {"all", "trio"}, 1: {"all"}, 2: {"pair", "trio", "solo"}, 3: {"all"}}
#: users per module, as the shared task sampler would count them
USERS = {m: sum(m in used for used in USED.values()) for m in HOLDERS}
#: a gradient a holder has on a module it did not use (left over, or never cleared): it must
#: not leak into the average, and a module nobody used keeps it untouched
GARBAGE = {(2, "all"): 1000.0, (1, "pair"): -500.0, (3, "trio"): 300.0, (0, "idle"): 7.0, (1, "lonely"): 5.0}
#: modules held by ≥ 2 ranks, in module order: the groups every rank creates
GROUPED = sorted(m for m, ranks in HOLDERS.items() if len(ranks) > 1)


def held(rank: int) -> list[str]:
    return sorted(m for m, ranks in HOLDERS.items() if rank in ranks)


def initial_unit(module: str, rank: int) -> nn.Module:
    """The weights ``rank`` starts ``module`` with: different on every rank."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1000 * rank + sorted(HOLDERS).index(module))
        return nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))


def backward(module: str, unit: nn.Module, rank: int) -> None:
    """``rank``'s loss through ``module``: different data and scale on every rank."""
    gen = torch.Generator().manual_seed(100 * rank + sorted(HOLDERS).index(module))
    ((rank + 1) * unit(torch.randn(5, 4, generator=gen)).pow(2).sum()).backward()


def set_local_grads(rank: int, units: dict[str, nn.Module]) -> None:
    """This rank's gradients before the all-reduce: its own backward passes and its garbage."""
    for unit in units.values():
        unit.zero_grad(set_to_none=True)
    for module in sorted(USED[rank]):
        backward(module, units[module], rank)
    for (r, module), value in GARBAGE.items():
        if r == rank:
            for p in units[module].parameters():
                p.grad = torch.full_like(p, value)


def snapshot(units: dict[str, nn.Module], what: str) -> dict[str, list[torch.Tensor | None]]:
    """Each unit's parameters (``what="data"``) or gradients (``"grad"``), cloned."""
    out = {}
    for name, unit in units.items():
        values = [getattr(p, what) for p in unit.parameters()]
        out[name] = [None if v is None else v.detach().clone() for v in values]
    return out


def numel(module: str) -> int:
    return sum(p.numel() for p in initial_unit(module, 0).parameters())


# -- running ranks ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_ranks(target: Callable[..., None], world: int, *args: object, timeout: float = 120.0) -> None:
    """Run ``target(rank, *args)`` in ``world`` processes joined in a gloo group (one torch
    thread each, as DataLoader workers do after a fork); any rank's exception fails the caller,
    and so do ranks still running after ``timeout`` seconds (a deadlock), which are killed.

    The ranks are forked: they inherit the imported modules, where spawning fresh
    interpreters that each import torch takes many seconds on a busy 2-core machine.
    """
    ranks = mp.start_processes(_rank_main, args=(target, world, free_port(), args), nprocs=world, join=False,
                               start_method="fork")
    deadline = time.monotonic() + timeout
    while not ranks.join(timeout=0.5):
        if time.monotonic() > deadline:
            for process in ranks.processes:
                process.kill()
            pytest.fail(f"{world} ranks still running after {timeout:.0f} s: a collective deadlocked")


def _rank_main(rank: int, target: Callable[..., None], world: int, port: int, args: tuple) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        target(rank, *args)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def sync_worker(rank: int, out: str) -> None:
    units = {m: initial_unit(m, rank) for m in held(rank)}
    result: dict[str, object] = {}

    created: list[list[int]] = []
    new_group = dist.new_group

    def recording_new_group(ranks: list[int], *args: object, **kwargs: object) -> object:
        created.append(list(ranks))
        return new_group(ranks, *args, **kwargs)

    dist.new_group = recording_new_group
    try:
        sync = ModuleSync(HOLDERS, rank)
    finally:
        dist.new_group = new_group
    result["created"], result["groups"] = created, sorted(sync.groups)

    sync.broadcast_from_lowest(units)
    result["weights"] = snapshot(units, "data")

    for mode, users in (("sampled", dict(USERS)), ("flag", None)):
        set_local_grads(rank, units)
        before = sync.bytes_reduced
        result[f"{mode}.counts"] = sync.all_reduce(units, set(USED[rank]), users)
        result[f"{mode}.bytes"] = sync.bytes_reduced - before
        result[f"{mode}.grads"] = snapshot(units, "grad")
    torch.save(result, Path(out) / f"rank{rank}.pt")


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict]:
    """What each of the 4 ranks saved: groups created, weights after the broadcast, and
    counts, bytes and gradients after an all-reduce with sampled users and with ready flags."""
    out = tmp_path_factory.mktemp("sync")
    run_ranks(sync_worker, WORLD, str(out))
    return {r: torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)}


# -- expectations, computed in this process ----------------------------------------------------

def local_grads(rank: int, module: str) -> list[torch.Tensor]:
    """``rank``'s own gradient of ``module`` on the weights every holder has after the broadcast."""
    unit = initial_unit(module, HOLDERS[module][0])
    backward(module, unit, rank)
    return [p.grad for p in unit.parameters()]


def mean_over_users(module: str) -> list[torch.Tensor]:
    users = [r for r in range(WORLD) if module in USED[r]]
    per_rank = [local_grads(r, module) for r in users]
    return [sum(gs) / len(users) for gs in zip(*per_rank)]


def assert_tensors(actual: list, expected: list) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        if e is None:
            assert a is None
        else:
            torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-6)


def test_groups_are_made_for_shared_modules_by_every_rank_in_the_same_order(synced: dict[int, dict]) -> None:
    for rank in range(WORLD):
        # every rank creates every group (also those it is not in), in module order …
        assert synced[rank]["created"] == [HOLDERS[m] for m in GROUPED]
        # … and keeps the ones it belongs to; a module only it holds gets none
        assert synced[rank]["groups"] == [m for m in GROUPED if rank in HOLDERS[m]]


def test_broadcast_gives_every_holder_the_lowest_holders_weights(synced: dict[int, dict]) -> None:
    for rank in range(WORLD):
        for module in held(rank):
            lowest = HOLDERS[module][0]
            expected = [p.detach() for p in initial_unit(module, lowest).parameters()]
            assert_tensors(synced[rank]["weights"][module], expected)
            if rank != lowest:  # it really started from other weights
                assert not torch.equal(next(initial_unit(module, rank).parameters()), expected[0])


@pytest.mark.parametrize("mode", ["sampled", "flag"])
def test_gradients_are_averaged_over_the_users_not_the_holders(synced: dict[int, dict], mode: str) -> None:
    for module in ("all", "trio", "pair"):
        expected = mean_over_users(module)
        # the user count (3, 2, 1) is not the holder count (4, 3, 2): dividing by holders differs
        assert USERS[module] < len(HOLDERS[module])
        assert not torch.allclose(expected[0], expected[0] * USERS[module] / len(HOLDERS[module]))
        for rank in HOLDERS[module]:
            # holders that did not use it (and had garbage gradients) get the same mean
            assert_tensors(synced[rank][f"{mode}.grads"][module], expected)
            assert synced[rank][f"{mode}.counts"][module] == USERS[module]


@pytest.mark.parametrize("mode", ["sampled", "flag"])
def test_a_module_nobody_used_keeps_its_gradients_and_counts_zero(synced: dict[int, dict], mode: str) -> None:
    for rank, module in ((0, "idle"), (1, "lonely")):
        garbage = [torch.full_like(p, GARBAGE[rank, module]) for p in initial_unit(module, rank).parameters()]
        assert_tensors(synced[rank][f"{mode}.grads"][module], garbage)
    assert_tensors(synced[3][f"{mode}.grads"]["idle"], [None] * 4)
    for rank, module in ((0, "idle"), (3, "idle"), (1, "lonely")):
        assert synced[rank][f"{mode}.counts"][module] == 0


@pytest.mark.parametrize("mode", ["sampled", "flag"])
def test_a_module_only_one_rank_holds_keeps_its_own_gradient(synced: dict[int, dict], mode: str) -> None:
    assert_tensors(synced[2][f"{mode}.grads"]["solo"], local_grads(2, "solo"))
    assert synced[2][f"{mode}.counts"]["solo"] == 1


def test_ready_flags_give_the_same_gradients_and_counts_as_sampled_users(synced: dict[int, dict]) -> None:
    for rank in range(WORLD):
        assert synced[rank]["flag.counts"] == synced[rank]["sampled.counts"]
        assert set(synced[rank]["flag.counts"]) == set(held(rank))
        for module in held(rank):
            assert_tensors(synced[rank]["flag.grads"][module], synced[rank]["sampled.grads"][module])


def test_bytes_reduced_count_only_the_modules_communicated(synced: dict[int, dict]) -> None:
    for rank in range(WORLD):
        groups = [m for m in GROUPED if rank in HOLDERS[m]]
        # with sampled users, a module nobody used ("idle") is not communicated at all
        assert synced[rank]["sampled.bytes"] == sum(4 * numel(m) for m in groups if USERS[m] > 0)
        # with ready flags every group is all-reduced, its flag riding along
        assert synced[rank]["flag.bytes"] == sum(4 * (numel(m) + 1) for m in groups)
    assert synced[0]["sampled.bytes"] == 4 * (numel("all") + numel("trio"))
