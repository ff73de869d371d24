"""ModuleSync under a real 3-process gloo group: gradients are averaged over the holders that
used a module in the step, not over all holders, and modules outside any group are untouched."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from mtforge.train.sync import ModuleSync

WORLD = 3
#: module → holders. "m": everyone (only ranks 0 and 1 use it); "pair": ranks 0 and 1 (only
#: rank 0 uses it; rank 2 must still take part in creating its group); "idle": ranks 0 and 2,
#: nobody uses it; "solo": rank 1 alone (no group at all).
HOLDERS = {"m": [0, 1, 2], "pair": [0, 1], "idle": [0, 2], "solo": [1]}
USED = {0: {"m", "pair"}, 1: {"m", "solo"}, 2: set()}


def build_units() -> dict[str, nn.Module]:
    torch.manual_seed(0)  # identical weights on every rank, as in the trainer
    return {name: nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)) for name in sorted(HOLDERS)}


def local_grads(rank: int, units: dict[str, nn.Module]) -> None:
    """Each rank's own backward pass: different data per rank. Rank 2 also leaves a garbage
    gradient on "m" and "idle", which it does not use: that must not leak into the average."""
    gen = torch.Generator().manual_seed(100 + rank)
    for name in sorted(USED[rank]):
        x = torch.randn(5, 4, generator=gen)
        ((rank + 1) * units[name](x).pow(2).sum()).backward()
    if rank == 2:
        for name in ("m", "idle"):
            for p in units[name].parameters():
                p.grad = torch.full_like(p, 1000.0)


def grads_of(units: dict[str, nn.Module]) -> dict[str, list[torch.Tensor | None]]:
    return {name: [None if p.grad is None else p.grad.clone() for p in unit.parameters()]
            for name, unit in units.items()}


def worker(rank: int, port: int, out: str) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        units = build_units()
        local_grads(rank, units)
        before = grads_of(units)
        sync = ModuleSync(HOLDERS, rank)
        sync.all_reduce({k: v for k, v in units.items()}, USED[rank])
        torch.save({"before": before, "after": grads_of(units), "groups": sorted(sync.groups)},
                   Path(out) / f"rank{rank}.pt")
        dist.barrier()
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def expected_local(rank: int) -> dict[str, list[torch.Tensor | None]]:
    units = build_units()
    local_grads(rank, units)
    return grads_of(units)


def assert_grads(actual: list, expected: list) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        if e is None:
            assert a is None
        else:
            torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-6)


def test_all_reduce_averages_over_the_holders_that_used_the_module(tmp_path: Path) -> None:
    mp.spawn(worker, args=(free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    result = {r: torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD)}
    local = {r: expected_local(r) for r in range(WORLD)}

    # a rank only keeps groups it belongs to, and none for a module only it holds
    assert result[0]["groups"] == ["idle", "m", "pair"]
    assert result[1]["groups"] == ["m", "pair"]
    assert result[2]["groups"] == ["idle", "m"]

    # "m": every holder ends with the mean of ranks 0 and 1 — divided by 2 users, not 3 holders,
    # and rank 2's unused garbage gradient does not count
    mean01 = [(g0 + g1) / 2 for g0, g1 in zip(local[0]["m"], local[1]["m"])]
    for r in range(WORLD):
        assert_grads(result[r]["after"]["m"], mean01)
    assert not torch.allclose(mean01[0], sum(g for g in (local[0]["m"][0], local[1]["m"][0])) / 3)

    # "pair": used by rank 0 alone → both holders get rank 0's gradient unchanged
    for r in (0, 1):
        assert_grads(result[r]["after"]["pair"], local[0]["pair"])

    # "idle": nobody used it → each holder's gradients are left exactly as they were
    for r in (0, 2):
        assert_grads(result[r]["after"]["idle"], result[r]["before"]["idle"])

    # "solo": held by rank 1 only → untouched
    assert_grads(result[1]["after"]["solo"], local[1]["solo"])

    # non-holders are not touched either (rank 2 does not hold "pair")
    assert_grads(result[2]["after"]["pair"], [None] * len(local[2]["pair"]))
