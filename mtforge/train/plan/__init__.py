"""Meta-config → resolved plan: MAMMOTH's config-config tool as a pure function.

:func:`load_meta_config` reads the user's :class:`MetaConfig`; :func:`resolve_plan` turns it
into a :class:`Plan` (tasks with concrete module ids, weights, curriculum, files, and the
allocation of tasks to ranks) that the trainer, checkpoints and inference consume.
"""

from mtforge.train.plan.allocation import Slot, allocate, allocation_cost
from mtforge.train.plan.metaconfig import (
    PRESETS,
    AllocationConfig,
    Clustering,
    CorpusTemplate,
    MetaConfig,
    Sharing,
    load_meta_config,
    preset,
)
from mtforge.train.plan.resolve import Plan, TaskPlan, resolve_plan

__all__ = [
    "PRESETS",
    "AllocationConfig",
    "Clustering",
    "CorpusTemplate",
    "MetaConfig",
    "Plan",
    "Sharing",
    "Slot",
    "TaskPlan",
    "allocate",
    "allocation_cost",
    "load_meta_config",
    "preset",
    "resolve_plan",
]
