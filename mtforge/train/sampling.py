"""Which task each rank trains at each step, known to every rank without communication.

A rank holding several tasks multiplexes them: at every step it samples one of its tasks
that the curriculum has introduced, in proportion to the tasks' weights. The draw uses a
generator seeded by (seed, rank, step) only, so any rank can recompute any other rank's
choice — and therefore how many holders of each module use it in the step, which is what
the gradient average divides by (MAMMOTH's Algorithm 1 counts these with a collective).
"""

from __future__ import annotations

import random

from mtforge.train.plan import Plan, Slot


def active_slots(plan: Plan, rank: int, step: int) -> list[Slot]:
    """The slots of ``rank`` whose task has been introduced by ``step`` (steps count from 1)."""
    return [s for s in plan.ranks[rank] if plan.task(s.task).start_step < step]


def sampled_slot(plan: Plan, rank: int, step: int, seed: int) -> Slot | None:
    """The slot ``rank`` trains at ``step``, or None when none of its tasks has started."""
    slots = active_slots(plan, rank, step)
    if len(slots) <= 1:
        return slots[0] if slots else None
    weights = [plan.task(s.task).weight for s in slots]
    if sum(weights) <= 0:
        weights = [1.0] * len(slots)
    return random.Random(f"{seed}:{rank}:{step}").choices(slots, weights=weights)[0]


def module_users(plan: Plan, step: int, seed: int) -> dict[str, int]:
    """For every module, how many ranks use it at ``step``."""
    users: dict[str, int] = {}
    for rank in range(plan.world_size):
        slot = sampled_slot(plan, rank, step, seed)
        if slot is not None:
            for module in plan.task(slot.task).modules:
                users[module] = users.get(module, 0) + 1
    return users
