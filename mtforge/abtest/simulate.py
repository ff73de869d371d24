"""Synthetic traffic for an online A/B test, to exercise :mod:`mtforge.abtest.analysis`.

For each of ``posts`` posts (ids ``post-000000``, …; variant from the experiment's router):

* ``1 + Poisson(IMPRESSIONS_PER_POST - 1)`` impressions, each by a user drawn uniformly from
  ``users`` (``user-000000``, …), at a uniform time in the first ``days`` days minus
  :data:`TAIL_S` seconds after ``start``;
* each impression leads to a Translate click with probability ``click_rate``, 1–600 s later;
* after a click, ``Poisson(engagement_a)`` (variant A) or ``Poisson(engagement_b)`` (B)
  engagement events by that user, 1–3,600 s after the click: what the analysis counts;
* noise the analysis must not count: ``Poisson(PRE_CLICK_ENGAGEMENT)`` engagement events by
  the user between the impression and the click (or, without a click, after the impression).

So every timestamp lies in ``[start, start + days * 86400)``, and the counted engagement per
Translate click averages ``engagement_a`` or ``engagement_b`` (a little more when a user
happens to see the same post twice: pre-click noise after their earlier click counts, as it
would in real traffic). Engagement kinds are drawn uniformly from
:data:`~mtforge.abtest.store.ENGAGEMENTS`. The output is a pure function of the arguments
(one seeded :func:`numpy.random.default_rng`).
"""

from __future__ import annotations

import numpy as np

from mtforge.abtest.router import Experiment
from mtforge.abtest.store import CLICK_TRANSLATE, ENGAGEMENTS, IMPRESSION, Event, EventStore
from mtforge.errors import ConfigError

#: Mean impressions per post.
IMPRESSIONS_PER_POST = 3.0
#: Mean engagement events per impression that happen before any Translate click.
PRE_CLICK_ENGAGEMENT = 0.3
#: Seconds at the end of the window kept free so that clicks and engagements fit inside it.
TAIL_S = 600.0 + 3_600.0
_KINDS = sorted(ENGAGEMENTS)


def simulate(store: EventStore, *, experiment: Experiment, posts: int, users: int, days: float,
             engagement_a: float, engagement_b: float, click_rate: float, seed: int, start: float) -> int:
    """Log synthetic traffic (see the module docstring) to ``store`` in one transaction and
    return the number of events logged. Raises :class:`ConfigError` when ``posts`` or
    ``users`` is below 1, the window is not longer than :data:`TAIL_S`, an engagement rate is
    negative or ``click_rate`` is outside ``[0, 1]``.
    """
    if posts < 1 or users < 1:
        raise ConfigError(f"posts and users must be at least 1, got posts={posts!r}, users={users!r}")
    span = days * 86_400.0 - TAIL_S
    if not span > 0:
        raise ConfigError(f"days must exceed {TAIL_S / 86_400:.3f} (room for clicks and engagements), got {days!r}")
    if not (engagement_a >= 0 and engagement_b >= 0):
        raise ConfigError(f"engagement rates must be >= 0, got A={engagement_a!r}, B={engagement_b!r}")
    if not 0 <= click_rate <= 1:
        raise ConfigError(f"click_rate must be in [0, 1], got {click_rate!r}")

    rng = np.random.default_rng(seed)
    rate = {"A": engagement_a, "B": engagement_b}
    events: list[Event] = []

    def engage(post: str, user: str, variant: str, lo: float, hi: float, n: int) -> None:
        for t, kind in zip(rng.uniform(lo, hi, n), rng.integers(len(_KINDS), size=n), strict=True):
            events.append(Event(post, user, variant, _KINDS[kind], float(t)))

    for i in range(posts):
        post = f"post-{i:06d}"
        variant = experiment.variant(post)
        n = 1 + int(rng.poisson(IMPRESSIONS_PER_POST - 1))
        for user_index, shown_at, clicked in zip(rng.integers(users, size=n), start + rng.uniform(0, span, n),
                                                 rng.random(n) < click_rate, strict=True):
            user, shown_at = f"user-{user_index:06d}", float(shown_at)
            events.append(Event(post, user, variant, IMPRESSION, shown_at))
            if clicked:
                click_at = shown_at + float(rng.uniform(1.0, 600.0))
                engage(post, user, variant, shown_at, click_at, int(rng.poisson(PRE_CLICK_ENGAGEMENT)))
                events.append(Event(post, user, variant, CLICK_TRANSLATE, click_at))
                engage(post, user, variant, click_at + 1.0, click_at + 3_600.0, int(rng.poisson(rate[variant])))
            else:
                engage(post, user, variant, shown_at, shown_at + 3_600.0, int(rng.poisson(PRE_CLICK_ENGAGEMENT)))
    return store.log(events)
