"""Filter chains (mtforge.curate.chain): configuration, first-rejecting-filter reasons and
scores, lazy evaluation, counters, and the default chain on real and noisy pairs."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pytest

from mtforge.curate.chain import DEFAULT_FILTERS, FilterChain, default_chain
from mtforge.curate.filters import HtmlTagFilter, LengthFilter, Pairs, RepetitionFilter
from mtforge.errors import ConfigError, InputNotFoundError

EN, DE = "eng_Latn", "deu_Latn"

PAIRS = [
    ("Two young guys with shaggy hair look at their hands.",
     "Zwei junge Männer mit zotteligem Haar betrachten ihre Hände."),
    ("", "Ein Hund."),  # length (min 1 word)
    ("<b>Sale</b> today", "<b>Verkauf</b> heute"),  # html_tag
    ("A dog.", "Ein großer brauner Hund rennt über eine grüne Wiese im Park."),  # length_ratio
    ("Buy now! Buy now! Buy now!", "Jetzt kaufen! Jetzt kaufen! Jetzt kaufen!"),  # repetition
    ("<i>Hi</i>", ""),  # both length and html_tag reject: length comes first
    ("A man sleeps.", "Ein Mann schläft."),
]


def batch(pairs: list[tuple[str, str]] = PAIRS) -> pa.Table:
    return pa.table({"src": [s for s, _ in pairs], "tgt": [t for _, t in pairs],
                     "src_lang": [EN] * len(pairs), "tgt_lang": [DE] * len(pairs), "id": list(range(len(pairs)))})


CONFIG = [{"length": {"min": 1, "max": 100}}, {"length_ratio": {"threshold": 3}}, "html_tag", {"repetition": None}]


def test_reasons_name_the_first_rejecting_filter_and_scores_are_its_score() -> None:
    result = FilterChain.from_config(CONFIG).apply(batch())
    assert result.reasons.to_pylist() == [None, "length", "html_tag", "length_ratio", "repetition", "length", None]
    assert result.scores.to_pylist() == [None, 0.0, 2.0, 5.5, 2.0, 0.0, None]
    assert result.reasons.type == pa.string() and result.scores.type == pa.float64()
    assert result.kept.tolist() == [True, False, False, False, False, False, True]


def test_filter_order_decides_the_reason() -> None:
    result = FilterChain.from_config(["html_tag", "length"]).apply(batch())
    assert result.reasons.to_pylist()[5] == "html_tag"


class SeenLength(LengthFilter):
    """A length filter that records the source texts it scores (not registered: no ``name``)."""

    seen: ClassVar[list[str]] = []

    def _score(self, pairs: Pairs) -> np.ndarray:
        self.seen.extend(pairs.src.text.to_pylist())
        return super()._score(pairs)


def test_a_filter_only_scores_pairs_no_earlier_filter_rejected() -> None:
    SeenLength.seen = []
    chain = FilterChain([HtmlTagFilter(), RepetitionFilter(), SeenLength(max=3)])
    result = chain.apply(batch())
    assert SeenLength.seen == [PAIRS[i][0] for i in (0, 1, 3, 6)]
    assert result.reasons.to_pylist() == ["length", "length", "html_tag", "length", "repetition", "html_tag", None]
    assert chain.labels == ("html_tag", "repetition", "length")


def test_stats_add_up_over_calls() -> None:
    chain = FilterChain.from_config(CONFIG)
    chain.apply(batch())
    chain.apply(batch(PAIRS[:2]))
    stats = chain.stats()
    assert list(stats) == ["length", "length_ratio", "html_tag", "repetition"]
    assert [(s.evaluated, s.rejected) for s in stats.values()] == [(9, 3), (6, 1), (5, 1), (4, 1)]
    assert all(s.seconds > 0 for s in stats.values())
    chain.reset_stats()
    assert all(s.evaluated == 0 for s in chain.stats().values())


def test_a_chain_stops_when_nothing_is_left_and_handles_empty_batches() -> None:
    chain = FilterChain.from_config([{"length": {"min": 50}}, "html_tag"])
    assert chain.apply(batch()).kept.sum() == 0
    assert chain.stats()["html_tag"].evaluated == 0
    empty = chain.apply(batch([]))
    assert len(empty.reasons) == 0 and len(empty.scores) == 0


def test_repeated_filters_get_numbered_labels() -> None:
    chain = FilterChain.from_config([{"regexp": {"pattern": "Sale"}}, {"regexp": {"pattern": "dog"}}])
    assert chain.labels == ("regexp", "regexp#2")
    assert chain.apply(batch()).reasons.to_pylist()[2:4] == ["regexp", "regexp#2"]


def test_yaml_config(tmp_path: Path) -> None:
    path = tmp_path / "chain.yaml"
    path.write_text("filters:\n"
                    "  - length: {min: 1, max: 150, unit: word}\n"
                    "  - length_ratio: {threshold: 3, unit: char}\n"
                    "  - identical\n")
    chain = FilterChain.from_config(path)
    assert chain.labels == ("length", "length_ratio", "identical")
    assert chain.filters[1].unit == "char" and chain.filters[0].max == 150
    assert FilterChain.from_config(str(path)).labels == chain.labels


def test_config_errors_name_the_filter_key_and_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"filters\[1\]: unknown filter 'lenght_ratio'; filters: .*length_ratio"):
        FilterChain.from_config(["length", {"lenght_ratio": {}}])
    with pytest.raises(ConfigError, match=r"filters\[0\]: filter 'length'.*max='long'"):
        FilterChain.from_config([{"length": {"max": "long"}}])
    with pytest.raises(ConfigError, match=r"filters\[0\]: a filter entry is one filter name"):
        FilterChain.from_config([{"length": {}, "html_tag": {}}])
    with pytest.raises(ConfigError, match="parameters of filter 'length' must be a mapping"):
        FilterChain.from_config([{"length": [1, 2]}])
    with pytest.raises(ConfigError, match="one key 'filters'"):
        FilterChain.from_config({"filter": []})


def test_yaml_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "chain.yaml"
    path.write_text("filters:\n  - length: {min: 1}\n  - long_word: {treshold: 30}\n")
    with pytest.raises(ConfigError, match=rf"{path}, line 3: filter 'long_word'.*'treshold'.*valid keys"):
        FilterChain.from_config(path)
    path.write_text("filters:\n  - length: {min: 1\n  - html_tag\n")
    with pytest.raises(ConfigError, match=rf"{path}, line \d+: not valid YAML"):
        FilterChain.from_config(path)
    with pytest.raises(InputNotFoundError, match="missing.yaml"):
        FilterChain.from_config(tmp_path / "missing.yaml")


def test_default_chain_keeps_real_pairs_and_rejects_noise(shared_data: Path) -> None:
    en = (shared_data / "multi30k" / "train.en").read_text(encoding="utf-8").splitlines()[:200]
    de = (shared_data / "multi30k" / "train.de").read_text(encoding="utf-8").splitlines()[:200]
    noise = {
        "identical": ("The Beatles - Let It Be", "The Beatles: let it be!"),
        "html_tag": ("<div>Two dogs play.</div>", "<div>Zwei Hunde spielen.</div>"),
        "length_ratio": ("Yes.", "Ja, das ist eine sehr gute Frage, über die wir morgen sprechen sollten."),
        "alphabet_ratio": ("Call +49 30 1234 5678", "Tel.: +49 (0)30 / 1234-5678"),
        "character_score": ("A man is cooking.", "Мужчина готовит еду на кухне."),
        "repetition": ("Click here click here click here click here", "Hier klicken hier klicken hier klicken"),
        "language_id": ("A man is cooking dinner in the kitchen.", "Un homme prépare le dîner dans la cuisine."),
    }
    result = default_chain().apply(batch(list(zip(en, de)) + list(noise.values())))
    reasons = result.reasons.to_pylist()
    assert reasons[200:] == list(noise)
    assert sum(r is None for r in reasons[:200]) >= 196
    assert len(DEFAULT_FILTERS) == len(default_chain().labels)
