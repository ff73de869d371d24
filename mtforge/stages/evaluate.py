"""``evaluate``: translate test sets with a trained checkpoint and score them with sacrebleu.

For every requested direction and every test set that has it, the stage translates the
source side (beam search, only that direction's modules loaded), scores BLEU, chrF++ and
TER with their sacrebleu signatures, and writes an evaluation directory
(:mod:`mtforge.evaluation.results`): the tidy table ``scores.json``/``scores.csv``, the
aligned source/reference/hypothesis lines, and ``report.html``/``report.md`` with heatmaps.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from pydantic import Field
from tqdm import tqdm

from mtforge.errors import ConfigError
from mtforge.evaluation.metrics import score_texts
from mtforge.evaluation.report import write_report
from mtforge.evaluation.results import Texts, write_scores, write_texts
from mtforge.evaluation.testsets import load_testset, parse_testsets
from mtforge.langcodes import format_direction, parse_directions
from mtforge.stage import Resources, StageConfig, stage
from mtforge.stages.spm import MODEL_FILE
from mtforge.train import checkpoint
from mtforge.train.plan import Plan
from mtforge.translate import Translator
from mtforge.vocab import Vocab

TESTSETS_WORK_DIR = "testsets"


class EvaluateConfig(StageConfig):
    """What to translate and how to score it."""

    testsets: str = Field("multi30k:test_2016_flickr",
                          description="test sets: multi30k[:split], flores200[:split], ntrex128, tico19 or "
                                      "<label>=<path or URI>, separated by commas")
    testsets_root: str = Field("s3://mtforge/data", description="folder or s3:// prefix holding the named test sets")
    directions: str = Field("", description="directions to evaluate, e.g. 'en-de,de-en'; empty: every trained one")
    beam_size: int = Field(4, ge=1, description="beam width")
    batch_sentences: int = Field(64, ge=1, description="sentences decoded together")
    max_sentences: int = Field(0, ge=0, description="evaluate only the first N segments of each test set (0: all)")
    tokenize: str = Field("13a", description="sacrebleu BLEU tokenizer (13a, flores200, zh, …)")
    title: str = Field("evaluation", description="report title")


def checkpoint_plan(model_dir: str) -> Plan:
    """The plan a trained model directory's checkpoint was written by."""
    return Plan.model_validate(checkpoint.require_frame(Path(model_dir) / "checkpoint")["plan"])


def requested_directions(plan: Plan, text: str) -> list[tuple[str, str]]:
    """``text``'s directions (every trained one when empty), each checked to be translatable
    by ``plan`` before anything runs (a :class:`ConfigError` lists what the model can do)."""
    if not text.strip():
        return sorted({(t.src_lang, t.tgt_lang) for t in plan.tasks})
    wanted = parse_directions(text)
    for src, tgt in wanted:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                plan.direction(src, tgt)
        except ConfigError as exc:
            raise ConfigError(f"the model cannot translate {format_direction(src, tgt)}: {exc}; "
                              f"trained directions: {', '.join(sorted(t.name for t in plan.tasks))}") from None
    return wanted


@stage("evaluate", version="2", config=EvaluateConfig, resources=Resources(cpu="2", memory="4Gi"))
def evaluate(*, model: str, vocab: str, out_dir: str, config: EvaluateConfig) -> dict[str, float]:
    """Translate and score ``config.testsets`` with the checkpoint in ``model`` (a train stage
    output) and the vocabulary in ``vocab`` (an spm stage output). Stats: every
    ``<metric>.<direction>.<testset>`` plus ``segments.<direction>.<testset>`` and, where any,
    ``empty_hypotheses.<direction>.<testset>``."""
    directions = requested_directions(checkpoint_plan(model), config.directions)
    specs = parse_testsets(config.testsets)
    spm = Vocab(Path(vocab) / MODEL_FILE)
    root, work = Path(out_dir), Path(out_dir) / TESTSETS_WORK_DIR
    translators: dict[str, Translator] = {}
    scores, stats, covered = [], {}, set()
    for spec in specs:
        for direction, lines in load_testset(spec, config.testsets_root, directions, work).items():
            covered.add(direction)
            n = config.max_sentences or len(lines.src)
            src, ref = lines.src[:n], lines.ref[:n]
            if direction not in translators:
                translators[direction] = Translator(Path(model) / "checkpoint", spm, *direction.split("-", 1))
            with tqdm(total=len(src), desc=f"{spec.label} {direction}", unit="sent", leave=False) as bar:
                hyp = translators[direction].translate(src, beam_size=config.beam_size,
                                                       batch_sentences=config.batch_sentences, progress=bar.update)
            write_texts(root, spec.label, direction, Texts(src, ref, hyp))
            found = score_texts(hyp, ref, testset=spec.label, direction=direction, tokenize=config.tokenize,
                                hyp_name=f"{spec.label} {direction} hypotheses", ref_name="its references")
            scores += found
            stats.update({s.key: s.value for s in found})
            stats[f"segments.{direction}.{spec.label}"] = float(len(hyp))
            if found[0].empty_hypotheses:
                stats[f"empty_hypotheses.{direction}.{spec.label}"] = float(found[0].empty_hypotheses)
    missing = sorted({format_direction(s, t) for s, t in directions} - covered)
    if not scores:
        raise ConfigError(f"none of the test sets {config.testsets!r} (under {config.testsets_root!r}) has any of "
                          f"the directions {', '.join(missing)}")
    if missing:
        warnings.warn(f"no test set has {', '.join(missing)}: not evaluated", stacklevel=2)
    write_scores(root, scores)
    write_report(root, title=config.title)
    return stats
