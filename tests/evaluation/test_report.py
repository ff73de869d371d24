"""Evaluation reports over real evaluation directories: sacrebleu scores of perturbed Multi30k
references (12 directions between en/de/fr/cs, plus a one-direction test set), rendered as
matrices, PNG heatmaps, Markdown and one self-contained HTML page."""

from __future__ import annotations

import base64
import re
import shutil
import warnings
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from mtforge.errors import ConfigError
from mtforge.evaluation.metrics import EmptyHypothesisWarning, score_texts, sentence_chrf
from mtforge.evaluation.report import (HEATMAPS_DIR, REPORT_HTML, REPORT_MD, delta_heatmap_png, heatmap_png,
                                       html_report, markdown_report, samples, score_matrix, write_report)
from mtforge.evaluation.results import METRIC_LABELS, Evaluation, Texts, write_scores, write_texts
from mtforge.evaluation.significance import compare_evaluations

LANGS = {"en": "eng_Latn", "de": "deu_Latn", "fr": "fra_Latn", "cs": "ces_Latn"}
M30K, SINGLE = "multi30k_test_2016_flickr", "multi30k_single"
EN_DE, DE_EN = "eng_Latn-deu_Latn", "deu_Latn-eng_Latn"
N_LINES = 30
SCRIPT = "<script>alert('x')</script> Ein Hund"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GREY = np.array([0xD9, 0xD9, 0xD9]) / 255  # the colour of unscored cells


def drop_words(line: str, every: int) -> str:
    """``line`` without every ``every``-th word (a deterministic, graded corruption)."""
    return " ".join(w for i, w in enumerate(line.split(), 1) if i % every)


@pytest.fixture(scope="module")
def lines(shared_data: Path) -> dict[str, list[str]]:
    return {code: (shared_data / "multi30k" / f"test_2016_flickr.{iso}").read_text(encoding="utf-8")
            .splitlines()[:N_LINES] for iso, code in LANGS.items()}


def build(root: Path, lines: dict[str, list[str]], hyps) -> Path:
    """An evaluation directory: every direction between LANGS on M30K and eng->deu on SINGLE,
    hypotheses ``hyps(direction index, direction, references)``."""
    root.mkdir(parents=True)
    scores = []
    directions = [(s, t) for s in LANGS.values() for t in LANGS.values() if s != t]
    for index, (s, t) in enumerate(directions):
        direction = f"{s}-{t}"
        hyp = hyps(index, direction, lines[t])
        src = [SCRIPT if direction == EN_DE and i == 4 else line for i, line in enumerate(lines[s])]
        write_texts(root, M30K, direction, Texts(src, lines[t], hyp))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EmptyHypothesisWarning)
            scores += score_texts(hyp, lines[t], testset=M30K, direction=direction)
    hyp = [drop_words(r, 4) for r in lines["deu_Latn"][:20]]
    write_texts(root, SINGLE, EN_DE, Texts(lines["eng_Latn"][:20], lines["deu_Latn"][:20], hyp))
    scores += score_texts(hyp, lines["deu_Latn"][:20], testset=SINGLE, direction=EN_DE)
    write_scores(root, scores)
    return root


def good_hyps(index: int, direction: str, refs: list[str]) -> list[str]:
    hyp = [drop_words(r, 3 + index % 5) for r in refs]
    if direction == EN_DE:
        hyp[4] = SCRIPT  # markup in a hypothesis and a source must come out escaped
    if direction == DE_EN:
        hyp[9] = ""  # one empty hypothesis
    return hyp


def bad_hyps(index: int, direction: str, refs: list[str]) -> list[str]:
    """Much worse than good_hyps everywhere except eng->deu, where it is the reference itself."""
    return list(refs) if direction == EN_DE else [" ".join(r.split()[:3]) for r in refs]


@pytest.fixture(scope="module")
def good(lines, tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("report") / "good", lines, good_hyps)


@pytest.fixture(scope="module")
def bad(lines, tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("report") / "bad", lines, bad_hyps)


@pytest.fixture(scope="module")
def comparisons(good: Path, bad: Path):
    """The bad system (candidate) against the good one (baseline)."""
    return compare_evaluations(Evaluation(good), Evaluation(bad), metrics=("bleu", "chrf", "ter"), n_samples=300)


def png_pixels(data: bytes, tmp_path: Path) -> np.ndarray:
    assert data[:8] == PNG_MAGIC
    path = tmp_path / "check.png"
    path.write_bytes(data)
    return imread(path)


def count_colour(pixels: np.ndarray, rgb: np.ndarray, tol: float = 0.01) -> int:
    return int(np.all(np.abs(pixels[..., :3] - rgb) < tol, axis=-1).sum())


# ------------------------------------------------------------------------------------ score_matrix
def test_score_matrix_puts_each_direction_at_source_row_and_target_column(good: Path) -> None:
    evaluation = Evaluation(good)
    for metric in ("bleu", "chrf", "ter"):
        sources, targets, values = score_matrix(evaluation.scores, metric, M30K)
        assert sources == targets == sorted(LANGS.values())
        for i, s in enumerate(sources):
            for j, t in enumerate(targets):
                expected = None if s == t else evaluation.value(metric, M30K, f"{s}-{t}")
                assert values[i][j] == expected, (metric, s, t)
    sources, targets, values = score_matrix(evaluation.scores, "bleu", M30K)
    en_de = values[sources.index("eng_Latn")][targets.index("deu_Latn")]
    de_en = values[sources.index("deu_Latn")][targets.index("eng_Latn")]
    assert (en_de, de_en) == (evaluation.value("bleu", M30K, EN_DE), evaluation.value("bleu", M30K, DE_EN))
    assert en_de != de_en  # the matrix is not symmetric: rows are sources


def test_score_matrix_leaves_unscored_directions_empty(good: Path) -> None:
    scores = Evaluation(good).scores
    without = [s for s in scores if s.direction != "ces_Latn-fra_Latn"]
    sources, targets, values = score_matrix(without, "chrf", M30K)
    assert values[sources.index("ces_Latn")][targets.index("fra_Latn")] is None
    assert values[sources.index("fra_Latn")][targets.index("ces_Latn")] is not None
    english_centric = [s for s in scores if s.direction.startswith("eng_Latn-")]
    sources, targets, values = score_matrix(english_centric, "bleu", M30K)
    assert sources == ["eng_Latn"] and targets == ["ces_Latn", "deu_Latn", "fra_Latn"]
    assert all(v is not None for v in values[0])
    assert score_matrix(scores, "bleu", SINGLE)[:2] == (["eng_Latn"], ["deu_Latn"])
    assert score_matrix(scores, "bleu", "no_such_testset") == ([], [], [])
    with pytest.raises(ConfigError, match="meteor"):
        score_matrix(scores, "meteor", M30K)


# ------------------------------------------------------------------------------------ heatmaps
def test_heatmap_png_for_twelve_directions_one_direction_and_28_languages(good: Path, lines, tmp_path: Path) -> None:
    scores = Evaluation(good).scores
    many = heatmap_png(scores, "bleu", M30K, tmp_path / "out" / "bleu.png")
    one = heatmap_png(scores, "chrf", SINGLE, tmp_path / "chrf.png")
    assert many == tmp_path / "out" / "bleu.png"
    big, small = png_pixels(many.read_bytes(), tmp_path), png_pixels(one.read_bytes(), tmp_path)
    assert small.shape[0] >= 250 and small.shape[1] >= 400
    assert big.shape[0] >= small.shape[0] and big.shape[1] >= small.shape[1]
    assert big[..., :3].std() > 0.1  # drawn, not blank
    # the four unscored diagonal cells are grey; the single scored cell has no grey around it
    assert count_colour(big, GREY) > 4 * 2000
    assert count_colour(small, GREY) < 500  # a few anti-aliased text pixels at most

    codes = ("spa_Latn ita_Latn por_Latn nld_Latn pol_Latn ron_Latn swe_Latn dan_Latn fin_Latn hun_Latn ell_Grek "
             "bul_Cyrl rus_Cyrl ukr_Cyrl tur_Latn arb_Arab heb_Hebr hin_Deva jpn_Jpan kor_Hang zho_Hans vie_Latn "
             "ind_Latn tha_Thai").split() + ["deu_Latn", "fra_Latn", "ces_Latn"]
    refs = lines["eng_Latn"][:5]
    flores = []
    for i, code in enumerate(codes):
        hyp = [drop_words(r, 2 + i % 6) for r in refs]
        for direction in (f"eng_Latn-{code}", f"{code}-eng_Latn"):
            flores += score_texts(hyp, refs, testset="flores200_devtest", direction=direction, metrics=("chrf",))
    wide = png_pixels(heatmap_png(flores, "chrf", "flores200_devtest", tmp_path / "f.png").read_bytes(), tmp_path)
    assert wide.shape[0] > big.shape[0] and wide.shape[1] > big.shape[1]

    with pytest.raises(ConfigError, match="no_such_testset"):
        heatmap_png(scores, "bleu", "no_such_testset", tmp_path / "x.png")


def red_blue(pixels: np.ndarray) -> tuple[int, int]:
    r, b = pixels[..., 0], pixels[..., 2]
    return int((r - b > 0.3).sum()), int((b - r > 0.3).sum())


def test_delta_heatmap_colours_the_better_system_blue_for_every_metric(comparisons, tmp_path: Path) -> None:
    # the candidate is worse in 11 of 12 directions: lower BLEU/chrF++ but *higher* TER -- all red
    for metric in ("bleu", "chrf", "ter"):
        path = delta_heatmap_png(comparisons, metric, M30K, tmp_path / f"{metric}.png",
                                 baseline_name="good", candidate_name="bad")
        red, blue = red_blue(png_pixels(path.read_bytes(), tmp_path))
        assert red > 3 * blue, (metric, red, blue)
    # the same comparison the other way round is mostly blue
    swapped = [type(c)(c.testset, c.direction, c.metric, c.candidate, c.baseline, c.candidate_mean, c.candidate_ci,
                       c.baseline_mean, c.baseline_ci, c.p_value) for c in comparisons]
    for metric in ("bleu", "ter"):
        path = delta_heatmap_png(swapped, metric, M30K, tmp_path / f"swapped-{metric}.png")
        red, blue = red_blue(png_pixels(path.read_bytes(), tmp_path))
        assert blue > 3 * red, (metric, red, blue)
    with pytest.raises(ConfigError, match=SINGLE):
        delta_heatmap_png(comparisons, "bleu", SINGLE + "x", tmp_path / "none.png")


# ------------------------------------------------------------------------------------ samples
def test_samples_are_the_best_and_worst_segments_by_sentence_chrf(good: Path) -> None:
    texts = Evaluation(good).texts(M30K, EN_DE)
    chrf = sentence_chrf(texts.hyp, texts.ref)
    picked = samples(texts, k=3)
    assert [s["chrf"] for s in picked["best"]] == sorted(chrf, reverse=True)[:3]
    assert [s["chrf"] for s in picked["worst"]] == sorted(chrf)[:3]
    assert picked["best"][0]["chrf"] == max(chrf) and picked["worst"][0]["chrf"] == min(chrf)
    for item in picked["best"] + picked["worst"]:
        i = item["line"] - 1
        assert (item["src"], item["ref"], item["hyp"], item["chrf"]) == (texts.src[i], texts.ref[i], texts.hyp[i],
                                                                          chrf[i])
    assert picked["worst"][0]["hyp"] == SCRIPT and picked["worst"][0]["line"] == 5
    assert samples(texts, k=3) == picked
    with pytest.raises(ConfigError, match="k"):
        samples(texts, k=0)


def test_samples_break_ties_by_line_order(lines) -> None:
    refs = lines["deu_Latn"][:8]
    hyps = [drop_words(r, 2) for r in refs]
    for i in (1, 3, 4):  # three perfect translations: chrF++ 100 each
        hyps[i] = refs[i]
    for i in (6, 2):  # two empty ones: chrF++ 0 each
        hyps[i] = ""
    picked = samples(Texts(lines["eng_Latn"][:8], refs, hyps), k=2)
    assert [s["line"] for s in picked["best"]] == [2, 4]
    assert [s["line"] for s in picked["worst"]] == [3, 7]
    assert [s["chrf"] for s in picked["worst"]] == [0.0, 0.0]


# ------------------------------------------------------------------------------------ Markdown
def test_markdown_report_has_a_table_per_test_set_and_each_signature_once(good: Path) -> None:
    evaluation = Evaluation(good)
    md = markdown_report(evaluation)
    sections = dict(re.findall(r"^## (\S+)\n(.*?)(?=^## |\Z)", md, flags=re.M | re.S))
    assert set(sections) == {M30K, SINGLE}
    assert "| direction | BLEU | chrF++ | TER | segments | empty hyps |" in sections[M30K]
    for testset, direction in evaluation.pairs():
        bleu, chrf, ter = (evaluation.value(m, testset, direction) for m in ("bleu", "chrf", "ter"))
        segments, empty = (20, 0) if testset == SINGLE else (N_LINES, 1 if direction == DE_EN else 0)
        assert f"| {direction} | {bleu:.2f} | {chrf:.2f} | {ter:.2f} | {segments} | {empty} |" in sections[testset]
    for testset, text in sections.items():
        signatures = {s.signature for s in evaluation.scores if s.testset == testset}
        assert len(signatures) == 3  # one per metric: every direction shares it
        for signature in signatures:
            assert text.count(signature) == 1


# ------------------------------------------------------------------------------------ HTML
class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))


def parse(page: str) -> list[tuple[str, dict]]:
    parser = Tags()
    parser.feed(page)
    return parser.tags


def data_uri_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def row_of(page: str, *cells: str) -> str:
    """The one table row whose first cells are ``cells``."""
    start = "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells)
    rows = [line for line in page.splitlines() if line.startswith(start)]
    assert len(rows) == 1, (cells, rows)
    return rows[0]


def test_html_report_is_one_self_contained_escaped_page(good: Path, tmp_path: Path) -> None:
    evaluation = Evaluation(good)
    page = html_report(evaluation, title="Run <1>")
    tags = parse(page)
    assert "<title>Run &lt;1&gt;</title>" in page
    # nothing external, nothing executable
    assert not [t for t, _ in tags if t in ("script", "link", "iframe", "object")]
    assert not re.search(r"(src|href)=\"(?!data:)", page) and "http://" not in page and "https://" not in page
    assert escape(SCRIPT) in page and SCRIPT not in page
    # the scores of every direction, in its row, and every signature
    for testset, direction in evaluation.pairs():
        row = [line for line in page.splitlines() if line.startswith(f"<tr><td>{direction}</td><td class=")]
        expected = [f"{evaluation.value(m, testset, direction):.2f}" for m in ("bleu", "chrf", "ter")]
        assert any(all(f">{v}<" in r for v in expected) for r in row), (testset, direction)
    for s in evaluation.scores:
        assert f"<code>{escape(s.signature)}</code>" in page
    # BLEU and chrF++ heatmaps of the 12-direction test set only, inlined as real PNGs
    images = [attrs for tag, attrs in tags if tag == "img"]
    assert sorted(a["alt"] for a in images) == [f"BLEU heatmap, {M30K}", f"chrF++ heatmap, {M30K}"]
    pngs = data_uri_pngs(page)
    assert len(pngs) == 2
    for png in pngs:
        assert png_pixels(png, tmp_path).shape[0] > 200
    # samples of every (test set, direction), the worst eng->deu one being the escaped markup
    summaries = re.findall(r"<summary>([^<]*)</summary>", page)
    assert summaries == [d for _, d in evaluation.pairs()]  # test sets in order: SINGLE, then M30K
    best = samples(evaluation.texts(M30K, "fra_Latn-ces_Latn"))["best"][0]
    assert f"<td>{escape(best['ref'])}</td><td>{escape(best['hyp'])}</td>" in page
    # no comparison without comparisons
    assert 'id="comparison"' not in page and "▼" not in page and "▲" not in page


def test_html_report_with_comparisons_shows_deltas_cis_and_significance(good: Path, bad: Path, comparisons,
                                                                        tmp_path: Path) -> None:
    by = {(c.direction, c.metric): c for c in comparisons if c.testset == M30K}
    assert by[(EN_DE, "bleu")].mark == "+"  # the candidate copies the references there
    assert by[(DE_EN, "bleu")].regression and by[(DE_EN, "ter")].regression and by[(DE_EN, "ter")].delta > 0

    page = html_report(Evaluation(bad), title="bad vs good", comparisons=comparisons, baseline_name="good-sys",
                       candidate_name="bad-sys")
    assert 'id="comparison"' in page and "bad-sys vs good-sys" in page and "p &lt; 0.05" in page
    alts = [attrs["alt"] for tag, attrs in parse(page) if tag == "img"]
    assert [a for a in alts if a.startswith("delta")] == [
        f"delta {METRIC_LABELS[m]} heatmap, {M30K}" for m in ("bleu", "chrf", "ter")]
    assert len(data_uri_pngs(page)) == 5
    for c in comparisons:
        row = row_of(page, c.testset, c.direction, METRIC_LABELS[c.metric])
        assert f"{c.baseline_mean:.2f} ± {c.baseline_ci:.2f}" in row
        assert f"{c.candidate_mean:.2f} ± {c.candidate_ci:.2f}" in row
        assert f"{c.p_value:.4f}" in row
        mark = {"+": "▲", "-": "▼", "": ""}[c.mark]
        assert f">{c.delta:+.2f}{mark}<" in row
        assert ("▼ worse" in row) == c.regression
    assert "▲ better" in row_of(page, M30K, EN_DE, "BLEU")
    assert "▼ worse" in row_of(page, M30K, DE_EN, "TER")


def test_write_report_writes_html_markdown_and_heatmaps(good: Path, bad: Path, comparisons, tmp_path: Path) -> None:
    root = shutil.copytree(bad, tmp_path / "evaluation")
    written = write_report(root, title="bad", comparisons=comparisons)
    heatmaps = [f"{HEATMAPS_DIR}/{m}.{M30K}.png" for m in ("bleu", "chrf")]
    deltas = [f"{HEATMAPS_DIR}/delta.{m}.{M30K}.png" for m in ("bleu", "chrf", "ter")]
    assert set(written) == {REPORT_HTML, REPORT_MD, *heatmaps, *deltas}
    for name, path in written.items():
        assert path == root / name and path.is_file()
    for name in heatmaps + deltas:
        assert written[name].read_bytes()[:8] == PNG_MAGIC
    evaluation = Evaluation(root)
    assert written[REPORT_MD].read_text(encoding="utf-8") == markdown_report(evaluation)
    page = written[REPORT_HTML].read_text(encoding="utf-8")
    assert data_uri_pngs(page) == [written[n].read_bytes() for n in heatmaps + deltas]

    plain = shutil.copytree(good, tmp_path / "plain")
    assert set(write_report(plain, title="good")) == {REPORT_HTML, REPORT_MD, *heatmaps}
    assert not list((plain / HEATMAPS_DIR).glob("delta.*"))
