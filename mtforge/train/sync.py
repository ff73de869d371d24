"""Gradient synchronisation among the ranks that hold a module (MAMMOTH, Algorithm 1).

Each module held by two or more ranks gets its own process group made of its holders,
created in the same (sorted) order on every rank. At start the holders copy the module's
weights from its lowest holder. After each backward pass every holder all-reduces the
module's gradients in that group and divides them by the number of holders that used the
module in this step — a module trained by two of its three holders gets the mean of two
gradients, not of three. That number comes from the shared task sampler
(:func:`mtforge.train.sampling.module_users`), so no extra collective is needed and a module
nobody used is not communicated at all; without it, a ready flag travels with the gradients
(the collective of Algorithm 1). No DDP wrapper is involved.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters


class ModuleSync:
    """Per-module process groups, the initial broadcast and the gradient all-reduce."""

    def __init__(self, holders: dict[str, list[int]], rank: int) -> None:
        self.holders = holders
        self.rank = rank
        self.groups: dict[str, object] = {}
        self.bytes_reduced = 0  # gradient bytes this rank all-reduced (for benchmarks)
        distributed = dist.is_available() and dist.is_initialized()
        # Every rank must create every group, in the same order, even those it is not part of.
        for module, ranks in sorted(holders.items()):
            group = dist.new_group(ranks) if distributed and len(ranks) > 1 else None
            if rank in ranks and group is not None:
                self.groups[module] = group

    def broadcast_from_lowest(self, units: dict[str, nn.Module]) -> None:
        """Give every holder the weights of the module's lowest holder."""
        for module, group in self.groups.items():
            params = list(units[module].parameters())
            flat = parameters_to_vector(params)
            dist.broadcast(flat, src=self.holders[module][0], group=group)
            vector_to_parameters(flat, params)

    def all_reduce(self, units: dict[str, nn.Module], used: set[str],
                   users: dict[str, int] | None = None) -> dict[str, int]:
        """Average each held module's gradients over the holders that used it this step.

        ``used``: the modules this rank's backward pass went through. ``users``: how many
        ranks used each module (from the shared sampler); when None they are counted by a
        ready-flag all-reduce. Returns, for every module this rank holds, how many ranks used
        it — a module with 0 got no gradient and must not be stepped.
        """
        counts = {m: int(m in used) for m in units if m not in self.groups}
        for module, group in self.groups.items():
            if users is not None and users.get(module, 0) == 0:
                counts[module] = 0
                continue
            params = [p for p in units[module].parameters() if p.requires_grad]
            is_used = module in used
            grads = [p.grad if p.grad is not None and is_used else torch.zeros_like(p) for p in params]
            flags = [] if users is not None else [torch.tensor([float(is_used)], device=params[0].device)]
            flat = torch.cat([g.reshape(-1) for g in grads] + flags)
            dist.all_reduce(flat, group=group)
            self.bytes_reduced += flat.numel() * flat.element_size()
            n = users[module] if users is not None else int(round(flat[-1].item()))
            counts[module] = n
            if n == 0:
                continue
            flat = flat[: sum(p.numel() for p in params)] / n
            offset = 0
            for p in params:
                p.grad = flat[offset : offset + p.numel()].view_as(p).clone()
                offset += p.numel()
        return counts
