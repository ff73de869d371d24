"""The filter registry and the base class every filter derives from."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from mtforge.curate.filters.batch import Pairs
from mtforge.errors import ConfigError
from mtforge.stage import StageConfig

#: Every filter class by registry name (filled by :class:`BitextFilter` subclasses).
FILTERS: dict[str, type["BitextFilter"]] = {}


class BitextFilter(StageConfig):
    """Base of every filter: its fields are its parameters (unknown keys are an error).

    Subclasses set ``name`` (the registry and config name) and implement :meth:`_score` and
    :meth:`accept`.
    """

    name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            FILTERS[cls.name] = cls

    def score(self, batch: "pa.RecordBatch | pa.Table | Pairs") -> np.ndarray:
        """One float64 score per pair of ``batch``. Raises :class:`CorpusFormatError` for a
        missing column and :class:`UnknownLanguageError` for a language code it needs and
        cannot read."""
        return np.asarray(self._score(Pairs.of(batch)), dtype=np.float64)

    def _score(self, pairs: Pairs) -> np.ndarray:
        raise NotImplementedError

    def accept(self, scores: np.ndarray) -> np.ndarray:
        """Bool per score: the pair is kept."""
        raise NotImplementedError


def make_filter(name: str, params: dict[str, Any] | None = None, *, where: str = "") -> BitextFilter:
    """The filter registered as ``name`` with ``params``. Raises :class:`ConfigError` listing
    the filter names for an unknown one, or naming the filter, key and value for a bad
    parameter; ``where`` (e.g. a file and position) prefixes the message."""
    prefix = f"{where}: " if where else ""
    if name not in FILTERS:
        raise ConfigError(f"{prefix}unknown filter {name!r}; filters: {', '.join(sorted(FILTERS))}")
    return FILTERS[name].parse(params, where=f"{prefix}filter {name!r}")  # type: ignore[return-value]
