"""``lid_speed``: sentences per second of each language-identification backend, side by side.

Every backend predicts the same FLORES-200 ``devtest`` sentences (the first
``sentences_per_language`` of each of the 28 shared languages, interleaved by language) in one
``predict`` call, in this process, one after the other:

* ``py3langid`` — its packaged model, all its languages (the reference: ratios are to it);
* ``lingua`` — all 75 languages, high-accuracy mode, models loaded lazily (the untimed
  warm-up call loads the ones the sentences need);
* ``lingua-low`` — the same in lingua's low-accuracy (trigram) mode;
* ``fasttext`` — our model, trained here by :func:`mtforge.curate.lid.training.train_fasttext_lid`
  (default :class:`~mtforge.curate.lid.training.LidTrainConfig`) on the shared training data
  (FLORES ``dev`` + OLDI Seed + Tatoeba, ``train_per_language`` sentences at most per language).

Each backend's first call (building the identifier and predicting every sentence once, which
loads lazily loaded models) is timed apart; then the best of ``repeats`` calls gives its speed.
Reported: sentences/s, the ratio to py3langid's, the first-call seconds and, as context, its accuracy on these sentences (the
packaged backends cannot detect some of the languages, so theirs is capped: see
:func:`mtforge.curate.lid.training.compare_backends` for a fair comparison). lingua runs its
batch API on its own thread pool; the other backends use one thread.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from benchmarks.common import SHARED_DATA, Benchmark, Result, log, machine_info, stopwatch
from mtforge.curate.lid import LanguageIdentifier, load_identifier
from mtforge.curate.lid.training import Labelled, LidTrainConfig, shared_lid_data, train_fasttext_lid

NAME = "lid_speed"
DESCRIPTION = "language identification: sentences/s of each backend on the same FLORES devtest sentences"
REFERENCE = "py3langid"


@dataclass(frozen=True)
class Settings:
    """Test sentences, training data cap of the fastText model and timing repetitions."""

    sentences_per_language: int
    train_per_language: int | None  # None: all the shared training data
    repeats: int


FULL = Settings(sentences_per_language=300, train_per_language=None, repeats=3)
QUICK = Settings(sentences_per_language=20, train_per_language=300, repeats=1)


def interleaved(test: list[Labelled], per_language: int) -> list[Labelled]:
    """The first ``per_language`` sentences of each language, taken round-robin across languages."""
    by_lang: dict[str, list[Labelled]] = {}
    for item in test:
        by_lang.setdefault(item.lang, []).append(item)
    columns = [items[:per_language] for _, items in sorted(by_lang.items())]
    return [column[i] for i in range(per_language) for column in columns if i < len(column)]


def backends(model_path: Path) -> dict[str, Callable[[], LanguageIdentifier]]:
    """Name → builder of every measured identifier, the reference first."""
    return {
        REFERENCE: lambda: load_identifier("py3langid"),
        "lingua": lambda: load_identifier("lingua"),
        "lingua-low": lambda: load_identifier("lingua", low_accuracy=True),
        "fasttext": lambda: load_identifier("fasttext", model_path=str(model_path)),
    }


def measure(build: Callable[[], LanguageIdentifier], sentences: list[Labelled], repeats: int) -> dict[str, float]:
    """First-call seconds (build + one predict of every sentence, which loads lazy models), best
    of ``repeats`` later predict seconds, sentences/s and accuracy."""
    texts = [item.text for item in sentences]
    with stopwatch() as first:
        identifier = build()
        identifier.predict(texts)
    timings = []
    for _ in range(repeats):
        with stopwatch() as elapsed:
            predictions = identifier.predict(texts)
        timings.append(elapsed[0])
    seconds = min(timings)
    accuracy = sum(code == item.lang for (code, _), item in zip(predictions, sentences)) / len(sentences)
    return {"first_call_seconds": first[0], "seconds": seconds, "sentences_per_s": len(texts) / seconds,
            "accuracy": accuracy}


def run(settings: Settings, mode: str = "custom") -> Result:
    """Measure (see the module docstring)."""
    machine = machine_info()
    data = shared_lid_data(SHARED_DATA, max_per_language=settings.train_per_language)
    sentences = interleaved(data.test, settings.sentences_per_language)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="mtforge-bench-lid-") as tmp:
        log(f"{NAME}: training the fastText model on {len(data.train)} sentences …")
        with stopwatch() as train_seconds:
            model_path = train_fasttext_lid(data.train, Path(tmp) / "lid.bin", config=LidTrainConfig())
        for name, build in backends(model_path).items():
            log(f"{NAME}: {name} on {len(sentences)} sentences …")
            results[name] = measure(build, sentences, settings.repeats)
    reference = results[REFERENCE]["sentences_per_s"]
    metrics: dict[str, Any] = {
        "sentences": len(sentences),
        "languages": len({item.lang for item in sentences}),
        "sentences_per_s": {name: r["sentences_per_s"] for name, r in results.items()},
        "ratio_to_py3langid": {name: r["sentences_per_s"] / reference for name, r in results.items()},
        "first_call_seconds": {name: r["first_call_seconds"] for name, r in results.items()},
        "accuracy": {name: r["accuracy"] for name, r in results.items()},
        "fasttext_train_seconds": train_seconds[0],
        "fasttext_train_sentences": len(data.train),
    }
    table = [(f"{name} sentences/s", f"{r['sentences_per_s']:,.0f} ({r['sentences_per_s'] / reference:.2f}× py3langid)")
             for name, r in results.items()]
    table += [(f"{name} first call (load + predict)", f"{r['first_call_seconds']:.1f} s") for name, r in results.items()]
    table.append((f"fastText training ({len(data.train):,} sentences)", f"{train_seconds[0]:.1f} s"))
    details = {"config": LidTrainConfig().model_dump(), "per_backend": results}
    return Result(NAME, DESCRIPTION, mode, asdict(settings), metrics, table, machine, details)


BENCHMARK = Benchmark(NAME, run, FULL, QUICK)
