"""Post → variant assignment: deterministic, respects the B share, independent across experiments."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from mtforge.abtest.router import Experiment, assign, bucket
from mtforge.errors import ConfigError

IDS = [f"post-{i}" for i in range(20_000)]


def share_of_b(experiment: str, share_b: float) -> float:
    return sum(assign(p, experiment=experiment, share_b=share_b) == "B" for p in IDS) / len(IDS)


def test_assignment_is_deterministic_and_only_a_or_b() -> None:
    first = [assign(p, experiment="exp-1", share_b=0.5) for p in IDS[:2000]]
    assert first == [assign(p, experiment="exp-1", share_b=0.5) for p in IDS[:2000]]
    assert set(first) == {"A", "B"}


def test_bucket_is_the_documented_sha256_mapping() -> None:
    """Other services must be able to reproduce the split from the documented formula."""
    digest = hashlib.sha256(b"exp-1:post-42").digest()
    assert bucket("post-42", experiment="exp-1") == int.from_bytes(digest[:8], "big") / 2**64
    u = bucket("post-42", experiment="exp-1")
    assert assign("post-42", experiment="exp-1", share_b=u) == "A"
    assert assign("post-42", experiment="exp-1", share_b=min(1.0, u + 1e-9)) == "B"


@pytest.mark.parametrize("share_b", [0.1, 0.5, 0.9])
def test_share_of_b_is_respected(share_b: float) -> None:
    assert share_of_b("exp-1", share_b) == pytest.approx(share_b, abs=0.015)


def test_share_zero_and_one_are_all_a_and_all_b() -> None:
    assert share_of_b("exp-1", 0.0) == 0.0
    assert share_of_b("exp-1", 1.0) == 1.0


def test_raising_the_share_only_moves_posts_from_a_to_b() -> None:
    low = {p for p in IDS if assign(p, experiment="exp-1", share_b=0.2) == "B"}
    high = {p for p in IDS if assign(p, experiment="exp-1", share_b=0.4) == "B"}
    assert low < high


def test_experiments_split_the_same_posts_independently() -> None:
    one = [assign(p, experiment="exp-1", share_b=0.5) == "B" for p in IDS]
    two = [assign(p, experiment="exp-2", share_b=0.5) == "B" for p in IDS]
    both = sum(a and b for a, b in zip(one, two, strict=True)) / len(IDS)
    assert both == pytest.approx(0.25, abs=0.015)
    assert one != two


def test_experiment_variant_matches_assign() -> None:
    experiment = Experiment("exp-1", 0.3)
    assert [experiment.variant(p) for p in IDS[:500]] == [assign(p, experiment="exp-1", share_b=0.3)
                                                          for p in IDS[:500]]
    with pytest.raises(dataclasses.FrozenInstanceError):
        experiment.share_b = 0.9  # type: ignore[misc]


@pytest.mark.parametrize("share_b", [-0.1, 1.1, float("nan"), True, "0.5"])
def test_a_share_outside_zero_one_is_a_config_error(share_b: object) -> None:
    with pytest.raises(ConfigError, match="share_b"):
        assign("post-1", experiment="exp-1", share_b=share_b)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="share_b"):
        Experiment("exp-1", share_b)  # type: ignore[arg-type]


def test_an_experiment_needs_a_name() -> None:
    with pytest.raises(ConfigError, match="name"):
        Experiment("", 0.5)
