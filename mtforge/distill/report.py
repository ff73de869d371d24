"""Student against teacher: test-set scores, parameters and CPU translation speed per direction.

Scores come from the two ``evaluate`` outputs (same test sets, same directions). Parameters are
those one direction loads (:attr:`mtforge.translate.Translator.parameters`). Speed is measured
here, side by side in one process with the same beam, batch and thread count, on the same
source sentences (the first ones of a test set): each model translates a few of them to warm
up, then all of them, timed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from mtforge.distill.teacher import Translators
from mtforge.errors import ConfigError
from mtforge.evaluation.results import METRIC_LABELS, Evaluation
from mtforge.translate import Translator

ROLES = ("teacher", "student")


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run torch on ``threads`` intra-op threads (0: leave the setting alone)."""
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def timed(translator: Translator, sentences: list[str], *, beam_size: int, batch_sentences: int) -> dict[str, float]:
    """``sentences_per_s`` of wall time translating ``sentences`` (after a warm-up on the first
    4) and ``output_words``, the mean words per translation: decoding time grows with the
    output, so a model that rambles is slower per sentence."""
    translator.translate(sentences[:4], beam_size=beam_size, batch_sentences=batch_sentences)
    start = time.perf_counter()
    hyps = translator.translate(sentences, beam_size=beam_size, batch_sentences=batch_sentences)
    seconds = max(time.perf_counter() - start, 1e-9)
    return {"sentences_per_s": len(sentences) / seconds,
            "output_words": sum(len(h.split()) for h in hyps) / max(len(hyps), 1)}


def compare(models: dict[str, Translators], evaluations: dict[str, Evaluation], *, speed_sentences: int,
            beam_size: int = 4, batch_sentences: int = 64, threads: int = 1) -> dict:
    """The comparison as a JSON-able dict: ``scores`` (one row per test set, direction and
    metric with both values and the student's delta) and ``directions`` (per direction each
    role's parameters, sentences/s and mean output words, the student's parameter share and
    speed-up) and the
    timing ``settings``. ``models`` and ``evaluations`` are keyed by :data:`ROLES`. Raises
    :class:`ConfigError` when the evaluations share no (test set, direction)."""
    pairs = sorted(set(evaluations["teacher"].pairs()) & set(evaluations["student"].pairs()))
    if not pairs:
        raise ConfigError(f"the teacher's evaluation ({evaluations['teacher'].root}) and the student's "
                          f"({evaluations['student'].root}) share no test set and direction")
    scores = []
    for testset, direction in pairs:
        for metric in METRIC_LABELS:
            values = {role: evaluations[role].value(metric, testset, direction) for role in ROLES}
            if None not in values.values():
                scores.append({"testset": testset, "direction": direction, "metric": metric, **values,
                               "delta": values["student"] - values["teacher"]})
    directions = {}
    for direction in sorted({d for _, d in pairs}):
        testset = next(t for t, d in pairs if d == direction)
        sentences = evaluations["student"].texts(testset, direction).src[:speed_sentences]
        row: dict = {"speed_testset": testset, "speed_sentences": len(sentences)}
        with torch_threads(threads):
            for role in ROLES:
                translator = models[role].get(*direction.split("-", 1))
                row[role] = {"parameters": translator.parameters,
                             **timed(translator, sentences, beam_size=beam_size, batch_sentences=batch_sentences)}
        row["parameter_ratio"] = row["student"]["parameters"] / row["teacher"]["parameters"]
        row["speedup"] = row["student"]["sentences_per_s"] / row["teacher"]["sentences_per_s"]
        directions[direction] = row
    settings = {"beam_size": beam_size, "batch_sentences": batch_sentences, "threads": threads}
    return {"scores": scores, "directions": directions, "settings": settings}


def flat_stats(comparison: dict) -> dict[str, float]:
    """The comparison as stage stats: ``<role>.<metric>.<direction>.<testset>``,
    ``delta.<metric>.<direction>.<testset>``, ``<role>.parameters.<direction>``,
    ``<role>.sentences_per_s.<direction>``, ``<role>.output_words.<direction>``,
    ``parameter_ratio.<direction>``, ``speedup.<direction>``."""
    stats: dict[str, float] = {}
    for row in comparison["scores"]:
        key = f"{row['metric']}.{row['direction']}.{row['testset']}"
        for name in (*ROLES, "delta"):
            stats[f"{name}.{key}"] = float(row[name])
    for direction, row in comparison["directions"].items():
        for role in ROLES:
            for name in ("parameters", "sentences_per_s", "output_words"):
                stats[f"{role}.{name}.{direction}"] = float(row[role][name])
        stats[f"parameter_ratio.{direction}"] = float(row["parameter_ratio"])
        stats[f"speedup.{direction}"] = float(row["speedup"])
    return stats


def markdown(comparison: dict, *, title: str = "Distillation: student against teacher") -> str:
    """The comparison as a Markdown report (a scores table and a size and speed table)."""
    lines = [f"# {title}\n", "## Test-set scores\n", "| test set | direction | metric | teacher | student | Δ |",
             "|---|---|---|---:|---:|---:|"]
    lines += [f"| {r['testset']} | {r['direction']} | {METRIC_LABELS[r['metric']]} | {r['teacher']:.2f} | "
              f"{r['student']:.2f} | {r['delta']:+.2f} |" for r in comparison["scores"]]
    lines += ["\n## Size and CPU speed\n",
              "| direction | teacher parameters | student parameters | student / teacher | teacher sent/s | "
              "student sent/s | speed-up | words/translation (teacher, student) | timed on |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for direction, r in comparison["directions"].items():
        lines.append(f"| {direction} | {r['teacher']['parameters']:,} | {r['student']['parameters']:,} | "
                     f"{r['parameter_ratio']:.2f} | {r['teacher']['sentences_per_s']:.1f} | "
                     f"{r['student']['sentences_per_s']:.1f} | {r['speedup']:.2f}× | "
                     f"{r['teacher']['output_words']:.1f}, {r['student']['output_words']:.1f} | "
                     f"{r['speed_sentences']} sentences of {r['speed_testset']} |")
    settings = comparison["settings"]
    lines.append(f"\nTimed in one process, one model after the other: beam {settings['beam_size']}, batches of "
                 f"{settings['batch_sentences']} sentences, {settings['threads'] or 'default'} torch thread(s).")
    return "\n".join(lines) + "\n"
