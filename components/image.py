"""The container image every component runs in on a cluster.

Set ``MTFORGE_IMAGE`` when compiling to point pipelines at your registry (see images/README.md).
"""

import os

IMAGE = os.environ.get("MTFORGE_IMAGE") or "ghcr.io/mtforge/mtforge:0.1.0-cpu"
