"""Human-readable reports of an evaluation directory: Markdown, one self-contained HTML page, heatmaps.

What a report shows (see :func:`html_report`):

* the tidy score table (BLEU, chrF++, TER, segments, empty hypotheses) of every test set, with
  the sacrebleu signatures;
* per test set with at least two directions, a source × target heatmap of BLEU and of chrF++
  (rows are source languages, columns target languages, blank grey cells were not scored);
* the best and worst segments by sentence chrF++ of every (test set, direction);
* given :class:`~mtforge.evaluation.significance.Comparison` rows, the candidate − baseline
  deltas as heatmaps (blue = candidate better for every metric, TER included) and a table of
  bootstrap means with 95 % confidence intervals and p-values. A significant (p < 0.05, paired
  bootstrap) improvement is marked ``▲``, a significant regression ``▼``.

The HTML page has no external URL, script or style sheet: the PNGs are inlined as base64 data
URIs, so it renders as a Kubeflow HTML artifact or a file opened from disk. All text (segments,
signatures, names) is HTML-escaped.

Plots use matplotlib's Agg canvas directly (no pyplot, no global backend switch).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from pathlib import Path

from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from numpy import ma

from mtforge.errors import ConfigError, CorpusFormatError
from mtforge.evaluation.metrics import sentence_chrf
from mtforge.evaluation.results import HIGHER_IS_BETTER, METRIC_LABELS, METRICS, Evaluation, MetricScore, Texts
from mtforge.evaluation.significance import ALPHA, Comparison

REPORT_HTML = "report.html"
REPORT_MD = "report.md"
HEATMAPS_DIR = "heatmaps"
#: Metrics drawn as heatmaps of a single evaluation.
HEATMAP_METRICS = ("bleu", "chrf")
#: How :attr:`Comparison.mark` is drawn: significant improvement / regression / not significant.
MARK_SYMBOLS = {"+": "▲", "-": "▼", "": ""}
SIGNIFICANCE_NOTE = (f"▲ / ▼: candidate significantly better / worse than the baseline "
                     f"(p < {ALPHA:g}, paired bootstrap)")
#: Segments shown per (test set, direction) as best and as worst.
SAMPLES_K = 3

Matrix = tuple[list[str], list[str], list[list[float | None]]]


# --------------------------------------------------------------------------------------------- matrices
def _split_direction(direction: str, testset: str) -> tuple[str, str]:
    parts = direction.split("-")
    if len(parts) != 2 or not all(parts):
        raise CorpusFormatError(f"test set {testset!r}: direction {direction!r} is not '<src>-<tgt>' "
                                "(e.g. 'eng_Latn-deu_Latn')")
    return parts[0], parts[1]


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")


def _matrix(values: dict[str, float], testset: str) -> Matrix:
    """Rows = sorted source languages, columns = sorted target languages of ``values``
    (direction → value); unscored cells and the diagonal are ``None``."""
    pairs = {_split_direction(d, testset): v for d, v in values.items()}
    sources = sorted({s for s, _ in pairs})
    targets = sorted({t for _, t in pairs})
    grid = [[None if s == t else pairs.get((s, t)) for t in targets] for s in sources]
    return sources, targets, grid


def score_matrix(scores: list[MetricScore], metric: str, testset: str) -> Matrix:
    """``(sources, targets, values)`` of ``metric`` on ``testset``: ``values[i][j]`` is the score
    of ``sources[i]-targets[j]``, ``None`` where that direction was not scored (and on the
    diagonal). Languages are sorted; both lists are empty when nothing matches.

    Raises :class:`ConfigError` for an unknown metric, :class:`CorpusFormatError` for a
    direction that is not ``<src>-<tgt>`` or scored twice.
    """
    _check_metric(metric)
    values: dict[str, float] = {}
    for s in scores:
        if (s.metric, s.testset) != (metric, testset):
            continue
        if s.direction in values:
            raise CorpusFormatError(f"{s.key} is scored twice in the score table; each (metric, direction, "
                                    "test set) must appear once")
        values[s.direction] = s.value
    return _matrix(values, testset)


def delta_matrix(comparisons: list[Comparison], metric: str, testset: str) -> Matrix:
    """Like :func:`score_matrix` with :attr:`Comparison.delta` (candidate − baseline) as values."""
    _check_metric(metric)
    values: dict[str, float] = {}
    for c in comparisons:
        if (c.metric, c.testset) == (metric, testset):
            if c.direction in values:
                raise CorpusFormatError(f"{metric}.{c.direction}.{testset} is compared twice")
            values[c.direction] = c.delta
    return _matrix(values, testset)


# --------------------------------------------------------------------------------------------- plots
def _luminance(rgba: tuple[float, float, float, float]) -> float:
    r, g, b, _ = rgba
    return 0.299 * r + 0.587 * g + 0.114 * b


def _heatmap_figure(matrix: Matrix, *, cell_text: list[list[str]], colour_values: list[list[float | None]],
                    cmap_name: str, norm: Normalize, title: str, colourbar_label: str) -> Figure:
    """A figure with one annotated source × target heatmap; ``None`` cells are grey and blank."""
    sources, targets, _ = matrix
    n_rows, n_cols = len(sources), len(targets)
    width = max(5.0, 2.6 + 0.62 * n_cols)
    height = max(3.2, 1.9 + 0.42 * n_rows)
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cmap = colormaps[cmap_name].with_extremes(bad="#d9d9d9")
    data = ma.masked_invalid([[float("nan") if v is None else v for v in row] for row in colour_values])
    image = ax.imshow(data, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    font = 8 if max(n_rows, n_cols) <= 12 else 7 if max(n_rows, n_cols) <= 20 else 6
    for i, row in enumerate(colour_values):
        for j, value in enumerate(row):
            if value is None or not cell_text[i][j]:
                continue
            colour = "white" if _luminance(cmap(norm(value))) < 0.5 else "black"
            ax.text(j, i, cell_text[i][j], ha="center", va="center", fontsize=font, color=colour)
    ax.set_xticks(range(n_cols), targets, rotation=45 if n_cols > 3 else 0, ha="right" if n_cols > 3 else "center",
                  rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(n_rows), sources, fontsize=8)
    ax.set_xlabel("target language")
    ax.set_ylabel("source language")
    ax.set_title(title, fontsize=10)
    bar = fig.colorbar(image, ax=ax, shrink=0.9)
    bar.set_label(colourbar_label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _require_cells(matrix: Matrix, what: str, testset: str, available: Iterable[str]) -> None:
    if not matrix[0]:
        known = sorted(set(available))
        raise ConfigError(f"no {what} for test set {testset!r}; test sets present: {', '.join(known) or 'none'}")


def _heatmap_bytes(scores: list[MetricScore], metric: str, testset: str) -> bytes:
    matrix = score_matrix(scores, metric, testset)
    _require_cells(matrix, f"{metric} scores", testset, (s.testset for s in scores if s.metric == metric))
    present = [v for row in matrix[2] for v in row if v is not None]
    low, high = min(present), max(present)
    if high - low < 1.0:
        low, high = low - 0.5, high + 0.5
    text = [["" if v is None else f"{v:.1f}" for v in row] for row in matrix[2]]
    better = "higher" if HIGHER_IS_BETTER[metric] else "lower"
    label = METRIC_LABELS[metric]
    fig = _heatmap_figure(matrix, cell_text=text, colour_values=matrix[2],
                          # bright = better for every metric: TER (lower is better) uses the reversed map
                          cmap_name="viridis" if HIGHER_IS_BETTER[metric] else "viridis_r",
                          norm=Normalize(low, high), title=f"{label} — {testset}",
                          colourbar_label=f"{label} ({better} is better)")
    return _png(fig)


def heatmap_png(scores: list[MetricScore], metric: str, testset: str, path: str | Path) -> Path:
    """Write the source × target heatmap of ``metric`` on ``testset`` to ``path`` (PNG).

    Each scored cell shows its value; unscored cells are grey and blank; brighter is better for
    every metric. Raises :class:`ConfigError` when ``testset`` has no ``metric`` scores.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_heatmap_bytes(scores, metric, testset))
    return path


def _delta_bytes(comparisons: list[Comparison], metric: str, testset: str, *, baseline_name: str,
                 candidate_name: str) -> bytes:
    matrix = delta_matrix(comparisons, metric, testset)
    _require_cells(matrix, f"{metric} comparisons", testset, (c.testset for c in comparisons if c.metric == metric))
    by_direction = {c.direction: c for c in comparisons if (c.metric, c.testset) == (metric, testset)}
    sources, targets, deltas = matrix
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    # colour by improvement, so the candidate being better is blue whatever the metric
    improvement = [[None if d is None else sign * d for d in row] for row in deltas]
    text = [["" if d is None else f"{d:+.2f}{MARK_SYMBOLS[by_direction[f'{s}-{t}'].mark]}"
             for t, d in zip(targets, row)] for s, row in zip(sources, deltas)]
    span = max([abs(v) for row in improvement for v in row if v is not None] + [0.0]) or 1.0
    label = METRIC_LABELS[metric]
    title = (f"Δ {label} ({candidate_name} − {baseline_name}) — {testset}\n"
             f"blue = {candidate_name} better; ▲/▼ significant (p < {ALPHA:g}, paired bootstrap)")
    fig = _heatmap_figure(matrix, cell_text=text, colour_values=improvement, cmap_name="RdBu",
                          norm=Normalize(-span, span), title=title,
                          colourbar_label=f"improvement in {label}" + ("" if sign > 0 else " (−Δ, lower is better)"))
    return _png(fig)


def delta_heatmap_png(comparisons: list[Comparison], metric: str, testset: str, path: str | Path, *,
                      baseline_name: str = "baseline", candidate_name: str = "candidate") -> Path:
    """Write the heatmap of candidate − baseline ``metric`` deltas on ``testset`` to ``path``.

    The colour map is diverging and centred at 0 with blue meaning "candidate better" for every
    metric (for TER a negative delta is blue); cells read e.g. ``+1.30▲`` / ``-2.10▼``, the mark
    standing for a significant improvement / regression (:attr:`Comparison.mark`, p < 0.05
    paired bootstrap). Raises :class:`ConfigError` when nothing of ``metric`` on ``testset`` was compared.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_delta_bytes(comparisons, metric, testset, baseline_name=baseline_name,
                                  candidate_name=candidate_name))
    return path


# --------------------------------------------------------------------------------------------- samples
def samples(texts: Texts, k: int = SAMPLES_K) -> dict[str, list[dict]]:
    """The ``k`` best and ``k`` worst segments of ``texts`` by sentence chrF++.

    Returns ``{"best": [...], "worst": [...]}``, each item ``{"line": 1-based line number,
    "chrf": float, "src", "ref", "hyp"}``; best is in decreasing, worst in increasing chrF++
    order, ties broken by line order. With fewer than ``2k`` segments the lists overlap.
    """
    if k < 1:
        raise ConfigError(f"samples: k must be at least 1, got {k}")
    if not len(texts.src) == len(texts.ref) == len(texts.hyp):
        raise CorpusFormatError(f"samples: {len(texts.src)} source, {len(texts.ref)} reference and "
                                f"{len(texts.hyp)} hypothesis lines; they must be aligned")
    scores = sentence_chrf(texts.hyp, texts.ref)

    def item(i: int) -> dict:
        return {"line": i + 1, "chrf": scores[i], "src": texts.src[i], "ref": texts.ref[i], "hyp": texts.hyp[i]}

    best = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
    worst = sorted(range(len(scores)), key=lambda i: (scores[i], i))[:k]
    return {"best": [item(i) for i in best], "worst": [item(i) for i in worst]}


# --------------------------------------------------------------------------------------------- tables
def _testsets(scores: list[MetricScore]) -> list[str]:
    return sorted({s.testset for s in scores})


def _rows(scores: list[MetricScore], testset: str) -> list[dict]:
    """One dict per direction of ``testset``: metric values (``None`` when absent), segments, empty hyps."""
    rows: dict[str, dict] = {}
    for s in scores:
        if s.testset != testset:
            continue
        row = rows.setdefault(s.direction, {"direction": s.direction, **{m: None for m in METRICS},
                                            "n_segments": s.n_segments, "empty_hypotheses": s.empty_hypotheses})
        row[s.metric] = s.value
    return [rows[d] for d in sorted(rows)]


def _signatures(scores: list[MetricScore], testset: str) -> list[tuple[str, list[str], str]]:
    """``(metric, directions, signature)`` per distinct signature of each metric on ``testset``;
    ``directions`` is empty when the signature holds for all of them."""
    out = []
    for metric in METRICS:
        groups: dict[str, list[str]] = {}
        for s in scores:
            if (s.testset, s.metric) == (testset, metric):
                groups.setdefault(s.signature, []).append(s.direction)
        for signature, directions in sorted(groups.items()):
            out.append((metric, sorted(directions) if len(groups) > 1 else [], signature))
    return out


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def markdown_report(evaluation: Evaluation) -> str:
    """Per test set a table ``direction | BLEU | chrF++ | TER | segments | empty hyps``
    followed by its sacrebleu signatures (each distinct one once)."""
    lines: list[str] = []
    for testset in _testsets(evaluation.scores):
        lines += [f"## {testset}", "", "| direction | BLEU | chrF++ | TER | segments | empty hyps |",
                  "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['direction']} | {_fmt(r['bleu'])} | {_fmt(r['chrf'])} | {_fmt(r['ter'])} | "
                  f"{r['n_segments']} | {r['empty_hypotheses']} |" for r in _rows(evaluation.scores, testset)]
        lines += ["", "Signatures:", ""]
        for metric, directions, signature in _signatures(evaluation.scores, testset):
            scope = f" ({', '.join(directions)})" if directions else ""
            lines.append(f"- {METRIC_LABELS[metric]}{scope}: `{signature}`")
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- HTML
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; vertical-align: top; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 0.85em; background: #f6f6f6; padding: 0 0.2em; word-break: break-all; }
img { max-width: 100%; display: block; margin: 0.6em 0; }
details { margin: 0.3em 0; } summary { cursor: pointer; }
.better { color: #1f5fa8; font-weight: bold; } .worse { color: #b2182b; font-weight: bold; }
.note { color: #555; font-size: 0.9em; } em.empty { color: #999; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _directions(scores: list[MetricScore], testset: str) -> list[str]:
    return sorted({s.direction for s in scores if s.testset == testset})


def _images(evaluation: Evaluation, comparisons: list[Comparison] | None, *, baseline_name: str,
            candidate_name: str) -> dict[str, bytes]:
    """Every heatmap of the report, by its path under the evaluation directory."""
    images: dict[str, bytes] = {}
    for testset in _testsets(evaluation.scores):
        if len(_directions(evaluation.scores, testset)) < 2:
            continue
        for metric in HEATMAP_METRICS:
            if any((s.testset, s.metric) == (testset, metric) for s in evaluation.scores):
                images[f"{HEATMAPS_DIR}/{metric}.{testset}.png"] = _heatmap_bytes(evaluation.scores, metric, testset)
    for testset in sorted({c.testset for c in comparisons or []}):
        if len({c.direction for c in comparisons if c.testset == testset}) < 2:
            continue
        for metric in [m for m in METRICS if any((c.testset, c.metric) == (testset, m) for c in comparisons)]:
            images[f"{HEATMAPS_DIR}/delta.{metric}.{testset}.png"] = _delta_bytes(
                comparisons, metric, testset, baseline_name=baseline_name, candidate_name=candidate_name)
    return images


def _score_table(scores: list[MetricScore], testset: str) -> list[str]:
    out = ["<table>", "<tr><th>direction</th>" + "".join(f"<th>{_e(METRIC_LABELS[m])}</th>" for m in METRICS)
           + "<th>segments</th><th>empty hyps</th></tr>"]
    for r in _rows(scores, testset):
        cells = "".join(f'<td class="num">{_fmt(r[m])}</td>' for m in METRICS)
        out.append(f"<tr><td>{_e(r['direction'])}</td>{cells}<td class=\"num\">{r['n_segments']}</td>"
                   f"<td class=\"num\">{r['empty_hypotheses']}</td></tr>")
    out.append("</table>")
    out.append('<ul class="note">')
    for metric, directions, signature in _signatures(scores, testset):
        scope = f" ({_e(', '.join(directions))})" if directions else ""
        out.append(f"<li>{_e(METRIC_LABELS[metric])}{scope}: <code>{_e(signature)}</code></li>")
    out.append("</ul>")
    return out


def _sample_tables(texts: Texts, k: int) -> list[str]:
    picked = samples(texts, k)
    out = []
    for kind in ("best", "worst"):
        out += [f"<h4>{kind} {k} by sentence chrF++</h4>", "<table>",
                "<tr><th>line</th><th>chrF++</th><th>source</th><th>reference</th><th>hypothesis</th></tr>"]
        for item in picked[kind]:
            hyp = _e(item["hyp"]) if item["hyp"].strip() else '<em class="empty">(empty)</em>'
            out.append(f'<tr><td class="num">{item["line"]}</td><td class="num">{item["chrf"]:.1f}</td>'
                       f"<td>{_e(item['src'])}</td><td>{_e(item['ref'])}</td><td>{hyp}</td></tr>")
        out.append("</table>")
    return out


def _comparison_rows(comparisons: list[Comparison]) -> list[str]:
    out = ["<table>", "<tr><th>test set</th><th>direction</th><th>metric</th><th>baseline (mean ± 95% CI)</th>"
           "<th>candidate (mean ± 95% CI)</th><th>Δ</th><th>p-value</th><th>significance</th></tr>"]
    order = {m: i for i, m in enumerate(METRICS)}
    for c in sorted(comparisons, key=lambda c: (c.testset, c.direction, order.get(c.metric, len(order)))):
        verdict = {"+": '<span class="better">▲ better</span>', "-": '<span class="worse">▼ worse</span>'}.get(
            c.mark, "n.s.")
        out.append(f"<tr><td>{_e(c.testset)}</td><td>{_e(c.direction)}</td><td>{_e(METRIC_LABELS[c.metric])}</td>"
                   f'<td class="num">{c.baseline_mean:.2f} ± {c.baseline_ci:.2f}</td>'
                   f'<td class="num">{c.candidate_mean:.2f} ± {c.candidate_ci:.2f}</td>'
                   f'<td class="num">{c.delta:+.2f}{MARK_SYMBOLS[c.mark]}</td>'
                   f'<td class="num">{c.p_value:.4f}</td><td>{verdict}</td></tr>')
    out.append("</table>")
    return out


def _html(evaluation: Evaluation, images: dict[str, bytes], *, title: str, comparisons: list[Comparison] | None,
          baseline_name: str, candidate_name: str, k: int) -> str:
    scores = evaluation.scores
    testsets = _testsets(scores)
    n_pairs = len(evaluation.pairs())
    body = [f"<h1>{_e(title)}</h1>",
            f'<p class="note">{len(testsets)} test set(s), {n_pairs} (test set, direction) pair(s). '
            "Scores by sacrebleu: BLEU, chrF++ (higher is better), TER (lower is better).</p>"]
    for testset in testsets:
        body.append(f"<h2>{_e(testset)}</h2>")
        body += _score_table(scores, testset)
        for metric in HEATMAP_METRICS:
            png = images.get(f"{HEATMAPS_DIR}/{metric}.{testset}.png")
            if png is not None:
                body.append(_img(png, f"{METRIC_LABELS[metric]} heatmap, {testset}"))
        body.append(f"<h3>Sample translations ({_e(testset)})</h3>")
        for direction in _directions(scores, testset):
            body.append(f"<details><summary>{_e(direction)}</summary>")
            body += _sample_tables(evaluation.texts(testset, direction), k)
            body.append("</details>")
    if comparisons:
        body += [f'<h2 id="comparison">Comparison: {_e(candidate_name)} vs {_e(baseline_name)}</h2>',
                 f'<p class="note">Δ = {_e(candidate_name)} − {_e(baseline_name)} (corpus scores). '
                 f"{_e(SIGNIFICANCE_NOTE)}. Means and 95% confidence intervals from paired bootstrap "
                 "resampling; in the heatmaps blue means the candidate is better (for TER: lower).</p>"]
        for testset in sorted({c.testset for c in comparisons}):
            for metric in METRICS:
                png = images.get(f"{HEATMAPS_DIR}/delta.{metric}.{testset}.png")
                if png is not None:
                    body.append(_img(png, f"delta {METRIC_LABELS[metric]} heatmap, {testset}"))
        body += _comparison_rows(comparisons)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


def html_report(evaluation: Evaluation, *, title: str, comparisons: list[Comparison] | None = None,
                baseline_name: str = "baseline", candidate_name: str = "candidate", k: int = SAMPLES_K) -> str:
    """One self-contained HTML page of ``evaluation`` (see the module docstring): score tables with
    signatures, BLEU/chrF++ heatmaps of test sets with >= 2 directions, best/worst ``k`` samples
    per (test set, direction), and with ``comparisons`` a comparison section (delta heatmaps of
    test sets with >= 2 compared directions, and a table of every comparison)."""
    images = _images(evaluation, comparisons, baseline_name=baseline_name, candidate_name=candidate_name)
    return _html(evaluation, images, title=title, comparisons=comparisons, baseline_name=baseline_name,
                 candidate_name=candidate_name, k=k)


def write_report(evaluation_root: str | Path, *, title: str, comparisons: list[Comparison] | None = None,
                 baseline_name: str = "baseline", candidate_name: str = "candidate",
                 k: int = SAMPLES_K) -> dict[str, Path]:
    """Write ``report.html``, ``report.md`` and the heatmaps (``heatmaps/<metric>.<testset>.png``,
    with comparisons also ``heatmaps/delta.<metric>.<testset>.png``) into the evaluation
    directory ``evaluation_root``. Returns each written file by its path relative to the root
    (e.g. ``"report.html"``, ``"heatmaps/bleu.flores200_devtest.png"``)."""
    evaluation = Evaluation(evaluation_root)
    root = evaluation.root
    images = _images(evaluation, comparisons, baseline_name=baseline_name, candidate_name=candidate_name)
    written: dict[str, Path] = {}
    for name, png in images.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        written[name] = path
    (root / REPORT_MD).write_text(markdown_report(evaluation), encoding="utf-8")
    written[REPORT_MD] = root / REPORT_MD
    (root / REPORT_HTML).write_text(_html(evaluation, images, title=title, comparisons=comparisons,
                                          baseline_name=baseline_name, candidate_name=candidate_name, k=k),
                                    encoding="utf-8")
    written[REPORT_HTML] = root / REPORT_HTML
    return written
