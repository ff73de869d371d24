"""``python -m benchmarks [NAME ...] [--quick] [--out DIR]``: run benchmarks, print and write their results."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks import (
    decode_speed,
    encode_speed,
    evaluate_speed,
    filter_throughput,
    lid_speed,
    mining_speed,
    modular_sync,
    noisy_bitext,
    runner_overhead,
    scale_plan,
    serve_load,
    serve_quantize,
    synth_speed,
    train_throughput,
)
from benchmarks.common import RESULTS_DIR, Benchmark, print_table, write_result

#: Every benchmark by name, in the order a bare ``python -m benchmarks`` runs them.
BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (runner_overhead.BENCHMARK, train_throughput.BENCHMARK,
                                                        modular_sync.BENCHMARK, noisy_bitext.BENCHMARK,
                                                        filter_throughput.BENCHMARK, lid_speed.BENCHMARK,
                                                        evaluate_speed.BENCHMARK, mining_speed.BENCHMARK,
                                                        encode_speed.BENCHMARK, synth_speed.BENCHMARK,
                                                        serve_load.BENCHMARK, serve_quantize.BENCHMARK,
                                                        decode_speed.BENCHMARK, scale_plan.BENCHMARK)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; an unknown benchmark name is an error that lists the known ones."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description="Run benchmarks; print their tables and write their results.")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="smallest settings: a smoke run, noisier numbers")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR,
                        help=f"directory for <name>.json and README.md (default: {RESULTS_DIR})")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; benchmarks: {', '.join(BENCHMARKS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks (all by default) one after the other."""
    args = parse_args(argv)
    for name in args.names or BENCHMARKS:
        bench = BENCHMARKS[name]
        mode = "quick" if args.quick else "full"
        result = bench.run(bench.quick if args.quick else bench.full, mode)
        print_table(result)
        print(f"  → {write_result(result, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
