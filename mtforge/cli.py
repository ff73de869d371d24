"""The ``mtforge`` command line.

``run`` and ``compile`` drive KFP and live in :mod:`pipelines` (imported only
when those commands run, so the library itself never imports KFP); ``compare`` reads MLflow
and ``translate`` uses a checkpoint directly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtforge.errors import MtforgeError


def cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from mtforge.tracking import state_dir, tracking_uri
    from pipelines.runner import resolve_params, run_pipeline

    console = Console()
    params = resolve_params(args.pipeline, args.config, args.set)
    home = state_dir()
    console.print(f"[bold]mtforge run {args.pipeline}[/] — state in {home}, cache {'on' if not args.no_cache else 'off'}")
    report = run_pipeline(args.pipeline, params, home, caching=not args.no_cache,
                          echo=lambda line: console.print(f"[cyan]▶ {line}[/]"))
    table = Table(title=f"{args.pipeline}: {len(report.executed)} executed, {len(report.cached)} cached, "
                        f"{report.seconds:.0f}s")
    for column in ("task", "status", "seconds"):
        table.add_column(column)
    for task in report.tasks.values():
        table.add_row(task.name, task.status, f"{task.seconds:.1f}" if task.status == "executed" else "")
    console.print(table)
    if isinstance(report.output, str):
        print_scores(console, report.output)
        console.print(f"MLflow run: [bold]{report.output}[/]  (tracking URI {tracking_uri()}; `make mlflow-ui`)")
    return 0


def print_scores(console, run_id: str) -> None:
    """What an MLflow run measured: the BLEU/chrF++ table of a training run, or the kept and
    excluded counts of a curation run (``curate.*``)."""
    from mlflow.tracking import MlflowClient
    from rich.table import Table

    from mtforge.tracking import tracking_uri

    run = MlflowClient(tracking_uri()).get_run(run_id)
    metrics = run.data.metrics
    directions = sorted(k.removeprefix("bleu.") for k in metrics if k.startswith("bleu."))
    if directions:
        table = Table(title="test scores (sacrebleu)")
        for column in ("direction", "BLEU", "chrF++"):
            table.add_column(column)
        for d in directions:
            table.add_row(d, f"{metrics[f'bleu.{d}']:.2f}", f"{metrics.get(f'chrf.{d}', float('nan')):.2f}")
        console.print(table)
    elif "curate.rows_in" in metrics:
        table = Table(title=f"curation: {metrics['curate.rows_in']:,.0f} lines in, "
                            f"{metrics['curate.rows_out']:,.0f} kept")
        table.add_column("excluded by")
        table.add_column("rows", justify="right")
        reasons = {k.removeprefix("curate.excluded."): v for k, v in metrics.items()
                   if k.startswith("curate.excluded.") and k.count(".") == 2}
        for reason, rows in sorted(reasons.items(), key=lambda item: -item[1]):
            table.add_row(reason, f"{rows:,.0f}")
        console.print(table)
    if "mtforge.output" in run.data.tags:
        console.print(f"output: [bold]{run.data.tags['mtforge.output']}[/]")


def cmd_compile(args: argparse.Namespace) -> int:
    from pipelines.compile import compile_all

    for path in compile_all(Path(args.out_dir), args.pipeline or None):
        print(f"wrote {path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from mtforge.tracking import compare_runs

    rows = compare_runs(args.experiment, metric=args.metric, max_runs=args.max_runs)
    directions = sorted({d for r in rows for d in r["metrics"]})
    params = sorted({p for r in rows for p in r["params"]})
    # One column per run, one row per direction: twelve directions stay readable.
    table = Table(title=f"{args.experiment}: {args.metric} by run (newest first)")
    table.add_column("", overflow="fold")
    for r in rows:
        table.add_column(f"{r['run_name']}\n{r['run_id'][:8]}\n{r['start_time']}", justify="right")
    for d in directions:
        table.add_row(d, *[f"{r['metrics'][d]:.2f}" if d in r["metrics"] else "" for r in rows])
    if len(directions) > 1:
        means = [sum(r["metrics"].values()) / len(r["metrics"]) if len(r["metrics"]) == len(directions) else None
                 for r in rows]
        table.add_row(f"mean of {len(directions)}", *["" if m is None else f"{m:.2f}" for m in means],
                      end_section=True)
    for p in params:
        table.add_row(p, *[str(r["params"].get(p, "")) for r in rows])
    Console().print(table)
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    from mtforge.langcodes import parse_direction
    from mtforge.translate import Translator
    from mtforge.vocab import Vocab

    src, tgt = parse_direction(args.direction)
    translator = Translator(Path(args.model) / "checkpoint", Vocab(args.vocab), src, tgt)
    lines = [line.rstrip("\n") for line in sys.stdin]
    for line in translator.translate(lines, beam_size=args.beam_size):
        print(line)
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from mtforge.train.plan import load_meta_config, resolve_plan
    from mtforge.train.planning import corpus_sizes

    meta = load_meta_config(args.meta_config)
    sizes = corpus_sizes(args.corpus) if args.corpus else None
    plan = resolve_plan(meta, sizes=sizes, base_dir=Path(args.meta_config).parent)
    tasks = Table(title=f"{len(plan.tasks)} tasks on {plan.nodes} node(s) × {plan.procs_per_node} process(es)")
    for column in ("task", "rank(s)", "weight", "starts", "pairs", "modules"):
        tasks.add_column(column)
    ranks = {s.task: [] for s in (s for r in plan.ranks for s in r)}
    for rank, slots in enumerate(plan.ranks):
        for slot in slots:
            ranks[slot.task].append(str(rank))
    for t in plan.tasks:
        tasks.add_row(t.name, ",".join(ranks[t.name]), f"{t.weight:.3f}", str(t.start_step),
                      "" if t.size is None else f"{t.size:,}", " ".join(t.modules))
    holders = Table(title=f"{len(plan.module_layers())} modules (plan {plan.fingerprint()[:12]})")
    for column in ("module", "layers", "holders"):
        holders.add_column(column)
    layers = plan.module_layers()
    for module, ranks_of in plan.holders().items():
        holders.add_row(module, str(layers[module]), ",".join(map(str, ranks_of)))
    console = Console()
    console.print(tasks)
    console.print(holders)
    if args.out:
        plan.save(args.out)
        console.print(f"plan written to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mtforge", description="A Kubeflow-native factory for MT models.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a pipeline locally with kfp.local (cached)")
    run.add_argument("pipeline")
    run.add_argument("--config", help="YAML of parameter values, or a named config (e.g. 'tiny')")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one parameter")
    run.add_argument("--no-cache", action="store_true", help="execute every task")
    run.set_defaults(func=cmd_run)

    comp = sub.add_parser("compile", help="compile pipelines to KFP YAML")
    comp.add_argument("pipeline", nargs="*", help="pipelines to compile (default: all)")
    comp.add_argument("--out-dir", default=str(Path("pipelines") / "compiled"))
    comp.set_defaults(func=cmd_compile)

    cmp_ = sub.add_parser("compare", help="compare MLflow runs of an experiment")
    cmp_.add_argument("experiment", nargs="?", default="mtforge-baseline", help="MLflow experiment name")
    cmp_.add_argument("--metric", default="bleu")
    cmp_.add_argument("--max-runs", type=int, default=20)
    cmp_.set_defaults(func=cmd_compare)

    pl = sub.add_parser("plan", help="resolve a MAMMOTH meta-config into tasks, modules and an allocation")
    pl.add_argument("meta_config", help="meta-config YAML (relative corpus templates resolve against its folder)")
    pl.add_argument("--corpus", help="mtforge corpus whose directions give the task sizes (no corpus template)")
    pl.add_argument("--out", help="write the resolved plan (YAML or JSON by suffix)")
    pl.set_defaults(func=cmd_plan)

    tr = sub.add_parser("translate", help="translate stdin with a trained model directory")
    tr.add_argument("--model", required=True, help="train output directory (holds checkpoint/)")
    tr.add_argument("--vocab", required=True, help="SentencePiece model file")
    tr.add_argument("--direction", required=True, help="e.g. en-de")
    tr.add_argument("--beam-size", type=int, default=4)
    tr.set_defaults(func=cmd_translate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MtforgeError as exc:
        print(f"mtforge: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
