"""Temperature-scaled task weights and the curriculum."""

from __future__ import annotations

import pytest

from mtforge.errors import ConfigError
from mtforge.train.plan.weights import start_steps, task_weights

EN, DE, FR = "eng_Latn", "deu_Latn", "fra_Latn"


def test_temperature_one_is_proportional_to_size() -> None:
    assert task_weights([300, 100], 1.0) == pytest.approx([0.75, 0.25])


def test_higher_temperature_flattens() -> None:
    # (0.75 ** 0.5, 0.25 ** 0.5) normalised
    w = task_weights([300, 100], 2.0)
    assert w == pytest.approx([0.75**0.5 / (0.75**0.5 + 0.25**0.5), 0.25**0.5 / (0.75**0.5 + 0.25**0.5)])
    assert sum(w) == pytest.approx(1.0)
    assert task_weights([300, 100], 1e6) == pytest.approx([0.5, 0.5], abs=1e-5)


def test_unknown_sizes_give_uniform_weights() -> None:
    assert task_weights([None, 10, 5], 1.0) == pytest.approx([1 / 3] * 3)


def test_bad_temperature() -> None:
    with pytest.raises(ConfigError, match="temperature must be > 0, got 0"):
        task_weights([1], 0)


def test_curriculum_keys_in_any_form() -> None:
    steps = start_steps({"en-fr": 500, "deu_Latn-eng_Latn": 0}, [(EN, DE), (EN, FR), (DE, EN)])
    assert steps == {(EN, DE): 0, (EN, FR): 500, (DE, EN): 0}


def test_curriculum_unplanned_direction_and_negative_step() -> None:
    with pytest.raises(ConfigError, match=r"'fr-de' \(fra_Latn-deu_Latn\), which is not a planned direction"):
        start_steps({"fr-de": 10}, [(EN, DE)])
    with pytest.raises(ConfigError, match=r"curriculum\['en-de'\] is -1"):
        start_steps({"en-de": -1}, [(EN, DE)])
    with pytest.raises(ConfigError, match="twice"):
        start_steps({"en-de": 1, "eng-deu": 2}, [(EN, DE)])
