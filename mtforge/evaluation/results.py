"""The evaluation directory: a tidy score table and the texts it was computed from.

Layout (``root`` is the ``evaluate`` stage's output directory)::

    scores.json                      # list of MetricScore rows (see below)
    scores.csv                       # the same rows as CSV (testset,direction,metric,value,…)
    texts/<testset>/<src>-<tgt>.src  # one segment per line, aligned across the three files
    texts/<testset>/<src>-<tgt>.ref
    texts/<testset>/<src>-<tgt>.hyp  # may hold empty lines (empty hypotheses)

Directions are ``<src>-<tgt>`` in FLORES-200 codes (``eng_Latn-deu_Latn``); test set labels
contain no ``.`` so ``<metric>.<direction>.<testset>`` is an unambiguous metric name.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from mtforge.errors import CorpusFormatError, InputNotFoundError

SCORES_FILE = "scores.json"
SCORES_CSV = "scores.csv"
TEXTS_DIR = "texts"
#: Where a pipeline's MLflow run keeps its evaluation directory (artifact path).
EVALUATION_ARTIFACT = "evaluation"
METRICS = ("bleu", "chrf", "ter")
#: Whether a larger value of the metric is better.
HIGHER_IS_BETTER = {"bleu": True, "chrf": True, "ter": False}
METRIC_LABELS = {"bleu": "BLEU", "chrf": "chrF++", "ter": "TER"}


@dataclass(frozen=True)
class MetricScore:
    """One cell of the tidy table: a corpus-level metric of one direction on one test set."""

    testset: str
    direction: str
    metric: str  # bleu | chrf | ter
    value: float
    signature: str
    n_segments: int
    empty_hypotheses: int = 0

    @property
    def key(self) -> str:
        """``<metric>.<direction>.<testset>``: the MLflow metric / stage stat name."""
        return f"{self.metric}.{self.direction}.{self.testset}"


@dataclass(frozen=True)
class Texts:
    """Aligned source, reference and hypothesis lines of one (test set, direction)."""

    src: list[str]
    ref: list[str]
    hyp: list[str]


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise InputNotFoundError(f"{path}: missing from the evaluation directory")
    text = path.read_text(encoding="utf-8")
    return text.split("\n")[:-1] if text else []


def texts_path(root: Path, testset: str, direction: str, kind: str) -> Path:
    """Where the ``kind`` (src, ref or hyp) lines of one (test set, direction) live."""
    return root / TEXTS_DIR / testset / f"{direction}.{kind}"


def write_texts(root: Path, testset: str, direction: str, texts: Texts) -> None:
    """Write the three aligned files (one segment per line; newlines inside a segment become spaces)."""
    for kind in ("src", "ref", "hyp"):
        path = texts_path(root, testset, direction, kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line.replace("\n", " ") + "\n" for line in getattr(texts, kind)), encoding="utf-8")


def write_scores(root: Path, scores: list[MetricScore]) -> None:
    """``scores.json`` and ``scores.csv`` of ``scores``."""
    rows = [asdict(s) for s in scores]
    (root / SCORES_FILE).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    with open(root / SCORES_CSV, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=[field.name for field in fields(MetricScore)])
        writer.writeheader()
        writer.writerows(rows)


class Evaluation:
    """An evaluation directory read back (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        path = self.root / SCORES_FILE
        if not path.is_file():
            raise InputNotFoundError(f"{self.root} is not an evaluation directory (no {SCORES_FILE})")
        try:
            self.scores = [MetricScore(**row) for row in json.loads(path.read_text(encoding="utf-8"))]
        except (TypeError, ValueError) as exc:
            raise CorpusFormatError(f"{path}: not a list of score rows ({exc})") from None

    def pairs(self) -> list[tuple[str, str]]:
        """The (test set, direction) pairs scored, sorted."""
        return sorted({(s.testset, s.direction) for s in self.scores})

    def value(self, metric: str, testset: str, direction: str) -> float | None:
        return next((s.value for s in self.scores
                     if (s.metric, s.testset, s.direction) == (metric, testset, direction)), None)

    def texts(self, testset: str, direction: str) -> Texts:
        """The aligned lines of one pair; a file of the wrong length is a :class:`CorpusFormatError`."""
        src, ref, hyp = (_lines(texts_path(self.root, testset, direction, k)) for k in ("src", "ref", "hyp"))
        if not len(src) == len(ref) == len(hyp):
            raise CorpusFormatError(f"{self.root / TEXTS_DIR / testset}: {direction} has {len(src)} source, "
                                    f"{len(ref)} reference and {len(hyp)} hypothesis lines")
        return Texts(src, ref, hyp)
