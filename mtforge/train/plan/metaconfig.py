"""The meta-config: the user's short description of a modular many-to-many training run.

A meta-config names languages and directions, where the corpora are (path templates), how
the encoder and decoder stacks are shared (MAMMOTH Appendix B), how languages are grouped,
how tasks are weighted and introduced (curriculum), and the hardware to allocate tasks to.
:func:`mtforge.train.plan.resolve_plan` turns it into a concrete :class:`~.resolve.Plan`.

* :class:`MetaConfig` and its parts are pydantic models with ``extra="forbid"``.
* :func:`load_meta_config` reads one from a YAML file or a dict and turns every schema or
  structure error into a :class:`ConfigError` naming the file and the key at fault.
* :func:`preset` gives the paper's architecture presets as meta-config fields.
"""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mtforge.errors import ConfigError, InputNotFoundError


class Sharing(str, Enum):
    """How one encoder or decoder stack is shared between tasks (MAMMOTH Appendix B).

    ``GROUP`` and ``LANGUAGE`` mean the source side in the encoder and the target side in
    the decoder.
    """

    FULL = "FULL"
    GROUP = "GROUP"
    SRC_GROUP = "SRC_GROUP"
    TGT_GROUP = "TGT_GROUP"
    LANGUAGE = "LANGUAGE"
    SRC_LANGUAGE = "SRC_LANGUAGE"
    TGT_LANGUAGE = "TGT_LANGUAGE"


#: Patterns that need language groups.
GROUP_PATTERNS = frozenset({Sharing.GROUP, Sharing.SRC_GROUP, Sharing.TGT_GROUP})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CorpusTemplate(_Model):
    """Path templates of a task's source- and target-side text files (MAMMOTH Appendix A).

    Directional mode variables: ``{src_lang}``, ``{tgt_lang}``, ``{lang_pair}``. Symmetric
    mode (one pair of files serves both directions): ``{lang_a}``, ``{lang_b}``,
    ``{side_a}``, ``{side_b}``, ``{sorted_pair}``. Relative paths resolve against the
    ``base_dir`` given to ``resolve_plan``.
    """

    mode: Literal["directional", "symmetric"] = "directional"
    src: str
    tgt: str


class Clustering(_Model):
    """Language groups by average-linkage hierarchical clustering of a distance matrix."""

    distances: str | dict[str, dict[str, float]] = Field(
        description="TSV/CSV square matrix with a header row of language codes, or an inline mapping"
    )
    n_groups: int = Field(ge=1, description="number of groups to cut the dendrogram into")


class AllocationConfig(_Model):
    """The hardware tasks are allocated to, and the weights of the allocation cost."""

    nodes: int = Field(1, ge=1)
    gpus_per_node: int = Field(1, ge=1, description="ranks (processes) per node")
    slots_per_gpu: int | None = Field(None, ge=1, description="most tasks one rank may hold (None: no limit)")
    ranks: list[list[str]] | None = Field(None, description="manual allocation: task directions per global rank")
    node_weight: float = Field(10.0, ge=0, description="cost of each extra node holding a module")
    device_weight: float = Field(1.0, ge=0, description="cost of each extra rank holding a module")
    # Each rank trains one of its tasks per step, so a rank holding more tasks trains each of
    # them less often: uneven task counts skew the task weights. Balance weighs as much as
    # keeping a module on one node.
    balance_weight: float = Field(10.0, ge=0, description="cost of uneven task counts (squared deviation)")
    seed: int = 1


class MetaConfig(_Model):
    """A modular many-to-many training run, as the user writes it (see module docstring)."""

    languages: list[str] = Field(default_factory=list, description="any code form; empty = the directions' languages")
    directions: list[str] | Literal["all"] = Field(
        "all", description="'src-tgt' list, or 'all' ordered pairs of distinct languages that have data"
    )
    corpus: CorpusTemplate | None = None
    enc_layers: list[int] = Field(default_factory=lambda: [3], description="layers per encoder stack")
    dec_layers: list[int] = Field(default_factory=lambda: [3], description="layers per decoder stack")
    enc_sharing: list[Sharing] = Field(default_factory=lambda: [Sharing.FULL])
    dec_sharing: list[Sharing] = Field(default_factory=lambda: [Sharing.LANGUAGE])
    embeddings: Literal["shared", "language"] = "shared"
    lang_prefix: Literal["auto", "always", "never"] = "auto"
    groups: dict[str, list[str]] | None = Field(None, description="group name → languages")
    clustering: Clustering | None = None
    temperature: float = Field(1.0, gt=0, description="task weight ∝ (size/total) ** (1/temperature)")
    curriculum: dict[str, int] = Field(default_factory=dict, description="direction → step it is introduced at")
    allocation: AllocationConfig = Field(default_factory=AllocationConfig)


def check_structure(meta: MetaConfig) -> None:
    """Check what the schema alone cannot: stack lists agree, layer counts are ≥ 1, and
    group-shared stacks have groups (by hand or by clustering, not both).

    Raises :class:`ConfigError` naming the keys at fault.
    """
    for side in ("enc", "dec"):
        layers, sharing = getattr(meta, f"{side}_layers"), getattr(meta, f"{side}_sharing")
        if not layers:
            raise ConfigError(f"{side}_layers is empty: give at least one stack, e.g. [3]")
        if len(layers) != len(sharing):
            raise ConfigError(
                f"{side}_layers {layers} has {len(layers)} stacks but {side}_sharing "
                f"{[s.value for s in sharing]} has {len(sharing)}: give one sharing pattern per stack"
            )
        for i, n in enumerate(layers):
            if n < 1:
                raise ConfigError(f"{side}_layers[{i}] is {n}: every stack needs at least 1 layer")
    if meta.groups is not None and meta.clustering is not None:
        raise ConfigError("both 'groups' and 'clustering' are given: define language groups one way")
    grouped = [s.value for s in (*meta.enc_sharing, *meta.dec_sharing) if s in GROUP_PATTERNS]
    if grouped and meta.groups is None and meta.clustering is None:
        raise ConfigError(
            f"sharing pattern {grouped[0]} needs language groups: give 'groups' (name → languages) "
            "or 'clustering' (a distance matrix and n_groups)"
        )


def _validation_error(where: str, exc: ValidationError) -> ConfigError:
    """A ConfigError naming ``where`` and, per problem, the dotted key, the message and the value."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"]) or "(top level)"
        lines.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
    return ConfigError(f"invalid meta-config {where}: " + "; ".join(lines))


def load_meta_config(source: str | Path | dict[str, Any]) -> MetaConfig:
    """Read a meta-config from a YAML file path or a dict, validated and structure-checked.

    Raises :class:`InputNotFoundError` for a missing file and :class:`ConfigError` (naming
    the file and key) for bad YAML, an unknown or ill-typed key, or a failed
    :func:`check_structure`.
    """
    if isinstance(source, dict):
        where, data = "(dict)", source
    else:
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise InputNotFoundError(f"meta-config file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"meta-config {path} is not valid YAML: {exc}") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"meta-config {path} must be a mapping of keys, got {type(data).__name__}")
    try:
        meta = MetaConfig.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(where, exc) from None
    try:
        check_structure(meta)
    except ConfigError as exc:
        raise ConfigError(f"meta-config {where}: {exc}") from None
    return meta


#: The paper's architecture presets (see :func:`preset`).
PRESETS = ("full", "independent", "shared", "partial")


def preset(name: str, *, encoder_layers: int, decoder_layers: int) -> dict[str, Any]:
    """The meta-config fields (layers and sharing) of one of the paper's architectures.

    * ``full``: one encoder and one decoder for all (FULL/FULL; the target-language prefix
      follows from ``lang_prefix: auto``);
    * ``independent``: language-specific encoders and decoders (LANGUAGE/LANGUAGE);
    * ``shared``: one shared encoder, target-specific decoders (FULL/LANGUAGE);
    * ``partial``: ``ceil(L/2)`` source-specific encoder layers then ``L//2`` shared ones
      (``L = encoder_layers`` ≥ 2), target-specific decoders.

    Values are plain strings and ints, ready to merge into a YAML meta-config. Raises
    :class:`ConfigError` for an unknown name (listing :data:`PRESETS`) or bad layer counts.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown architecture preset {name!r}: choose one of {', '.join(PRESETS)}")
    for key, value in (("encoder_layers", encoder_layers), ("decoder_layers", decoder_layers)):
        if value < 1:
            raise ConfigError(f"preset {name!r}: {key} must be ≥ 1, got {value}")
    full, language = Sharing.FULL.value, Sharing.LANGUAGE.value
    dec = {"dec_layers": [decoder_layers]}
    if name == "partial":
        if encoder_layers < 2:
            raise ConfigError(
                f"preset 'partial' splits the encoder into language-specific and shared layers: "
                f"encoder_layers must be ≥ 2, got {encoder_layers}"
            )
        enc = {
            "enc_layers": [math.ceil(encoder_layers / 2), encoder_layers // 2],
            "enc_sharing": [language, full],
        }
    else:
        enc = {"enc_layers": [encoder_layers], "enc_sharing": [language if name == "independent" else full]}
    dec["dec_sharing"] = [full if name == "full" else language]
    return {**enc, **dec}
