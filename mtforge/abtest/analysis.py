"""Online A/B evaluation of translation models: per-post engagement after "Translate".

The metric (from the design's "How to do online evaluation?"): for each post, the number of
engagement activities (:data:`~mtforge.abtest.store.ENGAGEMENTS`) by users *after* they
clicked "Translate" on it. Precisely, an engagement event counts for its post when the same
user has a :data:`~mtforge.abtest.store.CLICK_TRANSLATE` on that same post, in the window,
at a time strictly before the engagement (the user's first click on the post is the one
that matters). Engagements without such a click, or before it, are not counted. (The
design's SQL takes each user's first click on *any* post; this counts per post, which is
what the metric means.)

The sample of a variant is its posts with at least one Translate click in the window, one
engagement count each. Posts shown but never clicked carry no information on the
translation and are reported separately (``unclicked_posts``), not counted as zeros. Posts
logged under both variants (e.g. after ``share_b`` changed mid-test) belong to neither
sample and are reported as ``mixed_posts``. Only events with ``now - window_days <= time <=
now`` are read.

The two samples are compared with two-sample Kolmogorov–Smirnov tests
(:func:`scipy.stats.ks_2samp`, exact p-values where scipy can compute them, asymptotic
otherwise): two-sided ("the distributions differ") and one-sided
("B's engagement is stochastically larger than A's", i.e. B's empirical CDF lies below
A's: ``ks_2samp(a, b, alternative="greater")``). Counts are discrete, which makes the KS
test conservative: the false-positive rate stays at or below ``alpha``.

Decision rule (:data:`RULE`, also stored in :attr:`ABReport.rule`):

* ``"not enough data"`` when either variant has fewer than ``min_posts`` clicked posts;
* ``"adopt B"`` when the one-sided p-value is below ``alpha`` and B's mean engagement per
  clicked post is above A's;
* ``"keep A"`` otherwise.
"""

from __future__ import annotations

import math
import statistics
import time as _time
import warnings
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from scipy.stats import ks_2samp

from mtforge.abtest.router import VARIANTS
from mtforge.abtest.store import CLICK_TRANSLATE, ENGAGEMENTS, IMPRESSION, EventStore
from mtforge.errors import ConfigError

ADOPT_B = "adopt B"
KEEP_A = "keep A"
NOT_ENOUGH_DATA = "not enough data"
SECONDS_PER_DAY = 86_400.0
#: The decision rule, formatted with ``alpha`` and ``min_posts``.
RULE = ("'not enough data' when A or B has fewer than {min_posts} posts with a Translate click; "
        "else 'adopt B' when the one-sided two-sample KS test (H1: B's per-post engagement is "
        "stochastically larger than A's) gives p < {alpha} and mean(B) > mean(A); else 'keep A'")


@dataclass
class VariantStats:
    """What one variant served and earned in the window.

    ``posts``: posts with at least one impression; ``impressions`` and ``clicks``: event
    counts (``clicks`` are Translate clicks, repeated clicks included); ``clicked_posts``:
    posts with at least one Translate click (the sample size); ``unclicked_posts``: posts
    shown but never clicked; ``engagements``: engagement events counted (after a click);
    ``mean_engagement`` / ``median_engagement``: per clicked post; ``engagement_per_click``:
    ``engagements / clicks``. Undefined averages are ``None``. ``per_post`` maps each clicked
    post to its engagement count (the sample; left out of :meth:`ABReport.to_dict`).
    """

    variant: str
    posts: int
    impressions: int
    clicks: int
    clicked_posts: int
    unclicked_posts: int
    engagements: int
    mean_engagement: float | None
    median_engagement: float | None
    engagement_per_click: float | None
    per_post: dict[str, int] = field(repr=False)


@dataclass
class ABReport:
    """The outcome of :func:`analyze`: per-variant stats, the KS tests and the decision.

    The KS fields are ``None`` when either sample is empty. ``decision`` is one of
    :data:`ADOPT_B`, :data:`KEEP_A`, :data:`NOT_ENOUGH_DATA`; ``rule`` states how it was made.
    """

    now: float
    window_days: float
    alpha: float
    min_posts: int
    variants: dict[str, VariantStats]
    mixed_posts: int
    ks_statistic: float | None
    p_value_two_sided: float | None
    p_value_b_greater: float | None
    decision: str
    rule: str

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-serialisable data (each variant without ``per_post``)."""
        data = asdict(self)
        for stats in data["variants"].values():
            del stats["per_post"]
        return data

    def markdown(self) -> str:
        """The report as a Markdown table of the variants, then the tests and the decision."""
        def num(value: float | None, digits: int = 3) -> str:
            return "–" if value is None else f"{value:.{digits}f}"

        rows = [("posts shown", "posts"), ("impressions", "impressions"), ("Translate clicks", "clicks"),
                ("clicked posts (sample)", "clicked_posts"), ("shown, never clicked", "unclicked_posts"),
                ("engagements after a click", "engagements")]
        a, b = self.variants["A"], self.variants["B"]
        lines = [f"## A/B test: engagement per post after \"Translate\" (last {self.window_days:g} days)", "",
                 "| | A (production) | B (candidate) |", "| --- | ---: | ---: |"]
        lines += [f"| {label} | {getattr(a, key):,} | {getattr(b, key):,} |" for label, key in rows]
        lines += [f"| mean engagement per clicked post | {num(a.mean_engagement)} | {num(b.mean_engagement)} |",
                  f"| median engagement per clicked post | {num(a.median_engagement, 1)} | "
                  f"{num(b.median_engagement, 1)} |",
                  f"| engagement per click | {num(a.engagement_per_click)} | {num(b.engagement_per_click)} |", "",
                  f"KS statistic {num(self.ks_statistic)}; p (distributions differ) "
                  f"{num(self.p_value_two_sided, 4)}; p (B stochastically larger) {num(self.p_value_b_greater, 4)}"
                  + (f"; {self.mixed_posts:,} posts served by both variants excluded" if self.mixed_posts else ""),
                  "", f"**Decision: {self.decision}** (α = {self.alpha:g}). Rule: {self.rule}."]
        return "\n".join(lines)


def _median(values: list[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def analyze(store: EventStore, *, now: float | None = None, window_days: float = 30, alpha: float = 0.05,
            min_posts: int = 20) -> ABReport:
    """Compare A's and B's per-post engagement after Translate clicks over the last
    ``window_days`` days before ``now`` (default: the current time) and decide by the module's
    rule. Raises :class:`ConfigError` when ``window_days`` is not positive, ``alpha`` is not
    in ``(0, 1)`` or ``min_posts`` is below 1.
    """
    if not window_days > 0:
        raise ConfigError(f"window_days must be positive, got {window_days!r}")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha!r}")
    if min_posts < 1:
        raise ConfigError(f"min_posts must be at least 1, got {min_posts!r}")
    now = _time.time() if now is None else float(now)

    variants_of: defaultdict[str, set[str]] = defaultdict(set)
    impressions: Counter[tuple[str, str]] = Counter()  # (variant, post) -> impressions
    clicks: Counter[tuple[str, str]] = Counter()  # (variant, post) -> Translate clicks
    first_click: dict[tuple[str, str, str], float] = {}  # (variant, post, user) -> time
    engagements: list[tuple[str, str, str, float]] = []
    for e in store.events(since=now - window_days * SECONDS_PER_DAY):
        if e.time > now:
            continue
        variants_of[e.post_id].add(e.variant)
        if e.event == IMPRESSION:
            impressions[e.variant, e.post_id] += 1
        elif e.event == CLICK_TRANSLATE:
            clicks[e.variant, e.post_id] += 1
            key = (e.variant, e.post_id, e.user_id)
            first_click[key] = min(e.time, first_click.get(key, math.inf))
        elif e.event in ENGAGEMENTS:
            engagements.append((e.variant, e.post_id, e.user_id, e.time))

    mixed = {post for post, seen in variants_of.items() if len(seen) > 1}
    counted: Counter[tuple[str, str]] = Counter()
    for variant, post, user, t in engagements:
        if t > first_click.get((variant, post, user), math.inf):
            counted[variant, post] += 1

    stats = {}
    for v in VARIANTS:
        shown = {p for (var, p) in impressions if var == v and p not in mixed}
        clicked = {p for (var, p) in clicks if var == v and p not in mixed}
        per_post = {p: counted[v, p] for p in sorted(clicked)}
        n_clicks = sum(clicks[v, p] for p in clicked)
        total = sum(per_post.values())
        stats[v] = VariantStats(
            variant=v, posts=len(shown), impressions=sum(impressions[v, p] for p in shown), clicks=n_clicks,
            clicked_posts=len(clicked), unclicked_posts=len(shown - clicked), engagements=total,
            mean_engagement=total / len(clicked) if clicked else None,
            median_engagement=_median(list(per_post.values())),
            engagement_per_click=total / n_clicks if n_clicks else None, per_post=per_post)

    a, b = list(stats["A"].per_post.values()), list(stats["B"].per_post.values())
    ks = p_two = p_greater = None
    if a and b:
        two_sided = ks_2samp(a, b)
        ks, p_two = float(two_sided.statistic), float(two_sided.pvalue)
        # alternative="greater": H1 is CDF_A(x) > CDF_B(x) for some x, i.e. B takes larger values.
        # scipy falls back from the exact to the asymptotic p-value when the exact one cannot
        # be computed (large one-sided samples), and says so in a warning.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "ks_2samp: Exact calculation unsuccessful", RuntimeWarning)
            p_greater = float(ks_2samp(a, b, alternative="greater").pvalue)

    if min(stats["A"].clicked_posts, stats["B"].clicked_posts) < min_posts:
        decision = NOT_ENOUGH_DATA
    elif p_greater < alpha and stats["B"].mean_engagement > stats["A"].mean_engagement:
        decision = ADOPT_B
    else:
        decision = KEEP_A
    return ABReport(now=now, window_days=float(window_days), alpha=float(alpha), min_posts=int(min_posts),
                    variants=stats, mixed_posts=len(mixed), ks_statistic=ks, p_value_two_sided=p_two,
                    p_value_b_greater=p_greater, decision=decision,
                    rule=RULE.format(alpha=f"{alpha:g}", min_posts=min_posts))
