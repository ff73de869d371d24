"""ExclusionWriter: every dropped row is kept with its reason, and counted."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mtforge.corpus import EXCLUSION_SCHEMA, EXCLUSIONS_NAME, ExclusionWriter

ROW = {"src": "a", "tgt": "b", "src_lang": "en", "tgt_lang": "de", "origin": "x.tsv:1"}


def test_rows_reasons_and_counts(tmp_path: Path) -> None:
    with ExclusionWriter(tmp_path, flush_rows=2) as excluded:
        excluded.add([ROW, {**ROW, "origin": "x.tsv:2"}], "too_long")
        excluded.add(pa.Table.from_pylist([{**ROW, "origin": "x.tsv:3"}] * 3), pa.array(["copy", "empty", "copy"]))
        excluded.add([], "empty")
        assert excluded.counts() == {"copy": 2, "empty": 1, "too_long": 2}

    table = pq.read_table(tmp_path / EXCLUSIONS_NAME)
    assert table.schema.equals(EXCLUSION_SCHEMA)
    assert table.column("reason").to_pylist() == ["too_long", "too_long", "copy", "empty", "copy"]
    assert table.column("src_lang").to_pylist() == ["eng_Latn"] * 5
    assert table.column("origin").to_pylist()[:3] == ["x.tsv:1", "x.tsv:2", "x.tsv:3"]


def test_file_exists_only_when_finished_and_is_empty_when_nothing_dropped(tmp_path: Path) -> None:
    excluded = ExclusionWriter(tmp_path)
    assert not (tmp_path / EXCLUSIONS_NAME).exists()
    assert excluded.close() == tmp_path / EXCLUSIONS_NAME
    assert pq.read_table(tmp_path / EXCLUSIONS_NAME).num_rows == 0
    assert excluded.counts() == {}


def test_failed_step_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), ExclusionWriter(tmp_path) as excluded:
        excluded.add([ROW], "empty")
        raise RuntimeError("step failed")
    assert list(tmp_path.iterdir()) == []


def test_one_reason_per_row_is_required(tmp_path: Path) -> None:
    with ExclusionWriter(tmp_path) as excluded, pytest.raises(ValueError, match="2 rows, 1 reasons"):
        excluded.add([ROW, ROW], pa.array(["empty"]))


def test_scores_are_kept_per_row_and_mono_rows_have_their_own_schema(tmp_path: Path) -> None:
    with ExclusionWriter(tmp_path / "bitext") as excluded:
        excluded.add([ROW, ROW], pa.array(["language_id", "length"]), pa.array([0.12, None]))
    table = pq.read_table(tmp_path / "bitext" / EXCLUSIONS_NAME)
    assert table.column("reason_score").to_pylist() == [0.12, None]

    with ExclusionWriter(tmp_path / "mono", kind="mono") as excluded:
        excluded.add([{"text": "ciao", "lang": "it", "origin": "a.txt:3"}], "lid_mismatch", pa.array([0.4]))
    mono = pq.read_table(tmp_path / "mono" / EXCLUSIONS_NAME)
    assert mono.schema.names == ["text", "lang", "score", "origin", "reason", "reason_score"]
    assert mono.to_pylist()[0] == {"text": "ciao", "lang": "ita_Latn", "score": None, "origin": "a.txt:3",
                                   "reason": "lid_mismatch", "reason_score": 0.4}


def test_a_score_count_that_does_not_match_the_rows_is_refused(tmp_path: Path) -> None:
    with ExclusionWriter(tmp_path) as excluded, pytest.raises(ValueError, match="one score per row"):
        excluded.add([ROW, ROW], "length", pa.array([1.0]))
