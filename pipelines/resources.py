"""Copy a stage's declared resource profile onto a pipeline task."""

from __future__ import annotations

from kfp.dsl import PipelineTask

from mtforge.stage import get_stage


def with_resources(task: PipelineTask, stage_name: str) -> PipelineTask:
    """Set CPU/memory requests (and a GPU limit, if any) from ``mtforge.stages.<stage_name>``."""
    res = get_stage(stage_name).resources
    task.set_cpu_request(res.cpu).set_memory_request(res.memory)
    if res.gpu:
        task.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(str(res.gpu))
    return task.set_display_name(stage_name)
