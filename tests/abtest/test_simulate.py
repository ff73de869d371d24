"""Simulated A/B traffic: deterministic, inside its window, routed by the experiment, with
pre-click engagement the analysis must ignore."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from mtforge.abtest.analysis import analyze
from mtforge.abtest.router import Experiment
from mtforge.abtest.simulate import simulate
from mtforge.abtest.store import CLICK_TRANSLATE, ENGAGEMENTS, IMPRESSION, Event, EventStore
from mtforge.errors import ConfigError

START = 1_700_000_000.0
EXPERIMENT = Experiment("exp", 0.4)


def run(path: Path, **overrides) -> tuple[int, list[Event]]:
    kwargs = {"experiment": EXPERIMENT, "posts": 300, "users": 1000, "days": 7.0, "engagement_a": 1.0,
              "engagement_b": 2.0, "click_rate": 0.4, "seed": 3, "start": START, **overrides}
    with EventStore(path) as store:
        n = simulate(store, **kwargs)
        return n, list(store.events())


def test_the_same_seed_gives_the_same_events(tmp_path: Path) -> None:
    n, events = run(tmp_path / "one.db")
    assert n == len(events) > 300
    assert run(tmp_path / "two.db") == (n, events)
    assert run(tmp_path / "three.db", seed=4)[1] != events


def test_events_lie_in_the_window_and_follow_the_experiment(tmp_path: Path) -> None:
    _, events = run(tmp_path / "ab.db")
    assert all(START <= e.time < START + 7 * 86_400 for e in events)
    assert all(e.variant == EXPERIMENT.variant(e.post_id) for e in events)
    assert {e.event for e in events} == {IMPRESSION, CLICK_TRANSLATE} | ENGAGEMENTS
    assert len({e.post_id for e in events if e.event == IMPRESSION}) == 300
    assert {e.variant for e in events} == {"A", "B"}


def test_there_is_engagement_before_clicks_and_the_analysis_ignores_it(tmp_path: Path) -> None:
    _, events = run(tmp_path / "ab.db")
    first_click: dict[tuple[str, str], float] = {}
    for e in events:
        if e.event == CLICK_TRANSLATE:
            first_click[e.post_id, e.user_id] = min(e.time, first_click.get((e.post_id, e.user_id), e.time))
    counted: defaultdict[str, int] = defaultdict(int)
    before = 0
    for e in events:
        if e.event in ENGAGEMENTS:
            click = first_click.get((e.post_id, e.user_id))
            if click is not None and e.time > click:
                counted[e.post_id] += 1
            else:
                before += 1
    assert before > 50
    with EventStore(tmp_path / "ab.db") as store:
        report = analyze(store, now=START + 7 * 86_400, window_days=7, min_posts=1)
    per_post = {**report.variants["A"].per_post, **report.variants["B"].per_post}
    assert {p: n for p, n in per_post.items() if n} == dict(counted)


def test_engagement_per_click_follows_the_variant_rates(tmp_path: Path) -> None:
    with EventStore(tmp_path / "ab.db") as store:
        simulate(store, experiment=Experiment("exp", 0.5), posts=2000, users=20_000, days=30,
                 engagement_a=1.0, engagement_b=2.0, click_rate=0.5, seed=0, start=START)
        report = analyze(store, now=START + 30 * 86_400)
    assert report.variants["A"].engagement_per_click == pytest.approx(1.0, abs=0.1)
    assert report.variants["B"].engagement_per_click == pytest.approx(2.0, abs=0.15)
    for stats in report.variants.values():
        assert stats.clicks / stats.impressions == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize(("override", "field"), [({"posts": 0}, "posts"), ({"users": 0}, "users"),
                                                 ({"days": 0.01}, "days"), ({"engagement_b": -1}, "engagement"),
                                                 ({"click_rate": 1.5}, "click_rate")])
def test_bad_settings_are_config_errors_and_log_nothing(tmp_path: Path, override: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        run(tmp_path / "ab.db", **override)
    with EventStore(tmp_path / "ab.db") as store:
        assert list(store.events()) == []
