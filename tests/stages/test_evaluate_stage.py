"""The evaluate stage: per-direction sacrebleu BLEU and chrF++, signatures, report, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sacrebleu.metrics import BLEU, CHRF

from mtforge.corpus import Corpus, CorpusWriter
from mtforge.errors import ConfigError, CorpusFormatError
from mtforge.stage import read_stage_record, run_stage
from mtforge.stages.evaluate import REPORT_FILE, SCORES_FILE

EN, DE = "eng_Latn", "deu_Latn"

REFS = {
    f"{EN}-{DE}": ["Ein Hund rennt über die Wiese.", "Zwei Männer spielen Fußball im Park.",
                   "Eine Frau liest ein Buch.", "Kinder spielen am Strand."],
    f"{DE}-{EN}": ["A dog runs across the meadow.", "Two men play soccer in the park.",
                   "A woman reads a book."],
}
HYPS = {
    f"{EN}-{DE}": ["Ein Hund läuft über die Wiese.", "Zwei Männer spielen Fußball im Park.",
                   "Eine Frau liest.", "Kinder am Strand spielen."],
    f"{DE}-{EN}": ["A dog runs over the meadow.", "Two men are playing soccer in a park.",
                   "The woman reads a book."],
}


def write(path: Path, texts: dict[str, list[str]], *, interleave: bool) -> str:
    rows = []
    for direction, lines in texts.items():
        src, tgt = direction.split("-")
        rows.append([{"src": f"source {i}", "tgt": t, "src_lang": src, "tgt_lang": tgt} for i, t in enumerate(lines)])
    if interleave:  # directions mixed row by row; order within a direction kept
        flat = [r for group in zip(*[iter(g) for g in rows]) for r in group]
        flat += [r for g in rows for r in g[min(map(len, rows)):]]
    else:
        flat = [r for g in rows for r in g]
    with CorpusWriter(path) as writer:
        writer.write(flat)
    return str(path)


def sacrebleu_direct(hyps: list[str], refs: list[str], tokenize: str) -> tuple[float, float, str, str]:
    bleu, chrf = BLEU(tokenize=tokenize), CHRF(word_order=2)
    return (round(bleu.corpus_score(hyps, [refs]).score, 2), round(chrf.corpus_score(hyps, [refs]).score, 2),
            str(bleu.get_signature()), str(chrf.get_signature()))


@pytest.mark.parametrize("tokenize", ["13a", "char"])
def test_scores_equal_sacrebleu_per_direction(tmp_path: Path, tokenize: str) -> None:
    hyps = write(tmp_path / "hyps", HYPS, interleave=True)
    refs = write(tmp_path / "refs", REFS, interleave=False)
    out = tmp_path / "eval"
    stats = run_stage("evaluate", {"tokenize": tokenize}, out_dir=str(out), translations=hyps, references=refs)

    scores = {s["direction"]: s for s in json.loads((out / SCORES_FILE).read_text())}
    assert list(scores) == sorted(REFS)
    for direction in REFS:
        bleu, chrf, bleu_sig, chrf_sig = sacrebleu_direct(HYPS[direction], REFS[direction], tokenize)
        s = scores[direction]
        assert (s["bleu"], s["chrf"], s["n_segments"]) == (bleu, chrf, len(REFS[direction]))
        assert 0 < bleu < 100 and 0 < chrf < 100  # neither trivial nor perfect: a real comparison
        assert s["bleu_signature"] == bleu_sig and f"tok:{tokenize}" in bleu_sig and "nrefs:1" in bleu_sig
        assert s["chrf_signature"] == chrf_sig and "nw:2" in chrf_sig  # chrF++ = chrF with word bigrams
        assert stats[f"bleu.{direction}"] == bleu and stats[f"chrf.{direction}"] == chrf
    assert len(stats) == 4

    report = (out / REPORT_FILE).read_text()
    for direction, s in scores.items():
        assert f"| {direction} | {s['bleu']:.2f} | {s['chrf']:.2f} | {s['n_segments']} |" in report
    assert scores[f"{EN}-{DE}"]["bleu_signature"] in report
    assert read_stage_record(str(out))["config"] == {"tokenize": tokenize}


def test_scores_pair_hypotheses_with_references_by_position(tmp_path: Path) -> None:
    """Perfect hypotheses score 100; the same lines shifted by one do not."""
    refs = write(tmp_path / "refs", REFS, interleave=False)
    perfect = write(tmp_path / "perfect", REFS, interleave=True)
    stats = run_stage("evaluate", {}, out_dir=str(tmp_path / "a"), translations=perfect, references=refs)
    assert stats[f"bleu.{EN}-{DE}"] == 100.0 and stats[f"chrf.{DE}-{EN}"] == 100.0
    rotated = {d: lines[1:] + lines[:1] for d, lines in REFS.items()}
    shifted = write(tmp_path / "shifted", rotated, interleave=False)
    stats = run_stage("evaluate", {}, out_dir=str(tmp_path / "b"), translations=shifted, references=refs)
    assert stats[f"bleu.{EN}-{DE}"] < 50


def test_length_mismatch_names_both_counts_and_both_corpora(tmp_path: Path) -> None:
    refs = write(tmp_path / "refs", REFS, interleave=False)
    short = write(tmp_path / "short", {**HYPS, f"{EN}-{DE}": HYPS[f"{EN}-{DE}"][:3]}, interleave=False)
    with pytest.raises(CorpusFormatError) as err:
        run_stage("evaluate", {}, out_dir=str(tmp_path / "out"), translations=short, references=refs)
    message = str(err.value)
    assert f"{EN}-{DE}: 3 hypotheses" in message and "4 references" in message
    assert short in message and refs in message
    assert not (tmp_path / "out" / SCORES_FILE).exists()


def test_a_direction_missing_from_the_references_is_an_error(tmp_path: Path) -> None:
    refs = write(tmp_path / "refs", {f"{EN}-{DE}": REFS[f"{EN}-{DE}"]}, interleave=False)
    hyps = write(tmp_path / "hyps", HYPS, interleave=False)
    with pytest.raises(CorpusFormatError, match=f"{DE}-{EN}: 3 hypotheses .* but 0 references"):
        run_stage("evaluate", {}, out_dir=str(tmp_path / "out"), translations=hyps, references=refs)


def test_unknown_config_key_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'tokeniser'.*valid keys: tokenize"):
        run_stage("evaluate", {"tokeniser": "13a"}, out_dir=str(tmp_path), translations="x", references="y")


def test_pipeline_evaluation_scores_the_pipelines_translations(tiny_pipeline: dict[str, str]) -> None:
    """On the real tiny run: scores.json equals sacrebleu over translate's output vs the test refs."""
    out = Path(tiny_pipeline["evaluate"])
    scores = {s["direction"]: s for s in json.loads((out / SCORES_FILE).read_text())}
    assert sorted(scores) == [f"{DE}-{EN}", f"{EN}-{DE}"]
    refs: dict[str, list[str]] = {}
    for row in Corpus.open(tiny_pipeline["corpus.test"]).iter_rows():
        refs.setdefault(f"{row['src_lang']}-{row['tgt_lang']}", []).append(row["tgt"])
    for direction, s in scores.items():
        hyps = (Path(tiny_pipeline["translate"]) / f"{direction}.txt").read_text().splitlines()
        bleu, chrf, *_ = sacrebleu_direct(hyps, refs[direction], "13a")
        assert (s["bleu"], s["chrf"], s["n_segments"]) == (bleu, chrf, 6)
    assert read_stage_record(str(out))["stats"] == {
        f"{m}.{d}": scores[d][m] for d in scores for m in ("bleu", "chrf")}
