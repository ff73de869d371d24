"""Pipelines: wiring of components only. ``PIPELINES`` maps each name to its module.

A pipeline module defines ``pipeline`` (the ``@dsl.pipeline`` function, every parameter
with a default and a description), and may define ``FINGERPRINTS`` (fingerprint parameter →
(source parameter, split parameter[, replacing parameter])) that ``mtforge run`` fills with content hashes, and
``local_defaults()`` (parameter values that only make sense on this machine).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mtforge.errors import ConfigError

NAMES = ("baseline", "curate-bitext", "curate-mono", "distill", "mine", "synth", "train-lid")


def load(name: str) -> ModuleType:
    """The pipeline module ``name``; the error lists the known pipelines."""
    if name not in NAMES:
        raise ConfigError(f"unknown pipeline {name!r}; pipelines: {', '.join(NAMES)}")
    return importlib.import_module(f"pipelines.{name.replace('-', '_')}")
