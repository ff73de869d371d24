"""``mtforge serve-reference``: the drift reference of a training corpus, as the server loads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtforge.cli import main
from mtforge.serve.drift import DriftReference
from tests.conftest import DE, EN


def test_serve_reference_writes_what_the_server_reads(tiny_corpora: dict[str, Path], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "drift" / "reference.json"
    assert main(["serve-reference", str(tiny_corpora["train"]), "-o", str(out)]) == 0
    reference = DriftReference.load(out)
    assert reference.count == 600 and reference.languages == pytest.approx({EN: 0.5, DE: 0.5})
    assert abs(sum(reference.length_probs) - 1) < 1e-9
    assert f"{out}: 600 texts" in capsys.readouterr().out


def test_serve_reference_of_a_missing_corpus_is_an_error_naming_it(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve-reference", str(tmp_path / "nothing"), "-o", str(tmp_path / "r.json")]) == 2
    assert "nothing" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
