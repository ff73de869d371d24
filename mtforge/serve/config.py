"""Settings of ``mtforge serve``: defaults, then ``MTFORGE_SERVE_<FIELD>`` environment
variables, then command-line flags (each later source wins).

Every field is documented in :class:`ServeConfig`; an unknown ``MTFORGE_SERVE_*`` variable or
a value of the wrong type is a :class:`~mtforge.errors.ConfigError` naming it, so a typo in a
Deployment's env is caught at start rather than ignored.
"""

from __future__ import annotations

import math
import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mtforge.errors import ConfigError

ENV_PREFIX = "MTFORGE_SERVE_"


class ServeConfig(BaseModel):
    """What one server process loads, how it batches and caches, and its input limits."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="model A: models:/<name>@<alias> or models:/<name>/<version> (MLflow registry), "
                                   "runs:/<run>/<path>, a logged MLflow model folder, or a train output folder "
                                   "(holds checkpoint/; needs vocab)")
    vocab: str | None = Field(None, description="SentencePiece model (file, or spm folder) for a train-folder model")
    model_b: str | None = Field(None, description="model B of an A/B experiment (same forms as model)")
    vocab_b: str | None = Field(None, description="SentencePiece model of a train-folder model B")
    ab_experiment: str = Field("default", description="experiment name: salts the post→variant hash")
    ab_share_b: float = Field(0.5, ge=0.0, le=1.0, description="share of posts routed to model B")
    ab_store: str | None = Field(None, description="SQLite file of the A/B event store (impressions, clicks, "
                                                   "engagement); needed for POST /events")
    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8080, ge=0, le=65535, description="port to listen on (0: any free port)")
    cache_dir: str = Field(str(Path.home() / ".cache" / "mtforge" / "serve"),
                           description="where models from MLflow are downloaded")
    lid: str = Field("py3langid", description="language identifier backend (py3langid, lingua)")
    lid_min_confidence: float = Field(0.5, ge=0.0, le=1.0,
                                      description="below this LID confidence a text without source_language "
                                                  "is returned untranslated")
    preload: list[str] = Field(default_factory=list, description="directions to load before /readyz turns ready "
                                                                 "(default: the model's first trained direction)")
    memory_budget_mb: float = Field(1024.0, gt=0, description="memory for loaded modules; least recently used "
                                                               "modules are unloaded beyond it")
    quantize: bool = Field(False, description="int8 dynamic quantisation of the linear layers (CPU)")
    threads: int | None = Field(None, ge=1, description="torch threads (default: the container's CPU limit)")
    beam_size: int = Field(4, ge=1, le=16, description="beam width")
    max_sentence_tokens: int = Field(200, ge=8, description="source pieces kept per sentence")
    batching: bool = Field(True, description="micro-batch sentences of concurrent requests (off: one request "
                                             "per forward pass)")
    max_batch_tokens: int = Field(6000, ge=64, description="padded source tokens per batch")
    max_batch_sentences: int = Field(64, ge=1, description="sentences per batch")
    max_wait_ms: float = Field(10.0, ge=0.0, description="how long the first sentence of a batch waits for more")
    cache_entries: int = Field(50_000, ge=0, description="in-process LRU of translated sentences (0: off)")
    redis_url: str | None = Field(None, description="redis://… shared translation cache behind the LRU")
    redis_ttl_s: int = Field(7 * 24 * 3600, ge=1, description="expiry of Redis cache entries")
    max_texts: int = Field(64, ge=1, description="texts per request (more: 413)")
    max_chars: int = Field(5000, ge=1, description="characters per text (more: 413)")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="request body size (more: 413)")
    drift_reference: str | None = Field(None, description="drift reference JSON (mtforge serve-reference)")
    drift_window: int = Field(1000, ge=10, description="recent texts the drift metrics compare")
    shutdown_timeout_s: float = Field(30.0, ge=0.0, description="how long shutdown waits for in-flight requests")
    log_level: str = Field("info", description="log level of the JSON logs")

    @model_validator(mode="after")
    def _check(self) -> "ServeConfig":
        if self.model_b is None and self.vocab_b is not None:
            raise ValueError("vocab_b is set but model_b is not")
        return self


def comma_list(text: str) -> list[str]:
    """``"a, b,,c"`` → ``["a", "b", "c"]``: how list settings are written in flags and variables."""
    return [item.strip() for item in text.split(",") if item.strip()]


def load_serve_config(overrides: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> ServeConfig:
    """The settings: :class:`ServeConfig` defaults < ``MTFORGE_SERVE_*`` variables of
    ``environ`` (default ``os.environ``) < ``overrides`` (flags; ``None`` values are unset).

    ConfigError naming the variable or field for an unknown ``MTFORGE_SERVE_*`` variable, a
    missing model or a bad value.
    """
    environ = os.environ if environ is None else environ
    fields = ServeConfig.model_fields
    values: dict[str, Any] = {}
    for key, text in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX):].lower()
        if name not in fields:
            raise ConfigError(f"unknown setting {key}; settings: "
                              f"{', '.join(ENV_PREFIX + f.upper() for f in fields)}")
        values[name] = comma_list(text) if typing.get_origin(fields[name].annotation) is list else text
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "model" not in values:
        raise ConfigError(f"no model to serve: pass --model or set {ENV_PREFIX}MODEL "
                          "(models:/<name>@champion, a logged MLflow model or a train output folder)")
    try:
        return ServeConfig.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']} (got {e.get('input')!r})"
                             for e in exc.errors())
        raise ConfigError(f"invalid serve settings: {problems}") from None


def container_cpus() -> int:
    """CPUs this process may use: the cgroup v2 (or v1) CPU quota of its container rounded up,
    else the CPUs of its affinity mask — what ``threads`` defaults to."""
    available = len(os.sched_getaffinity(0))
    quota = _cgroup_quota()
    return max(1, min(available, math.ceil(quota))) if quota else available


def _cgroup_quota() -> float | None:
    v2 = Path("/sys/fs/cgroup/cpu.max")
    try:
        if v2.exists():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        v1_quota, v1_period = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
        if v1_quota.exists() and v1_period.exists():
            quota_us = int(v1_quota.read_text())
            return None if quota_us <= 0 else quota_us / int(v1_period.read_text())
    except (OSError, ValueError):
        return None
    return None
