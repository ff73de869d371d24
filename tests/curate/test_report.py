"""Curation accounting: stats per reason and per language, and the invariant they keep."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from mtforge.corpus import ExclusionWriter
from mtforge.curate.report import curation_stats, exclusion_counts, markdown_report


def test_counts_per_reason_and_direction_come_from_the_exclusions_file(tmp_path: Path) -> None:
    rows = [{"src": "a", "tgt": "b", "src_lang": "en", "tgt_lang": lang} for lang in ("de", "de", "fr")]
    with ExclusionWriter(tmp_path) as excluded:
        excluded.add(rows, pa.array(["length", "identical", "length"]))
    counts = exclusion_counts(tmp_path, "bitext")
    assert counts == {("length", "eng_Latn-deu_Latn"): 1, ("identical", "eng_Latn-deu_Latn"): 1,
                      ("length", "eng_Latn-fra_Latn"): 1}
    stats = curation_stats(10, 7, counts)
    assert stats["excluded"] == 3 and stats["excluded.length"] == 2
    assert stats["excluded.length.eng_Latn-fra_Latn"] == 1
    report = markdown_report("curate-bitext", stats, counts, {"Decontamination": "No overlap found."})
    assert "| length | 2 | 1 | 1 |" in report and "## Decontamination" in report and "**10** lines in" in report


def test_counts_that_do_not_add_up_are_a_loud_error() -> None:
    with pytest.raises(ValueError, match="accounting error: 10 in != 8 kept \\+ 1 excluded"):
        curation_stats(10, 8, {("length", "eng_Latn-deu_Latn"): 1})
