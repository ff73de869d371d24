"""Task sampling weights (corpus size with a temperature) and the curriculum (start steps)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mtforge.errors import ConfigError
from mtforge.langcodes import format_direction, parse_direction


def task_weights(sizes: Sequence[int | None], temperature: float) -> list[float]:
    """Sampling weights, one per task, summing to 1: ``(size / total) ** (1 / temperature)``
    normalised; uniform when any size is unknown (``None``) or all are 0.

    Temperature 1 samples in proportion to size; larger temperatures flatten towards
    uniform. Raises :class:`ConfigError` for a temperature ≤ 0 or no tasks.
    """
    if temperature <= 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    if not sizes:
        raise ConfigError("no tasks to weight")
    total = sum(s or 0 for s in sizes)
    if any(s is None for s in sizes) or total == 0:
        return [1 / len(sizes)] * len(sizes)
    raw = [(s / total) ** (1 / temperature) for s in sizes]  # type: ignore[operator]
    norm = sum(raw)
    return [r / norm for r in raw]


def start_steps(curriculum: Mapping[str, int], directions: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The step each of ``directions`` is introduced at: ``curriculum`` (direction in any code
    form → step), 0 for directions it does not name.

    Raises :class:`ConfigError` naming the key for a direction that is not planned, a key
    given twice (in two spellings) or a negative step.
    """
    steps = dict.fromkeys(directions, 0)
    seen: dict[tuple[str, str], str] = {}
    for key, step in curriculum.items():
        direction = parse_direction(key)
        if direction not in steps:
            raise ConfigError(
                f"curriculum names {key!r} ({format_direction(*direction)}), which is not a planned direction"
            )
        if direction in seen:
            raise ConfigError(f"curriculum names {format_direction(*direction)} twice: {seen[direction]!r} and {key!r}")
        if step < 0:
            raise ConfigError(f"curriculum[{key!r}] is {step}: a start step must be ≥ 0")
        seen[direction] = key
        steps[direction] = step
    return steps
