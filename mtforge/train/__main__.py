"""``python -m mtforge.train JOB.json`` — the per-rank training entrypoint."""

import sys

from mtforge.train.trainer import main

if __name__ == "__main__":
    sys.exit(main())
