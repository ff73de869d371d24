"""``evaluate``: corpus BLEU and chrF++ per direction with sacrebleu, plus a Markdown report."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from pydantic import Field

from mtforge.corpus import Corpus
from mtforge.errors import CorpusFormatError
from mtforge.scoring import score_direction
from mtforge.stage import Resources, StageConfig, stage
from mtforge.tracking import Score

SCORES_FILE = "scores.json"
REPORT_FILE = "report.md"


class EvaluateConfig(StageConfig):
    """Metric settings (sacrebleu defaults otherwise)."""

    tokenize: str = Field("13a", description="sacrebleu BLEU tokenizer (13a, flores200, zh, …)")


def pairs_by_direction(corpus: Corpus) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in corpus.iter_rows():
        out.setdefault(f"{row['src_lang']}-{row['tgt_lang']}", []).append(row["tgt"])
    return out


def markdown_report(scores: list[Score]) -> str:
    lines = ["| direction | BLEU | chrF++ | segments |", "|---|---:|---:|---:|"]
    lines += [f"| {s.direction} | {s.bleu:.2f} | {s.chrf:.2f} | {s.n_segments} |" for s in scores]
    if scores:
        lines += ["", f"BLEU: `{scores[0].bleu_signature}`", "", f"chrF++: `{scores[0].chrf_signature}`"]
    return "\n".join(lines) + "\n"


@stage("evaluate", version="1", config=EvaluateConfig, resources=Resources(cpu="1", memory="1Gi"))
def evaluate(*, translations: str, references: str, out_dir: str, config: EvaluateConfig) -> dict[str, float]:
    """Score ``translations`` (a corpus whose ``tgt`` are hypotheses) against ``references``
    (the corpus that was translated). Writes ``scores.json`` and ``report.md``."""
    hyps, refs = pairs_by_direction(Corpus.open(translations)), pairs_by_direction(Corpus.open(references))
    scores = []
    for direction, h in sorted(hyps.items()):
        r = refs.get(direction)
        if r is None or len(r) != len(h):
            raise CorpusFormatError(f"direction {direction}: {len(h)} hypotheses in {translations} but "
                                    f"{0 if r is None else len(r)} references in {references}")
        scores.append(score_direction(direction, h, r, config.tokenize))
    Path(out_dir, SCORES_FILE).write_text(json.dumps([asdict(s) for s in scores], indent=2))
    Path(out_dir, REPORT_FILE).write_text(markdown_report(scores))
    return {f"{metric}.{s.direction}": getattr(s, metric) for s in scores for metric in ("bleu", "chrf")}
