"""``train-lid``: train a fastText language identifier on labelled sentences (stopes §5.1),
evaluate it on held-out FLORES devtest and compare it with the packaged backends.

The model it writes (``out_dir/lid.bin``) is a ``fasttext`` LID backend: give its path as
``lid: {backend: fasttext, model_path: …}`` in the curation configs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from pydantic import Field

from mtforge.curate.lid import load_identifier
from mtforge.curate.lid.training import (
    LidTrainConfig,
    compare_backends,
    restricted_to_test,
    shared_lid_data,
    train_fasttext_lid,
)
from mtforge.stage import Resources, stage

MODEL_FILE = "lid.bin"
REPORT_FILE = "report.md"
EVALUATION_FILE = "evaluation.json"


class TrainLidConfig(LidTrainConfig):
    """fastText settings plus which data to use and what to compare with."""

    languages: list[str] = Field(default_factory=list, description="labels to train ([] = every FLORES language "
                                                                    "of the data)")
    max_per_language: int | None = Field(None, ge=1, description="cap training sentences per language")
    compare_with: list[str] = Field(default_factory=lambda: ["py3langid", "lingua"],
                                    description="packaged backends scored on the same test sentences")


@stage("train-lid", version="1", config=TrainLidConfig, resources=Resources(cpu="2", memory="4Gi"))
def train_lid(*, data: str, out_dir: str, config: TrainLidConfig) -> dict[str, float]:
    """Train ``out_dir/lid.bin`` on FLORES dev + OLDI Seed + Tatoeba under ``data`` (the
    shared-data layout), score it and ``compare_with`` on FLORES devtest; write
    ``report.md`` and ``evaluation.json``. Returns sentence counts, training seconds and each
    identifier's ``<name>.accuracy`` / ``<name>.macro_f1`` (all and ``.common`` languages)."""
    out = Path(out_dir)
    lid_data = shared_lid_data(Path(data), languages=config.languages or None,
                               max_per_language=config.max_per_language, seed=config.seed)
    start = time.monotonic()
    train_fasttext_lid([(item.text, item.lang) for item in lid_data.train], out / MODEL_FILE,
                       config=LidTrainConfig(**{k: getattr(config, k) for k in LidTrainConfig.model_fields}))
    train_seconds = time.monotonic() - start
    test = [(item.text, item.lang) for item in lid_data.test]
    languages = sorted({lang for _, lang in test})
    identifiers = {"fasttext (ours)": load_identifier("fasttext", model_path=str(out / MODEL_FILE),
                                                      languages=languages)}
    identifiers.update({name: restricted_to_test(name, languages) for name in config.compare_with})
    comparison = compare_backends(test, identifiers)
    ours = comparison.all["fasttext (ours)"]
    report = ["# train-lid", "", f"Trained on {len(lid_data.train):,} sentences of {len(languages)} languages in "
              f"{train_seconds:.1f} s; tested on {len(test):,} held-out FLORES devtest sentences.", "",
              "## Compared on the same sentences", "", comparison.to_markdown(), "", "## fastText (ours)", "",
              ours.to_markdown()]
    (out / REPORT_FILE).write_text("\n".join(report) + "\n", encoding="utf-8")
    (out / EVALUATION_FILE).write_text(json.dumps({name: r.to_dict() for name, r in comparison.all.items()},
                                                  indent=1) + "\n", encoding="utf-8")
    stats = {"train_sentences": float(len(lid_data.train)), "test_sentences": float(len(test)),
             "languages": float(len(languages)), "train_seconds": train_seconds}
    for name, result in comparison.all.items():
        key = name.split(" ")[0]
        stats[f"{key}.accuracy"] = result.accuracy
        stats[f"{key}.macro_f1"] = result.macro_f1
        stats[f"{key}.common.accuracy"] = comparison.common[name].accuracy
    return stats
