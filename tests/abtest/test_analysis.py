"""The A/B analysis: what counts as engagement, the window, the KS tests and the decision."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from mtforge.abtest.analysis import ADOPT_B, KEEP_A, NOT_ENOUGH_DATA, SECONDS_PER_DAY, analyze
from mtforge.abtest.router import Experiment
from mtforge.abtest.simulate import simulate
from mtforge.abtest.store import CLICK_TRANSLATE, IMPRESSION, Event, EventStore
from mtforge.errors import ConfigError

NOW = 100 * SECONDS_PER_DAY


def E(post: str, user: str, variant: str, event: str, time: float) -> Event:  # noqa: N802
    return Event(post, user, variant, event, NOW - 1000 + time)


def store_of(tmp_path: Path, events: Sequence[Event]) -> EventStore:
    store = EventStore(tmp_path / "ab.db")
    store.log(events)
    return store


def counts_store(tmp_path: Path, a: Sequence[int], b: Sequence[int]) -> EventStore:
    """One clicked post per count, with that many engagements after the click."""
    events = []
    for variant, counts in (("A", a), ("B", b)):
        for i, n in enumerate(counts):
            post = f"{variant}{i}"
            events += [E(post, "u", variant, IMPRESSION, 0), E(post, "u", variant, CLICK_TRANSLATE, 1)]
            events += [E(post, "u", variant, "like", 2 + k) for k in range(n)]
    return store_of(tmp_path, events)


def test_only_engagement_after_that_users_click_on_that_post_counts(tmp_path: Path) -> None:
    events = [
        E("p1", "u1", "A", IMPRESSION, 100),
        E("p1", "u1", "A", "like", 105),  # before u1's click: not counted
        E("p1", "u1", "A", "comment", 110),  # at the click's time, not after: not counted
        E("p1", "u1", "A", CLICK_TRANSLATE, 110),
        E("p1", "u1", "A", "like", 120),  # counted
        E("p1", "u1", "A", "comment", 130),  # counted
        E("p1", "u1", "A", "view", 131),  # not an engagement
        E("p1", "u1", "A", CLICK_TRANSLATE, 140),  # a second click: the first one is what matters
        E("p1", "u1", "A", "share", 150),  # counted
        E("p1", "u2", "A", IMPRESSION, 100),
        E("p1", "u2", "A", "like", 125),  # u2 never clicked on p1: not counted
        E("p2", "u2", "A", IMPRESSION, 80),
        E("p2", "u2", "A", CLICK_TRANSLATE, 90),  # u2's click on p2 says nothing about p1
        E("p1", "u2", "A", "follow", 200),  # not counted
        E("p3", "u3", "A", IMPRESSION, 10),  # shown, never clicked
        E("p3", "u3", "A", "like", 20),
        E("q1", "u1", "B", IMPRESSION, 10),
        E("q1", "u1", "B", CLICK_TRANSLATE, 20),
        E("q1", "u4", "B", CLICK_TRANSLATE, 30),
        E("q1", "u1", "B", "friend_request", 25),  # counted (after u1's click)
        E("q1", "u4", "B", "friend_request", 25),  # before u4's click: not counted
        E("q1", "u4", "B", "like", 35),  # counted
    ]
    with store_of(tmp_path, events) as store:
        report = analyze(store, now=NOW, min_posts=1)
    a, b = report.variants["A"], report.variants["B"]
    assert a.per_post == {"p1": 3, "p2": 0}
    assert b.per_post == {"q1": 2}
    assert (a.posts, a.impressions, a.clicks, a.clicked_posts, a.unclicked_posts, a.engagements) == (3, 4, 3, 2, 1, 3)
    assert (a.mean_engagement, a.median_engagement, a.engagement_per_click) == (1.5, 1.5, 1.0)
    assert (b.posts, b.impressions, b.clicks, b.clicked_posts, b.unclicked_posts, b.engagements) == (1, 1, 2, 1, 0, 2)
    assert (b.mean_engagement, b.median_engagement, b.engagement_per_click) == (2.0, 2.0, 1.0)


def test_the_window_excludes_old_and_future_events(tmp_path: Path) -> None:
    day = SECONDS_PER_DAY
    events = [
        Event("old", "u1", "A", IMPRESSION, NOW - 40 * day),
        Event("old", "u1", "A", CLICK_TRANSLATE, NOW - 31 * day),  # click before the window...
        Event("old", "u1", "A", "like", NOW - 29 * day),  # ...so this engagement is not counted
        Event("p1", "u1", "A", IMPRESSION, NOW - 29 * day),
        Event("p1", "u1", "A", CLICK_TRANSLATE, NOW - 29 * day),
        Event("p1", "u1", "A", "like", NOW - 1),
        Event("p1", "u1", "A", "like", NOW + 1),  # after now
    ]
    with store_of(tmp_path, events) as store:
        report = analyze(store, now=NOW, window_days=30, min_posts=1)
        assert report.variants["A"].per_post == {"p1": 1}
        assert (report.variants["A"].posts, report.variants["A"].clicks) == (1, 1)
        assert analyze(store, now=NOW, window_days=45, min_posts=1).variants["A"].per_post == {"old": 1, "p1": 1}


def test_posts_logged_under_both_variants_are_left_out_and_reported(tmp_path: Path) -> None:
    events = [E("p1", "u1", "A", IMPRESSION, 1), E("p1", "u1", "A", CLICK_TRANSLATE, 2),
              E("p1", "u2", "B", IMPRESSION, 3), E("p1", "u2", "B", CLICK_TRANSLATE, 4),
              E("p2", "u1", "B", CLICK_TRANSLATE, 5)]
    with store_of(tmp_path, events) as store:
        report = analyze(store, now=NOW, min_posts=1)
    assert report.mixed_posts == 1
    assert report.variants["A"].per_post == {}
    assert report.variants["B"].per_post == {"p2": 0}


def test_b_stochastically_larger_gives_a_small_one_sided_p_value_and_adopts_b(tmp_path: Path) -> None:
    with counts_store(tmp_path, a=[0] * 30 + [1] * 30, b=[1] * 30 + [2] * 30) as store:
        report = analyze(store, now=NOW)
    assert report.p_value_b_greater < 1e-6
    assert report.p_value_two_sided < 1e-6
    assert report.ks_statistic == pytest.approx(0.5)
    assert report.decision == ADOPT_B


def test_b_stochastically_smaller_gives_a_one_sided_p_value_of_one(tmp_path: Path) -> None:
    with counts_store(tmp_path, a=[1] * 30 + [2] * 30, b=[0] * 30 + [1] * 30) as store:
        report = analyze(store, now=NOW)
    assert report.p_value_b_greater == pytest.approx(1.0)
    assert report.p_value_two_sided < 1e-6
    assert report.decision == KEEP_A


def test_a_significant_one_sided_test_with_a_lower_mean_keeps_a(tmp_path: Path) -> None:
    # B's CDF lies below A's at 1 and 2 (A has many 1s), but A's 10s give it the higher mean.
    with counts_store(tmp_path, a=[1] * 50 + [10] * 50, b=[3] * 100) as store:
        report = analyze(store, now=NOW)
    assert report.p_value_b_greater < 1e-6
    assert report.variants["B"].mean_engagement < report.variants["A"].mean_engagement
    assert report.decision == KEEP_A


def test_too_few_clicked_posts_is_not_enough_data(tmp_path: Path) -> None:
    with counts_store(tmp_path, a=[0] * 30, b=[5] * 19) as store:
        report = analyze(store, now=NOW, min_posts=20)
        assert report.decision == NOT_ENOUGH_DATA
        assert report.p_value_b_greater is not None
        assert analyze(store, now=NOW, min_posts=19).decision == ADOPT_B


def test_an_empty_store_is_not_enough_data_without_tests(tmp_path: Path) -> None:
    with EventStore(tmp_path / "ab.db") as store:
        report = analyze(store, now=NOW)
    assert report.decision == NOT_ENOUGH_DATA
    assert (report.ks_statistic, report.p_value_two_sided, report.p_value_b_greater) == (None, None, None)
    assert report.variants["A"].mean_engagement is None
    assert "Decision: not enough data" in report.markdown()


def test_the_report_serialises_and_states_its_rule(tmp_path: Path) -> None:
    with counts_store(tmp_path, a=[0, 1] * 15, b=[1, 2] * 15) as store:
        report = analyze(store, now=NOW, alpha=0.01, min_posts=25)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["decision"] == report.decision == ADOPT_B
    assert data["variants"]["B"]["clicked_posts"] == 30
    assert "per_post" not in data["variants"]["A"]
    assert "p < 0.01" in report.rule and "fewer than 25" in report.rule and "mean(B) > mean(A)" in report.rule
    text = report.markdown()
    assert "**Decision: adopt B**" in text and report.rule in text
    assert "| clicked posts (sample) | 30 | 30 |" in text


@pytest.mark.parametrize("kwargs", [{"window_days": 0}, {"alpha": 0}, {"alpha": 1.0}, {"min_posts": 0}])
def test_bad_settings_are_config_errors(tmp_path: Path, kwargs: dict) -> None:
    with EventStore(tmp_path / "ab.db") as store, pytest.raises(ConfigError, match=next(iter(kwargs))):
        analyze(store, now=NOW, **kwargs)


def simulated(path: Path, *, engagement_a: float, engagement_b: float, posts: int, seed: int):
    with EventStore(path) as store:
        simulate(store, experiment=Experiment("exp", 0.5), posts=posts, users=5000, days=30,
                 engagement_a=engagement_a, engagement_b=engagement_b, click_rate=0.5, seed=seed,
                 start=NOW - 30 * SECONDS_PER_DAY)
        return analyze(store, now=NOW)


def test_simulated_traffic_where_b_is_better_adopts_b(tmp_path: Path) -> None:
    report = simulated(tmp_path / "ab.db", engagement_a=1.0, engagement_b=1.3, posts=2000, seed=0)
    assert report.decision == ADOPT_B
    assert report.p_value_b_greater < 0.01


def test_simulated_traffic_where_b_is_worse_keeps_a(tmp_path: Path) -> None:
    report = simulated(tmp_path / "ab.db", engagement_a=1.3, engagement_b=1.0, posts=2000, seed=0)
    assert report.decision == KEEP_A
    assert report.p_value_b_greater > 0.5


def test_simulated_traffic_where_a_and_b_are_equal_rarely_adopts_b(tmp_path: Path) -> None:
    decisions = [simulated(tmp_path / f"ab{seed}.db", engagement_a=1.0, engagement_b=1.0, posts=400, seed=seed)
                 .decision for seed in range(40)]
    assert NOT_ENOUGH_DATA not in decisions
    assert decisions.count(ADOPT_B) / len(decisions) <= 0.15
