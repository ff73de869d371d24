"""The stage contract.

A *stage* is one reusable processing step (ingest, clean, train SentencePiece, …). Every
stage declares

* a ``name`` and a ``version`` — bump the version whenever the stage's output for the same
  inputs changes, so cached results of the old code are not reused;
* a :class:`Resources` profile — what one task of it needs (the KFP component copies it into
  the task's CPU/memory/GPU requests);
* a pydantic ``config`` model — the stage's parameters, validated with a clear error.

The stage function itself is plain Python over paths/URIs; it never imports KFP.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from mtforge.errors import ConfigError
from mtforge.fingerprint import content_hash
from mtforge.state import state_dir

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Resources:
    """What one task of a stage needs on a cluster. ``memory`` and ``cpu`` use Kubernetes units;
    ``retries`` is how often a failed task is tried again (stages whose failures are usually
    transient, such as reading a remote object store or hub)."""

    cpu: str = "1"
    memory: str = "2Gi"
    gpu: int = 0
    retries: int = 0


class StageConfig(BaseModel):
    """Base of every stage config: unknown keys are an error that lists the valid ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def parse(cls, values: dict[str, Any] | None = None, *, where: str = "") -> "StageConfig":
        """Validate ``values``; raise :class:`ConfigError` naming the bad key or value."""
        values = dict(values or {})
        unknown = sorted(set(values) - set(cls.model_fields))
        prefix = f"{where}: " if where else ""
        if unknown:
            raise ConfigError(
                f"{prefix}unknown config key(s) {', '.join(map(repr, unknown))} for "
                f"{cls.__name__}; valid keys: {', '.join(sorted(cls.model_fields))}"
            )
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}={e.get('input')!r}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"{prefix}invalid value for {cls.__name__}: {problems}") from None


def parse_sets(sets: list[str]) -> dict[str, str]:
    """``["key=value", …]`` → dict; the error names the malformed item."""
    out = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value
    return out


@dataclass(frozen=True)
class StageSpec:
    """Registry entry for one stage."""

    name: str
    version: str
    resources: Resources
    config: type[StageConfig]
    func: Callable[..., Any]
    description: str = ""

    def cache_key(self, config: StageConfig, input_fingerprints: dict[str, str]) -> str:
        """Content key of one invocation: stage name + version + config + input fingerprints."""
        payload = {
            "stage": self.name,
            "version": self.version,
            "config": config.model_dump(mode="json"),
            "inputs": dict(sorted(input_fingerprints.items())),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def work_dir(self, config: StageConfig, inputs: dict[str, str | None]) -> Path:
        """A scratch directory that outlives one attempt of this stage on these inputs.

        It sits under the state directory, named by :meth:`cache_key` over the config and the
        content hashes of ``inputs`` (name → path), so a retry of the same work finds what a
        failed attempt left there (e.g. checkpoints) and any change of code version, config
        or data starts from an empty one.
        """
        fingerprints = {name: content_hash(path) if path else "" for name, path in inputs.items()}
        path = state_dir() / "work" / self.name / self.cache_key(config, fingerprints)
        path.mkdir(parents=True, exist_ok=True)
        return path


STAGES: dict[str, StageSpec] = {}


def stage(
    name: str, *, version: str, config: type[StageConfig], resources: Resources = Resources()
) -> Callable[[F], F]:
    """Register the decorated function as stage ``name``."""

    def register(func: F) -> F:
        if name in STAGES and STAGES[name].func is not func:
            raise ValueError(f"stage {name!r} is registered twice")
        doc = (func.__doc__ or "").strip().splitlines()
        STAGES[name] = StageSpec(name, version, resources, config, func, doc[0] if doc else "")
        func.spec = STAGES[name]  # type: ignore[attr-defined]
        return func

    return register


def get_stage(name: str) -> StageSpec:
    """Look a stage up by name; the error lists the registered stages."""
    import mtforge.stages  # noqa: F401  (registers every stage)

    try:
        return STAGES[name]
    except KeyError:
        raise ConfigError(f"unknown stage {name!r}; stages: {', '.join(sorted(STAGES))}") from None


STAGE_RECORD = "stage.json"


def run_stage(name: str, config: StageConfig | dict[str, Any] | None, *, out_dir: str, **inputs: Any) -> dict[str, float]:
    """Run stage ``name`` writing into ``out_dir``; the one way components call the library.

    Validates ``config``, calls the stage, and records ``stage.json`` (name, version, config,
    stats) in ``out_dir`` so that later steps and the tracker can read what produced it.
    """
    spec = get_stage(name)
    cfg = config if isinstance(config, spec.config) else spec.config.parse(
        config.model_dump() if isinstance(config, StageConfig) else config, where=f"stage {name!r}")
    os.makedirs(out_dir, exist_ok=True)
    stats = spec.func(out_dir=out_dir, config=cfg, **inputs)
    record = {"stage": name, "version": spec.version, "config": cfg.model_dump(mode="json"),
              "stats": stats}
    with open(os.path.join(out_dir, STAGE_RECORD), "w") as f:
        json.dump(record, f, indent=2)
    return stats


def read_stage_record(out_dir: str) -> dict[str, Any]:
    """The ``stage.json`` a stage left in ``out_dir``."""
    with open(os.path.join(out_dir, STAGE_RECORD)) as f:
        return json.load(f)
