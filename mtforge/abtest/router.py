"""Deterministic assignment of posts to the variants of an online A/B test.

Variant ``A`` is the production translation model, ``B`` the candidate. A post's variant is a
pure function of ``(experiment, post_id, share_b)``: every server that translates the post
serves it from the same model, with no shared state. The post is hashed with SHA-256 salted
by the experiment name, so two experiments split the same posts independently of each
other, and raising ``share_b`` only moves posts from A to B (never from B to A).
"""

from __future__ import annotations

import hashlib
import numbers
from dataclasses import dataclass

from mtforge.errors import ConfigError

#: The variants: production (``A``) and candidate (``B``).
VARIANTS = ("A", "B")


def bucket(post_id: str, *, experiment: str) -> float:
    """The post's uniform number in ``[0, 1)``: the first 8 bytes of
    ``sha256(f"{experiment}:{post_id}")`` as a big-endian integer divided by 2**64."""
    digest = hashlib.sha256(f"{experiment}:{post_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def check_share(share_b: float) -> float:
    """``share_b`` as a float when it lies in ``[0, 1]``; :class:`ConfigError` naming it otherwise."""
    if isinstance(share_b, bool) or not isinstance(share_b, numbers.Real) or not 0.0 <= share_b <= 1.0:
        raise ConfigError(f"share_b must be a number in [0, 1], got {share_b!r}")
    return float(share_b)


def assign(post_id: str, *, experiment: str, share_b: float) -> str:
    """``"B"`` when the post's :func:`bucket` is below ``share_b``, else ``"A"``.

    ``share_b = 0`` sends every post to A and ``share_b = 1`` every post to B. Raises
    :class:`ConfigError` when ``share_b`` is outside ``[0, 1]``.
    """
    return "B" if bucket(post_id, experiment=experiment) < check_share(share_b) else "A"


@dataclass(frozen=True)
class Experiment:
    """An A/B experiment: its name (the hash salt) and the share of posts served by B.

    Raises :class:`ConfigError` on an empty name or a ``share_b`` outside ``[0, 1]``.
    """

    name: str
    share_b: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"experiment name must be a non-empty string, got {self.name!r}")
        check_share(self.share_b)

    def variant(self, post_id: str) -> str:
        """The post's variant in this experiment (see :func:`assign`)."""
        return assign(post_id, experiment=self.name, share_b=self.share_b)
