"""Gradient synchronisation among the ranks that hold a module (MAMMOTH, Algorithm 1).

Each module gets its own process group made of its holders. After the backward pass every
holder all-reduces the module's gradients in that group and divides them by the number of
holders that actually used the module in this step, so a module trained by two of its three
holders gets the mean of two gradients, not of three. No DDP wrapper is involved.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


class ModuleSync:
    """Per-module process groups and the all-reduce of their gradients."""

    def __init__(self, holders: dict[str, list[int]], rank: int) -> None:
        self.groups: dict[str, object] = {}
        distributed = dist.is_available() and dist.is_initialized()
        # Every rank must create every group, in the same order, even those it is not part of.
        for module, ranks in sorted(holders.items()):
            group = dist.new_group(ranks) if distributed and len(ranks) > 1 else None
            if rank in ranks and group is not None:
                self.groups[module] = group

    def all_reduce(self, units: dict[str, nn.Module], used: set[str]) -> None:
        """Average each held module's gradients over the holders that used it this step."""
        for module, group in self.groups.items():
            params = [p for p in units[module].parameters() if p.requires_grad]
            is_used = module in used
            grads = [p.grad if p.grad is not None and is_used else torch.zeros_like(p) for p in params]
            used_flag = torch.tensor([float(is_used)], device=params[0].device)
            flat = torch.cat([g.reshape(-1) for g in grads] + [used_flag])
            dist.all_reduce(flat, group=group)
            users = flat[-1].item()
            if users == 0:
                continue
            flat = flat[:-1] / users
            offset = 0
            for p in params:
                n = p.numel()
                p.grad = flat[offset : offset + n].view_as(p).clone()
                offset += n
