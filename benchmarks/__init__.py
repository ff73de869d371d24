"""Benchmarks of mtforge, run with ``python -m benchmarks [NAME ...] [--quick]``.

Each benchmark measures the things it compares side by side in one run and reports their
ratio, because the absolute numbers move with the machine and whatever else it is running.
Results go to ``benchmarks/results/<name>.json`` and a combined ``benchmarks/results/README.md``.

* :mod:`benchmarks.runner_overhead` — the ``baseline`` pipeline through KFP's local runner
  versus the same stages called in one Python process.
* :mod:`benchmarks.train_throughput` — the trainer's tokens/s and model FLOP/s on real
  Multi30k batches, as a fraction of the matmul FLOP/s torch reaches on the machine.
* :mod:`benchmarks.modular_sync` — bytes the modular trainer all-reduces per step against a
  full-model DDP all-reduce (measured and predicted from the plan), tokens/s per process and
  weak scaling from 1 to 2 processes.
"""
