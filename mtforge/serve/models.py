"""Where a served model comes from, and loading only the modules its directions need.

* :func:`resolve_model` turns a model URI into local files: ``models:/<name>@<alias>`` or
  ``models:/<name>/<version>`` (the MLflow registry of ``MLFLOW_TRACKING_URI``), ``runs:/…``
  and other MLflow artifact URIs, a logged MLflow model folder (:mod:`mtforge.mlflow_model`),
  or a train stage output folder with a SentencePiece model.
* :class:`ModuleCache` keeps loaded units (embeddings, encoder and decoder stacks) in an LRU
  bounded by a memory budget; units are shared between the directions (and the models) that
  use them, so a shared decoder is loaded once.
* :class:`ServedModel` is one model: its plan, vocabulary, and the translation of token ids
  for a direction, assembling the direction's network from cached units on each call.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.langcodes import format_direction
from mtforge.model.beam import MAX_LEN_A, MAX_LEN_B, beam_search
from mtforge.model.transformer import ModelConfig, ModularTransformer, build_unit
from mtforge.train import checkpoint
from mtforge.train.data import pad, source_ids
from mtforge.train.plan import Plan, TaskPlan
from mtforge.vocab import Vocab

SPM_FILE = "spm.model"
_MLFLOW_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/", "s3://", "gs://", "http://", "https://")


@dataclass(frozen=True)
class ModelFiles:
    """A model on local disk: its checkpoint folder, SentencePiece file and version label
    (``<name>/<version>`` for a registry model, else the source and checkpoint step)."""

    checkpoint: Path
    vocab: Path
    version: str
    uri: str


def resolve_model(uri: str, *, vocab: str | None = None, cache_dir: str | Path) -> ModelFiles:
    """Local files of the model at ``uri`` (see the module docstring), downloading MLflow
    models into ``cache_dir``. InputNotFoundError or ConfigError naming ``uri`` when it is not
    a model or lacks a vocabulary."""
    if uri.startswith(_MLFLOW_SCHEMES):
        return _from_mlflow(uri, Path(cache_dir))
    path = Path(uri)
    if not path.exists():
        raise InputNotFoundError(f"model {uri} does not exist (expected models:/<name>@<alias>, an MLflow "
                                 "model folder or a train output folder)")
    if (path / "MLmodel").is_file():
        return _from_model_dir(path, uri, version=None)
    ckpt = path / "checkpoint" if (path / "checkpoint").is_dir() else path
    frame = checkpoint.require_frame(ckpt)
    if vocab is None:
        raise ConfigError(f"model {uri} is a checkpoint folder: pass its SentencePiece model too (--vocab)")
    vocab_path = Path(vocab) / SPM_FILE if Path(vocab).is_dir() else Path(vocab)
    if not vocab_path.is_file():
        raise InputNotFoundError(f"SentencePiece model {vocab_path} does not exist")
    return ModelFiles(ckpt, vocab_path, _path_version(path, ckpt, frame), uri)


def _path_version(path: Path, ckpt: Path, frame: dict) -> str:
    """``<folder>@step<N>-<frame hash>``: two checkpoints differ in the label even when their
    folders share a name."""
    digest = hashlib.sha256((ckpt / checkpoint.FRAME).read_bytes()).hexdigest()[:8]
    return f"{path.resolve().name}@step{frame['step']}-{digest}"


def _from_mlflow(uri: str, cache_dir: Path) -> ModelFiles:
    from mtforge.registry import global_tracking_uri
    from mtforge.tracking import tracking_uri

    with global_tracking_uri(tracking_uri()):  # the store mtforge logs to (MLFLOW_TRACKING_URI or its SQLite)
        return _download(uri, cache_dir)


def _download(uri: str, cache_dir: Path) -> ModelFiles:
    import mlflow
    from mlflow.exceptions import MlflowException

    version = _registry_version(uri)
    # A registry version never changes, so its download is reused; other URIs are fetched again.
    key = hashlib.sha256((version or uri).encode()).hexdigest()[:16]
    target = cache_dir / key
    if not (target / "MLmodel").is_file():
        target.mkdir(parents=True, exist_ok=True)
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(target)))
        except MlflowException as exc:
            raise InputNotFoundError(f"model {uri} could not be fetched from MLflow "
                                     f"({mlflow.get_tracking_uri()}): {exc.message}") from None
        if local != target and (local / "MLmodel").is_file():
            target = local
    return _from_model_dir(target, uri, version)


def _registry_version(uri: str) -> str | None:
    """``<name>/<version>`` of a ``models:/<name>@<alias>`` or ``models:/<name>/<version>`` URI."""
    if not uri.startswith("models:/"):
        return None
    import mlflow
    from mlflow.exceptions import MlflowException

    ref = uri[len("models:/"):]
    client = mlflow.MlflowClient()
    try:
        if "@" in ref:
            name, alias = ref.split("@", 1)
            return f"{name}/{client.get_model_version_by_alias(name, alias).version}"
        if "/" in ref:
            name, number = ref.split("/", 1)
            return f"{name}/{client.get_model_version(name, number).version}"
    except MlflowException as exc:
        raise InputNotFoundError(f"model {uri} is not in the registry of {mlflow.get_tracking_uri()}: "
                                 f"{exc.message}") from None
    return None


def _from_model_dir(model_dir: Path, uri: str, version: str | None) -> ModelFiles:
    from mlflow.models import Model

    from mtforge.mlflow_model import CHECKPOINT_ARTIFACT, VOCAB_ARTIFACT

    flavor = Model.load(str(model_dir)).flavors.get("python_function", {})
    artifacts = flavor.get("artifacts") or {}
    missing = [a for a in (CHECKPOINT_ARTIFACT, VOCAB_ARTIFACT) if a not in artifacts]
    if missing:
        raise ConfigError(f"MLflow model {uri} is not an mtforge translation model: it lacks the artifact(s) "
                          f"{', '.join(missing)} (log it with mtforge.mlflow_model.log_translation_model)")
    ckpt = model_dir / artifacts[CHECKPOINT_ARTIFACT]["path"]
    frame = checkpoint.require_frame(ckpt)
    return ModelFiles(ckpt, model_dir / artifacts[VOCAB_ARTIFACT]["path"],
                      version or _path_version(model_dir, ckpt, frame), uri)


def unit_bytes(unit: nn.Module) -> int:
    """Memory of a unit's tensors: its state (quantised packed weights included) and buffers."""
    total = 0
    seen: set[int] = set()

    def add(value: object) -> None:
        nonlocal total
        if isinstance(value, torch.Tensor):
            if id(value) not in seen:
                seen.add(id(value))
                total += value.numel() * value.element_size()
        elif isinstance(value, (tuple, list)):
            for item in value:
                add(item)

    for value in unit.state_dict().values():
        add(value)
    for buffer in unit.buffers():
        add(buffer)
    return total


def quantize_unit(unit: nn.Module) -> nn.Module:
    """int8 dynamic quantisation of the unit's ``nn.Linear`` layers (weights int8, activations
    quantised per batch). Attention's fused projections stay float (PyTorch does not quantise
    them); PyTorch's transformer fast path is switched off, as it cannot run quantised layers."""
    from torch.ao.quantization import quantize_dynamic

    torch.backends.mha.set_fastpath_enabled(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice in favour of torchao
        return quantize_dynamic(unit, {nn.Linear}, dtype=torch.qint8)


class ModuleCache:
    """Loaded units by (checkpoint folder, module id), least recently used first out once their
    memory passes ``budget_bytes``. Thread-safe; ``on_change(loaded units, bytes, "load" | "evict")`` is called
    after each load or eviction (for metrics)."""

    def __init__(self, budget_bytes: int, *, quantize: bool = False,
                 on_change: Callable[[int, int, str], None] | None = None) -> None:
        self.budget_bytes = budget_bytes
        self.quantize = quantize
        self._units: OrderedDict[tuple[str, str], tuple[nn.Module, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._on_change = on_change
        self.loads = 0
        self.evictions = 0

    @property
    def used_bytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._units.values())

    def loaded(self) -> list[tuple[str, str]]:
        """Keys of the loaded units, least recently used first."""
        with self._lock:
            return list(self._units)

    def units(self, files: ModelFiles, cfg: ModelConfig, layers: dict[str, int],
              modules: Iterable[str]) -> dict[str, nn.Module]:
        """The units of ``modules``, loading missing ones from ``files`` and evicting the least
        recently used others to stay within the budget. ConfigError when the modules alone do
        not fit in it (naming their size and the budget)."""
        modules = list(modules)
        with self._lock:
            out = {}
            for module in modules:
                key = (str(files.checkpoint.resolve()), module)
                if key in self._units:
                    self._units.move_to_end(key)
                    out[module] = self._units[key][0]
                    continue
                unit = build_unit(cfg, module, layers[module])
                checkpoint.load_module(files.checkpoint, module, unit)
                unit.eval()
                if self.quantize:
                    unit = quantize_unit(unit)
                self._units[key] = (unit, unit_bytes(unit))
                self.loads += 1
                out[module] = unit
                self._notify("load")
            model_key = str(files.checkpoint.resolve())
            needed = sum(self._units[(model_key, m)][1] for m in modules)
            if needed > self.budget_bytes:
                for module in modules:
                    self._units.pop((model_key, module), None)
                raise ConfigError(f"{', '.join(modules)} of {files.version} need {needed / 2**20:.1f} MiB, more than "
                                  f"the module memory budget of {self.budget_bytes / 2**20:.1f} MiB "
                                  "(raise memory_budget_mb)")
            wanted = {(model_key, m) for m in modules}
            while sum(size for _, size in self._units.values()) > self.budget_bytes:
                victim = next(k for k in self._units if k not in wanted)
                del self._units[victim]
                self.evictions += 1
                self._notify("evict")
            return out

    def _notify(self, event: str) -> None:
        if self._on_change is not None:
            self._on_change(len(self._units), sum(size for _, size in self._units.values()), event)


@dataclass(frozen=True)
class Route:
    """A servable direction of a model: its task (modules) and whether it is zero-shot."""

    task: TaskPlan
    zero_shot: bool

    @property
    def name(self) -> str:
        return format_direction(self.task.src_lang, self.task.tgt_lang)


class ServedModel:
    """One model version: plan, vocabulary and config read at construction; module weights
    come from ``cache`` when a direction is translated."""

    def __init__(self, files: ModelFiles, cache: ModuleCache, *, max_sentence_tokens: int = 200) -> None:
        frame = checkpoint.require_frame(files.checkpoint)
        self.files = files
        self.version = files.version
        self.plan = Plan.model_validate(frame["plan"])
        self.cfg = ModelConfig(**frame["model"])
        self.vocab = Vocab(files.vocab)
        self.cache = cache
        # The decoder's output (up to MAX_LEN_A × source + MAX_LEN_B, after the tag) must fit
        # the position table too.
        self.max_source_tokens = min(max_sentence_tokens, int((self.cfg.max_positions - 1 - MAX_LEN_B) / MAX_LEN_A))
        if self.max_source_tokens < 4:
            raise ConfigError(f"model {files.version} has only {self.cfg.max_positions} positions: too few to serve")
        self._layers = self.plan.module_layers()
        self._routes: dict[tuple[str, str], Route] = {}

    @property
    def trained_directions(self) -> list[str]:
        """``src-tgt`` FLORES codes of every trained direction."""
        return [task.name for task in self.plan.tasks]

    @property
    def source_languages(self) -> list[str]:
        return sorted({task.src_lang for task in self.plan.tasks})

    def route(self, src_lang: str, tgt_lang: str) -> Route:
        """The route for a direction (trained, or zero-shot over trained modules); ConfigError
        naming the direction and the trained ones when the model cannot translate it."""
        key = (src_lang, tgt_lang)
        if key not in self._routes:
            try:
                task, zero_shot = self.plan.direction(src_lang, tgt_lang)
            except ConfigError as exc:
                raise ConfigError(f"model {self.version} cannot translate {format_direction(src_lang, tgt_lang)}: "
                                  f"{exc}. Supported directions: {', '.join(self.trained_directions)}") from None
            self._routes[key] = Route(task, zero_shot)
        return self._routes[key]

    def load(self, route: Route) -> None:
        """Load (or refresh in the LRU) the units of ``route``."""
        self.cache.units(self.files, self.cfg, self._layers, route.task.modules)

    @property
    def max_sentence_chars(self) -> int:
        """Sentences are cut (at spaces) to this many characters before translation, so that
        none is truncated: a character gives at most one piece, plus a leading ``▁`` and the
        language prefix."""
        return self.max_source_tokens - 2

    def encode(self, route: Route, sentences: list[str]) -> list[list[int]]:
        """Source piece ids of ``sentences`` for ``route`` (with the language prefix when the
        model uses one; empty sentences become ``<unk>``), at most ``max_source_tokens``."""
        ids = source_ids(self.vocab, route.task, sentences, self.max_source_tokens)
        return [seq or [self.vocab.sp.unk_id()] for seq in ids]

    def translate_ids(self, route: Route, batch: list[list[int]], *, beam_size: int) -> tuple[list[str], int]:
        """Beam-search translations of one batch of source ids (in order) and the number of
        output pieces produced; runs under ``torch.inference_mode``."""
        units = self.cache.units(self.files, self.cfg, self._layers, route.task.modules)
        model = ModularTransformer.from_units(self.cfg, units)
        with torch.inference_mode():
            hyps = beam_search(model, route.task, pad(batch), self.vocab.tag_id(route.task.tgt_lang),
                               beam_size=beam_size)
        return self.vocab.decode(hyps), sum(len(h) for h in hyps)
