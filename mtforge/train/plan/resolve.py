"""The resolved plan: every task with its concrete modules, weight, start step and files, and
the slots of every rank. :func:`resolve_plan` makes it from a :class:`MetaConfig`.

The plan is what the trainer, checkpoints and inference consume; it is frozen and
round-trips through JSON/YAML (:meth:`Plan.save` / :meth:`Plan.load`). Its
:meth:`Plan.fingerprint` identifies everything that shapes modules and allocation, so a
checkpoint from another plan can be refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

from mtforge.errors import ConfigError, InputNotFoundError, UnknownLanguageError
from mtforge.langcodes import format_direction, normalise, parse_direction, parse_directions
from mtforge.train.plan.allocation import Slot, allocate
from mtforge.train.plan.groups import cluster_groups, hand_groups
from mtforge.train.plan.metaconfig import MetaConfig, Sharing, check_structure
from mtforge.train.plan.sharing import embedding_modules, needs_lang_prefix, stack_modules
from mtforge.train.plan.templates import TaskFiles, template_sizes
from mtforge.train.plan.weights import start_steps, task_weights

__all__ = ["Plan", "Slot", "TaskPlan", "resolve_plan"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class TaskPlan(BaseModel):
    """One translation direction: its modules in order, sampling weight, start step and data."""

    model_config = _FROZEN

    src_lang: str
    tgt_lang: str
    encoder: list[str]
    decoder: list[str]
    src_embeddings: str
    tgt_embeddings: str
    lang_prefix: bool
    weight: float
    start_step: int = 0
    size: int | None = None
    src_path: str | None = None
    tgt_path: str | None = None

    @property
    def name(self) -> str:
        """``"eng_Latn-deu_Latn"``."""
        return f"{self.src_lang}-{self.tgt_lang}"

    @property
    def modules(self) -> tuple[str, ...]:
        """Unique module ids in order: source embeddings, encoder stacks, decoder stacks,
        target embeddings."""
        return tuple(dict.fromkeys((self.src_embeddings, *self.encoder, *self.decoder, self.tgt_embeddings)))


class Plan(BaseModel):
    """A resolved modular training run (see module docstring)."""

    model_config = _FROZEN

    languages: list[str]
    groups: dict[str, str]
    enc_layers: list[int]
    dec_layers: list[int]
    enc_sharing: list[Sharing]
    dec_sharing: list[Sharing]
    embeddings: str
    tasks: list[TaskPlan]
    nodes: int
    procs_per_node: int
    ranks: list[list[Slot]]

    @model_validator(mode="after")
    def _ranks_match_layout(self) -> Plan:
        if len(self.ranks) != self.nodes * self.procs_per_node:
            raise ValueError(
                f"ranks lists {len(self.ranks)} ranks but nodes × procs_per_node = {self.nodes * self.procs_per_node}"
            )
        return self

    @property
    def world_size(self) -> int:
        """Number of ranks: ``nodes × procs_per_node``."""
        return self.nodes * self.procs_per_node

    def task(self, name: str) -> TaskPlan:
        """The task of direction ``name`` (any code form). ConfigError when not planned."""
        wanted = format_direction(*parse_direction(name))
        for task in self.tasks:
            if task.name == wanted:
                return task
        planned = ", ".join(t.name for t in self.tasks)
        raise ConfigError(f"task {name!r} ({wanted}) is not in the plan; planned: {planned}")

    def module_layers(self) -> dict[str, int]:
        """Every module id of the plan → its number of layers (0 for embeddings)."""
        layers: dict[str, int] = {}
        for task in self.tasks:
            for module in task.modules:
                side, _, rest = module.partition("/")
                stacks = {"encoder": self.enc_layers, "decoder": self.dec_layers}.get(side)
                layers[module] = 0 if stacks is None else stacks[int(rest.partition("/")[0])]
        return dict(sorted(layers.items()))

    def holders(self) -> dict[str, list[int]]:
        """Module id → sorted ranks that hold it (a slot of theirs uses it), sorted by module id."""
        by_name = {t.name: t for t in self.tasks}
        holding: dict[str, set[int]] = {}
        for rank, slots in enumerate(self.ranks):
            for slot in slots:
                for module in by_name[slot.task].modules:
                    holding.setdefault(module, set()).add(rank)
        return {m: sorted(rs) for m, rs in sorted(holding.items())}

    def fingerprint(self) -> str:
        """sha256 (hex) of the canonical JSON of what shapes modules and allocation: languages,
        groups, layers, sharing, embeddings, each task's name, modules and prefix flag, and
        the ranks' slots. Weights, sizes, start steps and paths do not count."""
        canonical = {
            "languages": self.languages,
            "groups": self.groups,
            "enc_layers": self.enc_layers,
            "dec_layers": self.dec_layers,
            "enc_sharing": [s.value for s in self.enc_sharing],
            "dec_sharing": [s.value for s in self.dec_sharing],
            "embeddings": self.embeddings,
            "tasks": [{"name": t.name, "modules": list(t.modules), "lang_prefix": t.lang_prefix} for t in self.tasks],
            "ranks": [[s.model_dump() for s in slots] for slots in self.ranks],
        }
        return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def check_world_size(self, world_size: int) -> None:
        """Raise :class:`ConfigError` when the job's ``world_size`` differs from the plan's."""
        if world_size != self.world_size:
            raise ConfigError(
                f"plan allocates {self.world_size} ranks ({self.nodes} nodes × {self.procs_per_node} procs) "
                f"but the job has {world_size}"
            )

    def direction(self, src_lang: str, tgt_lang: str) -> tuple[TaskPlan, bool]:
        """The task for ``src_lang → tgt_lang`` (any code form) and whether it is zero-shot.

        A trained direction returns its task and ``False``. An untrained one returns a task
        composed from the plan's sharing patterns (weight 0) and ``True``. Raises
        :class:`ConfigError` for a language not in the plan or when a module the composed
        task needs was never trained (naming the modules).
        """
        try:
            src, tgt = normalise(src_lang), normalise(tgt_lang)
        except UnknownLanguageError as exc:
            raise ConfigError(str(exc)) from None
        for lang, given in ((src, src_lang), (tgt, tgt_lang)):
            if lang not in self.languages:
                raise ConfigError(
                    f"language {given!r} ({lang}) is not in the plan; plan languages: {', '.join(self.languages)}"
                )
        name = format_direction(src, tgt)
        for task in self.tasks:
            if task.name == name:
                return task, False
        layout = _Layout(self.enc_sharing, self.dec_sharing, self.groups, self.embeddings, self.tasks[0].lang_prefix)
        composed = layout.task(src, tgt, weight=0.0)
        trained = {m for t in self.tasks for m in t.modules}
        missing = [m for m in composed.modules if m not in trained]
        if missing:
            raise ConfigError(f"zero-shot direction {name} needs module(s) never trained: {', '.join(missing)}")
        return composed, True

    def save(self, path: str | Path) -> None:
        """Write the plan as YAML (``.yaml``/``.yml``) or JSON (any other suffix)."""
        path = Path(path)
        data = self.model_dump(mode="json")
        if path.suffix in (".yaml", ".yml"):
            path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        else:
            path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        """Read a plan written by :meth:`save`. InputNotFoundError for a missing file."""
        path = Path(path)
        if not path.is_file():
            raise InputNotFoundError(f"plan file {path} does not exist")
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class _Layout:
    """The plan-wide sharing layout every task is composed under."""

    enc_sharing: Sequence[Sharing]
    dec_sharing: Sequence[Sharing]
    groups: Mapping[str, str]
    embeddings: str
    lang_prefix: bool

    def task(self, src: str, tgt: str, *, weight: float, **data: Any) -> TaskPlan:
        """The task ``src → tgt`` with its modules under this layout; ``data`` sets the
        other :class:`TaskPlan` fields (start step, size, paths)."""
        src_emb, tgt_emb = embedding_modules(self.embeddings, src, tgt)
        return TaskPlan(
            src_lang=src,
            tgt_lang=tgt,
            encoder=stack_modules("encoder", self.enc_sharing, src, tgt, self.groups),
            decoder=stack_modules("decoder", self.dec_sharing, src, tgt, self.groups),
            src_embeddings=src_emb,
            tgt_embeddings=tgt_emb,
            lang_prefix=self.lang_prefix,
            weight=weight,
            **data,
        )


def _spellings(meta: MetaConfig) -> tuple[list[str], dict[str, str]]:
    """The meta-config's languages normalised (order kept, repeats dropped) and each FLORES
    code → its spelling in the meta-config (which corpus file names use)."""
    spell: dict[str, str] = {}
    for code in meta.languages:
        spell.setdefault(normalise(code), code)
    if meta.directions != "all":
        for text in meta.directions:
            for code, lang in zip(text.split("-"), parse_direction(text)):
                spell.setdefault(lang, code.strip())
    return list(dict.fromkeys(normalise(c) for c in meta.languages)), spell


def _candidates(
    meta: MetaConfig, languages: list[str], sizes: Mapping[tuple[str, str], int] | None
) -> list[tuple[str, str]]:
    """The explicit directions (checked against ``languages``), or for ``"all"`` every ordered
    pair of distinct ``languages``."""
    if meta.directions != "all":
        directions = parse_directions(meta.directions)
        outside = [(d, lang) for d in directions for lang in d if languages and lang not in languages]
        if outside:
            (src, tgt), lang = outside[0]
            raise ConfigError(
                f"direction {format_direction(src, tgt)} uses {lang}, which is not in languages: {', '.join(languages)}"
            )
        return directions
    if not languages:
        raise ConfigError("directions: 'all' needs the languages listed under 'languages'")
    if meta.corpus is None and sizes is None:
        raise ConfigError("directions: 'all' needs a corpus template or the corpus sizes to find pairs with data")
    return [(a, b) for a in languages for b in languages if a != b]


def _with_data(
    meta: MetaConfig,
    candidates: list[tuple[str, str]],
    spell: Mapping[str, str],
    sizes: Mapping[tuple[str, str], int] | None,
    base_dir: Path,
) -> tuple[dict[tuple[str, str], int | None], dict[tuple[str, str], TaskFiles]]:
    """The planned directions → size (None when unknown), in order, and with a template their
    files. Explicit directions must all have data; ``"all"`` keeps the candidates that do."""
    explicit = meta.directions != "all"
    files: dict[tuple[str, str], TaskFiles] = {}
    if meta.corpus is not None:
        files = template_sizes(meta.corpus, candidates, spell=spell, base_dir=base_dir, required=explicit)
        found: dict[tuple[str, str], int | None] = {d: files[d].size if d in files else 0 for d in candidates}
    elif sizes is not None:
        given = {(normalise(s), normalise(t)): n for (s, t), n in sizes.items()}
        found = {d: given.get(d, 0) for d in candidates}
    else:
        found = dict.fromkeys(candidates)
    empty = [d for d, n in found.items() if n == 0]
    if explicit and empty:
        raise InputNotFoundError(f"task {format_direction(*empty[0])} has no data in the corpus")
    found = {d: n for d, n in found.items() if n != 0}
    if not found:
        raise InputNotFoundError(f"directions 'all': no pair of {', '.join(spell)} has data in the corpus")
    return found, files


def _paths(files: TaskFiles | None) -> dict[str, str | None]:
    """The ``src_path``/``tgt_path`` fields of a task (None without a corpus template)."""
    if files is None:
        return {"src_path": None, "tgt_path": None}
    return {"src_path": str(files.src_path), "tgt_path": str(files.tgt_path)}


def resolve_plan(
    meta: MetaConfig,
    *,
    sizes: dict[tuple[str, str], int] | None = None,
    base_dir: Path | None = None,
) -> Plan:
    """Resolve a meta-config into a :class:`Plan`.

    ``sizes`` (sentence pairs per ``(src, tgt)``, any code form) come from the caller's
    corpus when there is no corpus template; with a template sizes are the files' line
    counts. ``base_dir`` (default: the current directory) anchors relative template and
    distance-matrix paths.

    Raises :class:`ConfigError` for an inconsistent meta-config (stack lists, groups,
    directions outside ``languages``, curriculum, allocation), :class:`InputNotFoundError`
    for a planned direction without data, :class:`CorpusFormatError` for misaligned files.
    """
    check_structure(meta)
    base = Path.cwd() if base_dir is None else Path(base_dir)
    declared, spell = _spellings(meta)
    found, files = _with_data(meta, _candidates(meta, declared, sizes), spell, sizes, base)
    directions = list(found)
    used = {lang for d in directions for lang in d}
    languages = [lang for lang in dict.fromkeys(declared or [lang for d in directions for lang in d]) if lang in used]
    if meta.groups is not None:
        groups = hand_groups(meta.groups, languages)
    elif meta.clustering is not None:
        groups = cluster_groups(meta.clustering.distances, meta.clustering.n_groups, languages, base_dir=base)
    else:
        groups = {}
    prefix = needs_lang_prefix(meta.lang_prefix, meta.dec_sharing)
    layout = _Layout(meta.enc_sharing, meta.dec_sharing, groups, meta.embeddings, prefix)
    weights = task_weights([found[d] for d in directions], meta.temperature)
    steps = start_steps(meta.curriculum, directions)
    tasks = [
        layout.task(*d, weight=weight, start_step=steps[d], size=found[d], **_paths(files.get(d)))
        for d, weight in zip(directions, weights)
    ]
    modules = {t.name: t.modules for t in tasks}
    ranks = allocate(modules, meta.allocation, start_steps={t.name: t.start_step for t in tasks})
    return Plan(
        languages=languages,
        groups=groups,
        enc_layers=meta.enc_layers,
        dec_layers=meta.dec_layers,
        enc_sharing=meta.enc_sharing,
        dec_sharing=meta.dec_sharing,
        embeddings=meta.embeddings,
        tasks=tasks,
        nodes=meta.allocation.nodes,
        procs_per_node=meta.allocation.gpus_per_node,
        ranks=ranks,
    )

