"""The ``mtforge ab`` commands: ``simulate`` synthetic A/B traffic into an event store, and
``analyze`` a store (the per-post engagement KS test and its decision)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from mtforge.abtest.analysis import analyze
from mtforge.abtest.router import Experiment
from mtforge.abtest.simulate import simulate
from mtforge.abtest.store import EventStore
from mtforge.errors import InputNotFoundError


def cmd_simulate(args: argparse.Namespace) -> int:
    """Log simulated traffic ending now (the window is the last ``--days`` days); returns 0."""
    experiment = Experiment(args.experiment, args.share_b)
    with EventStore(args.store) as store:
        n = simulate(store, experiment=experiment, posts=args.posts, users=args.users, days=args.days,
                     engagement_a=args.engagement_a, engagement_b=args.engagement_b, click_rate=args.click_rate,
                     seed=args.seed, start=time.time() - args.days * 86_400.0)
    print(f"logged {n:,} events for {args.posts:,} posts to {args.store} "
          f"(experiment {experiment.name!r}, share of B {experiment.share_b:g})")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    """Print the report (Markdown, or JSON with ``--json``); returns 0 whatever the decision.
    Raises :class:`InputNotFoundError` when the store file does not exist."""
    if not Path(args.store).is_file():
        raise InputNotFoundError(f"A/B event store not found: {args.store}")
    with EventStore(args.store) as store:
        report = analyze(store, window_days=args.window_days, alpha=args.alpha, min_posts=args.min_posts)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.markdown())
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``ab`` command (with ``simulate`` and ``analyze``) to the subparsers ``sub``;
    each sets ``func`` to a function of the parsed namespace returning an exit code."""
    ab = sub.add_parser("ab", help="online A/B test of translation models: engagement after 'Translate'")
    ab_sub = ab.add_subparsers(dest="ab_command", required=True)

    sim = ab_sub.add_parser("simulate", help="log synthetic impressions, Translate clicks and engagements")
    sim.add_argument("--store", required=True, metavar="PATH", help="SQLite event store (created if missing)")
    sim.add_argument("--experiment", default="translate-ab", help="experiment name (the assignment's hash salt)")
    sim.add_argument("--share-b", type=float, default=0.5, help="share of posts served by B, in [0, 1]")
    sim.add_argument("--posts", type=int, default=2000, help="posts in the experiment (default 2000)")
    sim.add_argument("--users", type=int, default=5000, help="viewers the impressions are drawn from")
    sim.add_argument("--days", type=float, default=30.0, help="the traffic spans the last DAYS days")
    sim.add_argument("--engagement-a", type=float, default=1.0, help="mean engagements after a click on A")
    sim.add_argument("--engagement-b", type=float, default=1.0, help="mean engagements after a click on B")
    sim.add_argument("--click-rate", type=float, default=0.3, help="probability an impression gets a Translate click")
    sim.add_argument("--seed", type=int, default=0, help="random seed (the traffic is a function of it)")
    sim.set_defaults(func=cmd_simulate)

    an = ab_sub.add_parser("analyze", help="KS test of per-post engagement, A versus B, and the decision")
    an.add_argument("--store", required=True, metavar="PATH", help="SQLite event store")
    an.add_argument("--window-days", type=float, default=30.0, help="analyse the last DAYS days")
    an.add_argument("--alpha", type=float, default=0.05, help="significance level of the one-sided test")
    an.add_argument("--min-posts", type=int, default=20, help="clicked posts each variant needs for a decision")
    an.add_argument("--json", action="store_true", help="print the report as JSON instead of Markdown")
    an.set_defaults(func=cmd_analyze)
