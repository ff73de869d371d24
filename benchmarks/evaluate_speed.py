"""``evaluate_speed``: how long the ``evaluate`` stage takes per 1,000 sentences per direction,
and where that time goes.

A real model is trained first with the real stages: Multi30k eng→deu ``train`` (the first
``train_lines`` lines) → :func:`mtforge.corpus.import_corpus` → the ``spm`` stage
(``vocab_size`` pieces) → the ``train`` stage (torchrun, ``nproc`` ranks, the baseline shape
by default: d_model 256, 4 heads, ffn 1024, 3 + 3 layers, preset ``full``) for ``max_steps``
steps, validated on the first ``valid_lines`` lines of ``val``. It is trained long enough that
its outputs have a realistic length: an untrained model emits max-length garbage
(1.5 × source + 10 tokens), which would make decoding look slower than it is.

Then, in this process on ``threads`` torch threads (by default torch's default, as the stage
runs in a component), eng→deu on the first ``sentences`` sentences of Multi30k
``test_2016_flickr`` (1,000 in all), split into ``rounds`` consecutive slices. Each slice is
written as a test-set root (``<root>/multi30k/test_2016_flickr.{en,de}``) and one round runs on it:

(a) the ``evaluate`` stage (:func:`mtforge.stage.run_stage`, ``testsets: multi30k``) with beam
    ``beam_size``: test-set import, model loading, translation, scoring, texts and report
    (HTML, Markdown, heatmaps);
(c) translation alone: :class:`mtforge.translate.Translator` built (*model load*) and its
    ``translate`` with beam ``beam_size`` (its hypotheses must equal (a)'s), the calls of the
    model's ``encode`` and ``decode`` clocked to split the forward passes from beam-search
    bookkeeping;
(d) the rest alone: the test-set import (:func:`mtforge.evaluation.testsets.load_testset`),
    writing the texts, :func:`mtforge.evaluation.metrics.score_texts` and
    :func:`mtforge.evaluation.report.write_report`;
(b) the ``evaluate`` stage with beam 1 (greedy).

Even rounds run (a), (c), (d), (b); odd rounds the reverse, so that a steady change of load
weighs on every part alike; (c) and (d) work on the texts of the round's first stage run. The
machine is shared and its load changes within minutes (the same stage run has taken from 1× to
8× as long), so parts are compared in short rounds rather than in one long run each, and the
spread over rounds is reported with each ratio. An untimed ``evaluate`` of
``warmup_sentences`` sentences comes first, so one-off costs (imports of sacrebleu and
matplotlib, font cache) do not fall on a round. Each timing keeps the load average at its start.

Reported: seconds per 1,000 sentences per direction of (a), summed over the rounds — a figure
of this machine, with the thread count; each run sorts and batches only its own slice and pays
the fixed costs (model load, import, texts, scores, report: reported per run) once — and the
ratios beam ``beam_size`` ÷ beam 1 and each part ÷ (a), with *unaccounted* = 1 − the parts'
shares (what changed between the runs); hypothesis tokens (SentencePiece pieces, without EOS)
per second of (c); mean hypothesis vs reference length in words with the count of hypotheses
cut at the length limit (realistic outputs: an untrained model's would all be cut); and the
corpus BLEU / chrF++ over all the sentences.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import (
    SHARED_DATA,
    Benchmark,
    Result,
    log,
    machine_info,
    multi30k_slice,
    quiet,
    scoped_env,
    stopwatch,
)
from benchmarks.train_throughput import torch_threads
from mtforge.corpus import import_corpus
from mtforge.errors import ConfigError
from mtforge.evaluation.metrics import score_texts
from mtforge.evaluation.report import write_report
from mtforge.evaluation.results import Evaluation, Texts, write_texts
from mtforge.evaluation.testsets import load_testset, parse_testsets
from mtforge.langcodes import normalise
from mtforge.stage import read_stage_record, run_stage
from mtforge.stages.spm import MODEL_FILE
from mtforge.train.data import source_ids
from mtforge.translate import Translator
from mtforge.vocab import Vocab

NAME = "evaluate_speed"
DESCRIPTION = "evaluate stage: seconds per 1,000 sentences per direction (CPU), and where the time goes"
SRC, TGT = normalise("en"), normalise("de")
DIRECTION = f"{SRC}-{TGT}"
TESTSET, SPLIT = "multi30k", "test_2016_flickr"  # the evaluate stage's default split: 1,000 sentences
TESTSET_LABEL = f"{TESTSET}_{SPLIT}"
#: ``beam_search``'s length limit: ``max_len_a × source pieces + max_len_b`` (its defaults).
MAX_LEN_A, MAX_LEN_B = 1.5, 10
#: ``Translator.translate``'s default source truncation.
MAX_SOURCE_TOKENS = 256


@dataclass(frozen=True)
class Settings:
    """The model trained first, and what the evaluate stage is timed on."""

    sentences: int  # test sentences evaluated, in all (the first of Multi30k test_2016_flickr)
    max_steps: int  # training steps
    rounds: int = 4  # the sentences are split into this many consecutive slices, one per round
    train_lines: int | None = None  # first lines of Multi30k train (None: all 29,000)
    valid_lines: int = 200  # first lines of Multi30k val for the train stage's validation
    vocab_size: int = 8000  # the baseline pipeline's default
    d_model: int = 256
    n_heads: int = 4
    ffn_dim: int = 1024
    encoder_layers: int = 3
    decoder_layers: int = 3
    batch_tokens: int = 3000  # per rank
    nproc: int = 2  # training ranks (torchrun)
    lr: float = 2e-3
    warmup_steps: int = 100
    beam_size: int = 4
    batch_sentences: int = 64  # the evaluate stage's default
    warmup_sentences: int = 8  # the untimed first evaluate
    threads: int | None = None  # torch threads of the evaluate runs (None: torch's default)


FULL = Settings(sentences=1000, max_steps=300)
QUICK = Settings(sentences=50, max_steps=30, rounds=2, train_lines=2000, valid_lines=20, vocab_size=500, d_model=64,
                 n_heads=2, ffn_dim=128, encoder_layers=1, decoder_layers=1, batch_tokens=1500, lr=3e-3,
                 warmup_steps=10)


def train_config(settings: Settings) -> dict[str, Any]:
    """The ``train`` stage config of ``settings``: validation loss only, at the end."""
    return {
        "directions": DIRECTION, "sharing": "full", "d_model": settings.d_model, "n_heads": settings.n_heads,
        "ffn_dim": settings.ffn_dim, "encoder_layers": settings.encoder_layers,
        "decoder_layers": settings.decoder_layers, "max_steps": settings.max_steps,
        "batch_tokens": settings.batch_tokens, "lr": settings.lr, "warmup_steps": settings.warmup_steps,
        "nproc": settings.nproc, "log_every": max(1, settings.max_steps // 10), "valid_every": 0,
        "valid_bleu_sentences": 0, "checkpoint_every": settings.max_steps,
    }


def train_model(work: Path, settings: Settings) -> tuple[str, str, dict[str, Any]]:
    """Multi30k → corpora → ``spm`` → ``train`` stages under ``work``; (train dir, spm dir, details)."""
    data = multi30k_slice(work / "multi30k", {"train": settings.train_lines, "val": settings.valid_lines})
    train = import_corpus(str(data), work / "corpus-train", directions=DIRECTION, split="train")
    valid = import_corpus(str(data), work / "corpus-valid", directions=DIRECTION, split="val")
    spm_dir, train_dir = str(work / "spm"), str(work / "train")
    with stopwatch() as spm_seconds:
        run_stage("spm", {"vocab_size": settings.vocab_size}, out_dir=spm_dir, corpus=str(train.path))
    log(f"{NAME}: training {settings.max_steps} steps on {settings.nproc} rank(s) …")
    with stopwatch() as train_seconds:
        stats = run_stage("train", train_config(settings), out_dir=train_dir, corpus=str(train.path),
                          vocab=str(Path(spm_dir) / MODEL_FILE), valid=str(valid.path))
    details = {"spm_seconds": spm_seconds[0], "train_seconds": train_seconds[0], "train_stats": stats,
               "train_config": read_stage_record(train_dir)["config"]}
    return train_dir, spm_dir, details


def round_roots(work: Path, sentences: int, rounds: int) -> list[Path]:
    """The first ``sentences`` lines of Multi30k ``test_2016_flickr`` (en, de) in ``rounds``
    consecutive slices, each as a test-set root ``<root>/multi30k/test_2016_flickr.{en,de}``."""
    source = SHARED_DATA / "multi30k"
    lines = {lang: (source / f"{SPLIT}.{lang}").read_text(encoding="utf-8").splitlines()[:sentences]
             for lang in ("en", "de")}
    if len(lines["en"]) < sentences:
        raise ConfigError(f"{source / SPLIT}.en has {len(lines['en'])} lines, fewer than Settings.sentences="
                          f"{sentences}; ask for at most {len(lines['en'])}")
    size = -(-sentences // rounds)
    roots = []
    for k, start in enumerate(range(0, sentences, size)):
        folder = work / "rounds" / str(k) / TESTSET
        folder.mkdir(parents=True)
        for lang, text in lines.items():
            (folder / f"{SPLIT}.{lang}").write_text("".join(f"{line}\n" for line in text[start:start + size]),
                                                    encoding="utf-8")
        roots.append(folder.parent)
    return roots


def evaluate(out_dir: Path, train_dir: str, spm_dir: str, root: Path, beam_size: int, batch_sentences: int,
             max_sentences: int = 0) -> None:
    """One ``evaluate`` stage run (eng→deu on the Multi30k test set under ``root``) into ``out_dir``."""
    config = {"testsets": TESTSET, "testsets_root": str(root), "directions": "en-de", "beam_size": beam_size,
              "batch_sentences": batch_sentences, "max_sentences": max_sentences}
    with quiet():
        run_stage("evaluate", config, out_dir=str(out_dir), model=train_dir, vocab=spm_dir)


def words(lines: list[str]) -> float:
    """Mean whitespace-separated words per line."""
    return sum(len(line.split()) for line in lines) / len(lines)


class Parts:
    """Wall seconds of named parts in one round, each with the load average when it started
    (the machine is shared)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.load: dict[str, list[float]] = {}

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        self.load[name] = [round(x, 2) for x in os.getloadavg()]
        with stopwatch() as elapsed:
            yield
        self.seconds[name] = elapsed[0]


class ForwardClock:
    """Counts calls and wall seconds of translators' ``model.encode`` and ``model.decode`` (the
    model's forward passes; the rest of ``translate`` is beam-search bookkeeping, tokenisation
    and batching)."""

    def __init__(self) -> None:
        self.seconds, self.calls = {"encode": 0.0, "decode": 0.0}, {"encode": 0, "decode": 0}

    def attach(self, translator: Translator) -> None:
        """Clock ``translator``'s forward passes from now on."""
        for name in self.seconds:
            setattr(translator.model, name, self._wrap(name, getattr(translator.model, name)))

    def _wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
                self.calls[name] += 1
        return timed


@dataclass
class RoundTexts:
    """What one round's runs produced: (a)'s texts, (b)'s hypotheses, (c)'s hypotheses."""

    beam: Texts
    greedy_hyp: list[str]
    alone_hyp: list[str]


def one_round(k: int, root: Path, work: Path, train_dir: str, spm_dir: str, vocab: Vocab, settings: Settings,
              clock: ForwardClock) -> tuple[Parts, RoundTexts]:
    """Round ``k`` on the test set under ``root``: (a), (c), (d), (b) in even rounds, reversed in
    odd ones (so that a steady change of load weighs on all parts alike). (c) translates the
    sources, and (d) scores and reports the texts, of the stage run that came first."""
    parts, b, batch = Parts(), settings.beam_size, settings.batch_sentences
    runs = {"evaluate": (work / f"eval-beam{b}-{k}", b), "evaluate_beam1": (work / f"eval-beam1-{k}", 1)}
    first = runs["evaluate" if k % 2 == 0 else "evaluate_beam1"][0]
    alone: list[str] = []

    def stage(part: str) -> Callable[[], None]:
        def run_it() -> None:
            out_dir, beam = runs[part]
            with parts.timed(part):
                evaluate(out_dir, train_dir, spm_dir, root, beam, batch)
        return run_it

    def translation() -> None:
        source = Evaluation(first).texts(TESTSET_LABEL, DIRECTION).src
        with parts.timed("model_load"):
            translator = Translator(Path(train_dir) / "checkpoint", vocab, SRC, TGT)
        clock.attach(translator)
        with parts.timed("translate"):
            alone.extend(translator.translate(source, beam_size=b, batch_sentences=batch))

    def the_rest() -> None:
        texts = Evaluation(first).texts(TESTSET_LABEL, DIRECTION)
        with quiet(), parts.timed("testset_import"):
            load_testset(parse_testsets(TESTSET)[0], str(root), [(SRC, TGT)], work / f"import-{k}")
        with parts.timed("write_texts"):
            write_texts(work / f"texts-{k}", TESTSET_LABEL, DIRECTION, texts)
        with quiet(), parts.timed("score"):
            score_texts(texts.hyp, texts.ref, testset=TESTSET_LABEL, direction=DIRECTION)
        with quiet(), parts.timed("report"):
            write_report(first, title="evaluation")

    order = [stage("evaluate"), translation, the_rest, stage("evaluate_beam1")]
    for step in order if k % 2 == 0 else order[::-1]:
        step()
    beam = Evaluation(runs["evaluate"][0]).texts(TESTSET_LABEL, DIRECTION)
    greedy = Evaluation(runs["evaluate_beam1"][0]).texts(TESTSET_LABEL, DIRECTION)
    return parts, RoundTexts(beam, greedy.hyp, alone)


def measure(work: Path, settings: Settings) -> tuple[dict[str, Any], list[tuple[str, str]], dict[str, Any]]:
    """Train, then the rounds of the module docstring; (metrics, table, details) of :class:`Result`."""
    train_dir, spm_dir, details = train_model(work, settings)
    b, n = settings.beam_size, settings.sentences
    roots = round_roots(work, n, settings.rounds)
    log(f"{NAME}: warm-up evaluate ({settings.warmup_sentences} sentences) …")
    evaluate(work / "eval-warmup", train_dir, spm_dir, roots[0], b, settings.batch_sentences,
             max_sentences=settings.warmup_sentences)
    vocab = Vocab(Path(spm_dir) / MODEL_FILE)
    clock = ForwardClock()
    rounds: list[Parts] = []
    texts: list[RoundTexts] = []
    for k, root in enumerate(roots):
        log(f"{NAME}: round {k + 1}/{len(roots)}: evaluate (beam {b} and 1), translation, scoring and report …")
        parts, produced = one_round(k, root, work, train_dir, spm_dir, vocab, settings, clock)
        rounds.append(parts)
        texts.append(produced)

    seconds = {part: sum(r.seconds[part] for r in rounds) for part in rounds[0].seconds}
    total = seconds["evaluate"]
    shares = {"translate": seconds["translate"] / total, "model_load": seconds["model_load"] / total,
              "score_and_report": (seconds["score"] + seconds["report"]) / total,
              "testset_import_and_texts": (seconds["testset_import"] + seconds["write_texts"]) / total}
    shares["unaccounted"] = 1 - sum(shares.values())
    per_round = {
        "sentences": [len(t.beam.src) for t in texts],
        "seconds_per_1000_sentences": [r.seconds["evaluate"] * 1000 / len(t.beam.src)
                                       for r, t in zip(rounds, texts)],
        "beam_ratio": [r.seconds["evaluate"] / r.seconds["evaluate_beam1"] for r in rounds],
        "translate_share": [r.seconds["translate"] / r.seconds["evaluate"] for r in rounds],
    }
    src = [line for t in texts for line in t.beam.src]
    ref = [line for t in texts for line in t.beam.ref]
    hyp = [line for t in texts for line in t.beam.hyp]
    greedy = [line for t in texts for line in t.greedy_hyp]
    alone = [line for t in texts for line in t.alone_hyp]
    with quiet():
        scores = {s.metric: s.value for s in score_texts(hyp, ref, testset=TESTSET_LABEL, direction=DIRECTION)}
        greedy_bleu = score_texts(greedy, ref, testset=TESTSET_LABEL, direction=DIRECTION, metrics=("bleu",))[0].value
    hyp_ids = vocab.encode(alone)
    hyp_pieces = sum(map(len, hyp_ids))
    translator = Translator(Path(train_dir) / "checkpoint", vocab, SRC, TGT)
    src_pieces = [len(ids) for ids in source_ids(vocab, translator.task, src, MAX_SOURCE_TOKENS)]
    at_limit = sum(len(ids) >= int(MAX_LEN_A * s + MAX_LEN_B) for ids, s in zip(hyp_ids, src_pieces))
    hyp_words, ref_words = words(hyp), words(ref)
    forward = sum(clock.seconds.values()) / seconds["translate"]
    per_1000 = total * 1000 / len(src)
    threads = torch.get_num_threads()
    metrics: dict[str, Any] = {
        "sentences": len(src),
        "directions": 1,
        "rounds": len(rounds),
        "threads": threads,
        "seconds": seconds,
        "seconds_per_1000_sentences_per_direction": per_1000,
        "sentences_per_s": len(src) / total,
        "beam_ratio": total / seconds["evaluate_beam1"],
        "share": shares,
        "per_round": per_round,
        "model_forward_share_of_translate": forward,
        "hyp_tokens": hyp_pieces,
        "hyp_tokens_per_s": hyp_pieces / seconds["translate"],
        "hyp_words_mean": hyp_words,
        "ref_words_mean": ref_words,
        "hyp_ref_length_ratio": hyp_words / ref_words,
        "hyps_at_length_limit": at_limit,
        "translation_matches_stage": alone == hyp,
        "bleu": scores["bleu"],
        "bleu_beam1": greedy_bleu,
        "chrf": scores["chrf"],
    }
    fixed = sum(seconds[p] for p in ("model_load", "testset_import", "write_texts", "score", "report")) / len(rounds)

    def low_high(values: list[float], fmt: str) -> str:
        return f"{format(min(values), fmt)}–{format(max(values), fmt)}"

    size = -(-n // settings.rounds)
    table = [
        (f"evaluate, beam {b}, per 1,000 sentences per direction (this machine, CPU, {threads} threads; "
         f"{len(rounds)} runs of ≤{size})", f"{per_1000:.0f} s"),
        ("  runs, each scaled to 1,000 sentences", f"{low_high(per_round['seconds_per_1000_sentences'], '.0f')} s"),
        (f"evaluate beam {b} ÷ beam 1 (runs)",
         f"{metrics['beam_ratio']:.2f}× ({low_high(per_round['beam_ratio'], '.2f')})"),
        ("translation alone ÷ evaluate (runs)",
         f"{shares['translate']:.0%} ({low_high([100 * x for x in per_round['translate_share']], '.0f')} %)"),
        ("  model forward passes ÷ translation", f"{forward:.0%}"),
        ("scoring + report alone ÷ evaluate", f"{shares['score_and_report']:.2%}"),
        ("model load / test-set import + texts, alone ÷ evaluate",
         f"{shares['model_load']:.2%} / {shares['testset_import_and_texts']:.2%}"),
        ("unaccounted: 1 − parts (load changes between runs)", f"{shares['unaccounted']:+.1%}"),
        ("fixed costs per evaluate run (load, import, texts, scores, report)", f"{fixed:.2f} s"),
        (f"hypothesis tokens/s (beam {b}, translation alone)", f"{metrics['hyp_tokens_per_s']:,.0f}"),
        ("mean words: hypothesis / reference", f"{hyp_words:.1f} / {ref_words:.1f} ({hyp_words / ref_words:.2f}×)"),
        ("hypotheses cut at the length limit", f"{at_limit} of {len(src)}"),
        (f"BLEU beam {b} / beam 1 (chrF++ beam {b})",
         f"{scores['bleu']:.1f} / {greedy_bleu:.1f} ({scores['chrf']:.1f})"),
        ("model: parameters, training steps (train stage time)",
         f"{translator.parameters / 1e6:.1f} M, {settings.max_steps} ({details['train_seconds'] / 60:.1f} min)"),
    ]
    details.update({"testset": TESTSET_LABEL, "direction": DIRECTION, "parameters": translator.parameters,
                    "fixed_seconds_per_run": fixed,
                    "per_round_seconds": [r.seconds for r in rounds],
                    "load_average_at_start": [r.load for r in rounds],
                    "forward_seconds": clock.seconds, "forward_calls": clock.calls,
                    "hyp_pieces_per_sentence": hyp_pieces / len(src),
                    "src_pieces_per_sentence": sum(src_pieces) / len(src),
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]})
    return metrics, table, details


def run(settings: Settings, mode: str = "custom") -> Result:
    """Measure (see the module docstring)."""
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="mtforge-bench-evaluate-") as tmp, \
            scoped_env(MTFORGE_HOME=str(Path(tmp) / "home"), MLFLOW_TRACKING_URI=None), \
            torch_threads(settings.threads):
        with stopwatch() as total:
            metrics, table, details = measure(Path(tmp), settings)
    details["total_seconds"] = total[0]
    return Result(NAME, DESCRIPTION, mode, asdict(settings), metrics, table, machine, details)


BENCHMARK = Benchmark(NAME, run, FULL, QUICK)
