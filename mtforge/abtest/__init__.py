"""Online A/B evaluation of translation models.

Posts are routed to model A (production) or B (candidate) by :func:`assign`; user activity
is logged to an append-only :class:`EventStore`; :func:`analyze` compares the per-post
engagement after "Translate" clicks of A and B with two-sample KS tests and decides;
:func:`simulate` generates traffic to try it on.
"""

from mtforge.abtest.analysis import ADOPT_B, KEEP_A, NOT_ENOUGH_DATA, ABReport, VariantStats, analyze
from mtforge.abtest.router import VARIANTS, Experiment, assign
from mtforge.abtest.simulate import simulate
from mtforge.abtest.store import CLICK_TRANSLATE, ENGAGEMENTS, IMPRESSION, Event, EventStore

__all__ = [
    "ADOPT_B", "CLICK_TRANSLATE", "ENGAGEMENTS", "IMPRESSION", "KEEP_A", "NOT_ENOUGH_DATA", "VARIANTS",
    "ABReport", "Event", "EventStore", "Experiment", "VariantStats", "analyze", "assign", "simulate",
]
