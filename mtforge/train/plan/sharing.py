"""Sharing patterns → concrete module ids (MAMMOTH Appendix B).

A task ``src → tgt`` uses, per encoder stack ``i``, the module ``encoder/<i>/<name>`` and per
decoder stack ``decoder/<i>/<name>``, where the stack's pattern decides ``name``:

=================  ======================================  ======================================
pattern            encoder stack                           decoder stack
=================  ======================================  ======================================
FULL               ``full``                                ``full``
LANGUAGE           source language                         target language
SRC_LANGUAGE       source language                         source language
TGT_LANGUAGE       target language                         target language
GROUP              group of the source                     group of the target
SRC_GROUP          group of the source                     group of the source
TGT_GROUP          group of the target                     group of the target
=================  ======================================  ======================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from mtforge.errors import ConfigError
from mtforge.train.plan.metaconfig import Sharing

Side = Literal["encoder", "decoder"]

#: Name of a fully shared module.
FULL_NAME = "full"

#: Which language of the task a pattern follows, per side ("src" or "tgt"); FULL follows none.
_FOLLOWS: dict[Sharing, dict[str, str]] = {
    Sharing.LANGUAGE: {"encoder": "src", "decoder": "tgt"},
    Sharing.GROUP: {"encoder": "src", "decoder": "tgt"},
    Sharing.SRC_LANGUAGE: {"encoder": "src", "decoder": "src"},
    Sharing.SRC_GROUP: {"encoder": "src", "decoder": "src"},
    Sharing.TGT_LANGUAGE: {"encoder": "tgt", "decoder": "tgt"},
    Sharing.TGT_GROUP: {"encoder": "tgt", "decoder": "tgt"},
}
_BY_GROUP = frozenset({Sharing.GROUP, Sharing.SRC_GROUP, Sharing.TGT_GROUP})


def module_name(pattern: Sharing, side: Side, src: str, tgt: str, groups: Mapping[str, str]) -> str:
    """The name part of the module a ``pattern`` stack on ``side`` gives task ``src → tgt``.

    ``groups`` maps language → group name. Raises :class:`ConfigError` when a group pattern
    meets a language that is in no group.
    """
    if pattern == Sharing.FULL:
        return FULL_NAME
    lang = src if _FOLLOWS[pattern][side] == "src" else tgt
    if pattern not in _BY_GROUP:
        return lang
    if lang not in groups:
        raise ConfigError(f"sharing pattern {pattern.value} needs the group of {lang}, which is in no group")
    return groups[lang]


def stack_modules(
    side: Side, patterns: Sequence[Sharing], src: str, tgt: str, groups: Mapping[str, str]
) -> list[str]:
    """Module ids ``"<side>/<stack index>/<name>"`` of task ``src → tgt``, one per stack."""
    return [f"{side}/{i}/{module_name(p, side, src, tgt, groups)}" for i, p in enumerate(patterns)]


def embedding_modules(embeddings: str, src: str, tgt: str) -> tuple[str, str]:
    """Source and target embedding module ids: ``embeddings/shared`` or ``embeddings/<lang>``."""
    if embeddings == "shared":
        return "embeddings/shared", "embeddings/shared"
    return f"embeddings/{src}", f"embeddings/{tgt}"


def needs_lang_prefix(mode: str, dec_sharing: Sequence[Sharing]) -> bool:
    """Whether the source is prefixed with the target-language tag (MAMMOTH Fig. 2c).

    ``always``/``never`` are taken as given. ``auto`` prefixes when no decoder stack is
    specific to the target language (LANGUAGE or TGT_LANGUAGE): a decoder shared by several
    target languages (FULL, or a group) is only told which to produce by the tag.
    """
    if mode != "auto":
        return mode == "always"
    return not any(p in (Sharing.LANGUAGE, Sharing.TGT_LANGUAGE) for p in dec_sharing)
