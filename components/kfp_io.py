"""What every component does at the KFP boundary after its library call.

Imported inside component bodies (it ships in the component image with the project).
"""

from __future__ import annotations

import json
import os
from typing import Any

from mtforge.fingerprint import content_hash


def publish(stats: dict[str, float], metrics: Any, *outputs: Any) -> None:
    """Log ``stats`` on the KFP Metrics artifact and stamp each output with its content hash.

    The hash in the artifact's metadata enters the cache key of every downstream task, so
    downstream caching follows content, not only artifact locations. The stats are also
    written to the Metrics artifact's file: KFP's local cache treats an output whose file is
    missing as a cache miss, and a Metrics artifact otherwise has no file.
    """
    for key, value in stats.items():
        metrics.log_metric(key, float(value))
    os.makedirs(os.path.dirname(metrics.path), exist_ok=True)
    with open(metrics.path, "w") as f:
        json.dump(stats, f, indent=2)
    for artifact in outputs:
        artifact.metadata["content_hash"] = content_hash(artifact.path)
