"""Run a pipeline on this machine with KFP's local runner (``kfp.local``, SubprocessRunner).

The same pipeline function that compiles for a cluster runs here, task by task, in
subprocesses of this Python environment. Caching is on by default; before the run every
input corpus is fingerprinted and the fingerprints are passed as pipeline parameters, so
the cache follows data content (see ``FINGERPRINTS`` in each pipeline module).
"""

from __future__ import annotations

import logging
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml
from kfp import local

import pipelines
from mtforge.corpus import fingerprint_source
from mtforge.errors import ConfigError, StageFailedError
from mtforge.stage import parse_sets

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CONFIG_DIR = Path(__file__).resolve().parent / "configs"
BOOLEAN_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False,
                 "off": False}


def _integer(value: Any) -> int:
    """An int from an int, a whole float or its text; anything else (``3.5``, ``True``) is an error."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value)


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    return float(value)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    try:
        return BOOLEAN_WORDS[str(value).strip().lower()]
    except KeyError:
        raise ValueError(value) from None


#: KFP parameter type → converter from a config-file or ``--set`` value; a converter raises
#: ValueError for a value of the wrong type instead of coercing it.
KFP_TYPES: dict[str, Callable[[Any], Any]] = {"String": str, "Integer": _integer, "Float": _float, "Boolean": _boolean}


@dataclass
class TaskEvent:
    """What happened to one task in a local run."""

    name: str
    status: str = "running"  # running | executed | cached | failed
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0


@dataclass
class RunReport:
    """The outcome of :func:`run_pipeline`."""

    pipeline: str
    params: dict[str, Any]
    tasks: dict[str, TaskEvent]
    output: Any
    seconds: float

    @property
    def executed(self) -> list[str]:
        return [t.name for t in self.tasks.values() if t.status == "executed"]

    @property
    def cached(self) -> list[str]:
        return [t.name for t in self.tasks.values() if t.status == "cached"]


def pipeline_inputs(module) -> dict[str, tuple[str, Any, str]]:
    """Parameter name → (KFP type, default, description) of a pipeline module's ``pipeline``."""
    spec = module.pipeline.component_spec
    return {name: (inp.type, inp.default, inp.description or "") for name, inp in (spec.inputs or {}).items()}


def read_config_file(pipeline: str, config: str) -> dict[str, Any]:
    """Values from a YAML file, or from ``pipelines/configs/<pipeline>-<config>.yaml`` given a bare name."""
    path = Path(config)
    if not path.exists():
        named = CONFIG_DIR / f"{pipeline}-{config}.yaml"
        if not named.exists():
            known = sorted(p.stem.removeprefix(f"{pipeline}-") for p in CONFIG_DIR.glob(f"{pipeline}-*.yaml"))
            raise ConfigError(f"config {config!r} is neither a file nor a named config of {pipeline!r} "
                              f"(named configs: {', '.join(known) or 'none'})")
        path = named
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of parameter: value, got {type(values).__name__}")
    return {str(k): v for k, v in values.items()}


def resolve_params(name: str, config: str | None = None, sets: list[str] | None = None,
                   fingerprint: bool = True, local: bool = True) -> dict[str, Any]:
    """Pipeline defaults ← local defaults (``local``: paths on this machine) ← config file ←
    ``--set`` values, type-checked, plus fingerprints of the input corpora (``fingerprint``).
    Unknown keys raise an error listing the valid keys."""
    module = pipelines.load(name)
    inputs = pipeline_inputs(module)
    given: dict[str, Any] = {}
    origin: dict[str, str] = {}  # key → where its value came from, for error messages
    sources = [("local defaults", module.local_defaults() if local and hasattr(module, "local_defaults") else {}),
               (f"config {config}", read_config_file(name, config) if config else {}),
               ("--set", parse_sets(sets or []))]
    for where, values in sources:
        given.update(values)
        origin.update(dict.fromkeys(values, where))
    unknown = sorted(set(given) - set(inputs))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {', '.join(map(repr, unknown))} for pipeline {name!r}; "
                          f"valid keys: {', '.join(sorted(inputs))}")
    params = {}
    for key, (kfp_type, default, _) in inputs.items():
        value = given.get(key, default)
        if kfp_type == "String" and isinstance(value, (dict, list)):
            value = yaml.safe_dump(value, sort_keys=False)  # a config section given as YAML in a config file
        try:
            params[key] = KFP_TYPES.get(kfp_type, str)(value)
        except (TypeError, ValueError):
            raise ConfigError(f"parameter {key!r} of pipeline {name!r} expects {kfp_type}, got {value!r} "
                              f"(from {origin.get(key, 'the default')})") from None
    if fingerprint:
        for key, how in getattr(module, "FINGERPRINTS", {}).items():
            if given.get(key):
                continue
            if callable(how):
                params[key] = how(params)
                continue
            source_key, split_key, *replacement = how
            if replacement and params[replacement[0]]:
                params[key] = fingerprint_source(params[replacement[0]])
            else:
                params[key] = fingerprint_source(params[source_key], params[split_key] or None)
    return params


class _Progress(logging.Filter):
    """Watches kfp.local's log records to follow tasks (start, cache hit, finish).

    A task inside a ``dsl.ParallelFor`` runs once per item under the same KFP name; each run
    is a separate event, keyed ``<name>``, ``<name>#2``, ``<name>#3``, … in start order.
    """

    STARTED = re.compile(r"Executing task '([^']+)'")
    CACHED = re.compile(r"Task '?([^' ]+)'? cache hit")
    FINISHED = re.compile(r"Task '([^']+)' finished with status (\w+)")

    def __init__(self, names: dict[str, str], echo: Callable[[str], None], *, loops: bool = False) -> None:
        super().__init__()
        self.names, self.echo = names, echo
        # With loops the number of task runs is known only at run time: "[done/tasks+]".
        self.total = f"{len(names)}+" if loops else str(len(names))
        self.tasks: dict[str, TaskEvent] = {}

    def _new(self, key: str, status: str = "running") -> TaskEvent:
        """A new event for the task KFP calls ``key``, under its display name (numbered on repeats)."""
        runs = sum(1 for k in self.tasks if k.partition("#")[0] == key)
        suffix = f"#{runs + 1}" if runs else ""
        task = self.tasks[key + suffix] = TaskEvent(self.names.get(key, key) + suffix, status)
        return task

    def _running(self, key: str) -> TaskEvent:
        """The earliest still-running event of ``key`` (a new one if none is running)."""
        running = [t for k, t in self.tasks.items() if k.partition("#")[0] == key and t.status == "running"]
        return running[0] if running else self._new(key)

    def _done(self) -> int:
        return sum(t.status != "running" for t in self.tasks.values())

    def filter(self, record: logging.LogRecord) -> bool:
        message = ANSI.sub("", record.getMessage())
        if m := self.CACHED.search(message):
            task = self._new(m[1], "cached")  # a cache hit is never logged as started
            self.echo(f"[{self._done()}/{self.total}] {task.name}: cached")
        elif m := self.STARTED.search(message):
            task = self._new(m[1])
            self.echo(f"[{self._done()}/{self.total}] {task.name}: running")
        elif m := self.FINISHED.search(message):
            task = self._running(m[1])
            task.seconds = time.monotonic() - task.started
            task.status = "executed" if m[2] == "SUCCESS" else "failed"
            self.echo(f"[{self._done()}/{self.total}] {task.name}: {task.status} in {task.seconds:.1f}s")
        return True


class _Tail:
    """A stdout wrapper that keeps the last lines written (the failing task's error)."""

    def __init__(self, stream, keep: int = 60) -> None:
        self.stream, self.keep, self.lines = stream, keep, [""]

    def write(self, text: str) -> int:
        parts = text.split("\n")
        self.lines[-1] += parts[0]
        self.lines.extend(parts[1:])
        del self.lines[: -self.keep]
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def error(self) -> str:
        text = [ANSI.sub("", line) for line in self.lines if line.strip()]
        starts = [i for i, line in enumerate(text) if line.startswith("Traceback")]
        return "\n".join(text[starts[-1]:] if starts else text[-15:])


def task_names(spec: Any) -> dict[str, str]:
    """KFP task name → display name, for the pipeline's tasks and those inside its loops and
    conditions (sub-DAGs), without the sub-DAG tasks themselves."""
    names: dict[str, str] = {}
    for dag in [spec.root.dag, *(c.dag for c in spec.components.values() if c.HasField("dag"))]:
        for key, task in dag.tasks.items():
            if not spec.components[task.component_ref.name].HasField("dag"):
                names[key] = task.task_info.name or key
    return names


def init_local(state_dir: Path, caching: bool = True) -> None:
    """Point kfp.local at this project's state directory."""
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(state_dir / "kfp" / "outputs"),
               raise_on_error=True, enable_caching=caching, cache_root=str(state_dir / "kfp" / "cache"))


def run_pipeline(name: str, params: dict[str, Any], state_dir: Path, *, caching: bool = True,
                 echo: Callable[[str], None] = print) -> RunReport:
    """Run pipeline ``name`` locally; raise :class:`StageFailedError` naming the failed task."""
    module = pipelines.load(name)
    init_local(state_dir, caching)
    spec = module.pipeline.pipeline_spec
    progress = _Progress(task_names(spec), echo, loops=any(c.HasField("dag") for c in spec.components.values()))
    root = logging.getLogger()
    # kfp.local reports cache hits with logging.info outside its own logger context: lower the
    # level so the filter sees them, with a silent handler so logging.info does not basicConfig().
    level, quiet = root.level, logging.NullHandler()
    root.setLevel(logging.INFO)
    root.addHandler(quiet)
    root.addFilter(progress)
    tail = _Tail(sys.stdout)
    sys.stdout = tail
    start = time.monotonic()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
            output = module.pipeline(**params)
    except RuntimeError as exc:
        failed = [t.name for t in progress.tasks.values() if t.status == "failed"] or ["?"]
        raise StageFailedError(f"pipeline {name!r} failed in task {failed[0]!r}:\n{tail.error() or exc}\n"
                               f"Fix the cause and run again: finished tasks are reused from the cache.") from None
    finally:
        sys.stdout = tail.stream
        root.removeFilter(progress)
        root.removeHandler(quiet)
        root.setLevel(level)
    return RunReport(name, params, progress.tasks, getattr(output, "output", output), time.monotonic() - start)
