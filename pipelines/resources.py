"""Copy what a stage declares (resources, version) onto a pipeline task."""

from __future__ import annotations

from kfp.dsl import PipelineTask

from mtforge.stage import get_stage


def apply_stage(task: PipelineTask, stage_name: str) -> PipelineTask:
    """Set CPU/memory requests (and a GPU limit, if any) from ``mtforge.stages.<stage_name>``,
    and the stage's version as an environment variable: a task's environment is part of its
    cache key (locally and on a cluster), so bumping a stage's version re-runs that stage."""
    spec = get_stage(stage_name)
    res = spec.resources
    task.set_env_variable("MTFORGE_STAGE", f"{spec.name}@{spec.version}")
    task.set_cpu_request(res.cpu).set_memory_request(res.memory)
    if res.gpu:
        task.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(str(res.gpu))
    return task.set_display_name(stage_name)
