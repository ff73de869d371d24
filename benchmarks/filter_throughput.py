"""``filter_throughput``: mtforge's bitext filters against OpusFilter 3.3.1 on the same pairs.

**Pairs**: Multi30k ``train`` (first ``lines`` lines) in the directions ``directions``
(29,000 × 4 = 116,000 real pairs in full mode) plus ``noise`` × as many noisy pairs, each a
real pair corrupted one way — HTML tags, a repeated phrase, an emptied side, an extra
number, a URL, a side cut to one word, a side repeated verbatim — drawn with ``seed``.

**Shared chain**: the filters both have (:data:`SHARED`: length, length ratio, long words,
alphabetic ratio, character script, terminal punctuation, non-zero numerals, repetitions,
HTML tags), each at OpusFilter's defaults, in that order, single process:

* mtforge — :meth:`mtforge.curate.chain.FilterChain.apply` on one Arrow table of all pairs;
  the best of ``repeats`` runs after an untimed one (which builds the lookup tables);
* OpusFilter — its own lazy chain, ``FilterPipeline.filter`` (each filter's ``filter``
  generator feeding the next), timed once.

``ratio`` = mtforge pairs/s ÷ OpusFilter pairs/s. Decisions are compared filter by filter over
*all* pairs (each filter's ``accept(score)`` against OpusFilter's ``decisions``; also timed,
once each side), and for the whole chain (kept by all filters).

**Language identification** is compared separately, both on py3langid's packaged model:
mtforge's ``language_id`` filter (:func:`mtforge.curate.lid.load_identifier`, which predicts
each distinct text once) against OpusFilter's ``LangidFilter`` — whose constructor calls
``LanguageIdentifier.from_pickled_model``, gone from py3langid 0.4, so :class:`OpusLangid` builds
the same identifier with the 0.4 API and keeps OpusFilter's scoring and decisions. Both run
once over the first ``lid_pairs`` pairs at their defaults (the declared language must be the
top prediction). OpusFilter accepts an empty side; mtforge rejects it (no language).
"""

from __future__ import annotations

import logging
import random
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from benchmarks.common import SHARED_DATA, Benchmark, Result, best_seconds, log, machine_info, stopwatch
from mtforge.curate.chain import FilterChain
from mtforge.curate.filters import BitextFilter, LanguageIdFilter, make_filter

NAME = "filter_throughput"
DESCRIPTION = "bitext filter chain pairs/s and decisions: mtforge vs OpusFilter 3.3.1"

#: Multi30k language → FLORES-200 code.
CODES = {"en": "eng_Latn", "de": "deu_Latn", "fr": "fra_Latn", "cs": "ces_Latn"}

#: The shared chain: (mtforge filter name, OpusFilter class name, OpusFilter arguments); both
#: at OpusFilter's default thresholds, mtforge's at its own defaults (the same values).
SHARED: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("length", "LengthFilter", {}),
    ("length_ratio", "LengthRatioFilter", {}),
    ("long_word", "LongWordFilter", {}),
    ("alphabet_ratio", "AlphabetRatioFilter", {}),
    ("character_score", "CharacterScoreFilter", {"scripts": ["Latin", "Latin"]}),
    ("terminal_punctuation", "TerminalPunctuationFilter", {}),
    ("non_zero_numerals", "NonZeroNumeralsFilter", {}),
    ("repetition", "RepetitionFilter", {}),
    ("html_tag", "HtmlTagFilter", {}),
)


@dataclass(frozen=True)
class Settings:
    """Data, repetitions and LID sample of one measurement."""

    lines: int | None = None  # first Multi30k train lines (None: all 29,000)
    directions: tuple[str, ...] = ("en-de", "en-fr", "en-cs", "de-fr")
    noise: float = 0.05  # noisy pairs added, as a fraction of the real ones
    repeats: int = 3  # timed runs of mtforge's chain (the best counts)
    lid_pairs: int = 116_000  # pairs in the language-identification comparison
    seed: int = 1


FULL = Settings()
QUICK = Settings(lines=500, directions=("en-de", "fr-cs"), repeats=1, lid_pairs=300)

Pair = tuple[str, str, str, str]  # src, tgt, src_lang, tgt_lang


def corruptions(rng: random.Random) -> list[Callable[[str, str], tuple[str, str]]]:
    """Ways to corrupt a real pair (src, tgt) into a noisy one."""
    return [
        lambda s, t: (f"<p><b>{s}</b></p>", t),
        lambda s, t: (s, " ".join([t.split()[0]] * rng.randint(3, 6)) + " " + t),
        lambda s, t: (s, ""),
        lambda s, t: (f"{s} {rng.randint(10, 9999)}", t),
        lambda s, t: (f"{s} https://example.com/{rng.randint(1, 99)}", t),
        lambda s, t: (s.split()[0], t),
        lambda s, t: (s, f"{t} {t} {t}"),
    ]


def build_pairs(settings: Settings) -> list[Pair]:
    """The real Multi30k pairs of every direction, then the noisy ones."""
    source = SHARED_DATA / "multi30k"
    if not source.is_dir():
        raise FileNotFoundError(f"shared Multi30k {source} is absent (set MTFORGE_SHARED_DATA)")
    langs = {lang for direction in settings.directions for lang in direction.split("-")}
    lines = {lang: (source / f"train.{lang}").read_text(encoding="utf-8").splitlines()[:settings.lines]
             for lang in langs}
    real = [(s, t, CODES[a], CODES[b]) for a, b in (d.split("-") for d in settings.directions)
            for s, t in zip(lines[a], lines[b])]
    rng = random.Random(settings.seed)
    corrupt = corruptions(rng)
    noisy = []
    for s, t, a, b in rng.sample(real, int(len(real) * settings.noise)):
        noisy_s, noisy_t = rng.choice(corrupt)(s, t)
        noisy.append((noisy_s, noisy_t, a, b))
    return real + noisy


def arrow_table(pairs: list[Pair]) -> pa.Table:
    return pa.table({name: [p[i] for p in pairs] for i, name in enumerate(("src", "tgt", "src_lang", "tgt_lang"))})


def opus_filter(class_name: str, arguments: dict[str, Any]) -> Any:
    from opusfilter import filters

    return getattr(filters, class_name)(**arguments)


class OpusLangid:
    """OpusFilter's ``LangidFilter`` with its identifier built by py3langid 0.4's API."""

    def __new__(cls, languages: list[str]) -> Any:
        from opusfilter.lid import LangidFilter
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        filt = LangidFilter.__new__(LangidFilter)
        filt.name, filt.workdir, filt.kwargs = None, "", {}
        filt.identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        filt.languages, filt.thresholds = languages, [0] * len(languages)
        return filt


def opus_decisions(filt: Any, texts: list[tuple[str, str]]) -> tuple[np.ndarray, float]:
    """OpusFilter ``filt``'s decisions on ``texts`` and the seconds they took."""
    with stopwatch() as elapsed:
        decisions = np.fromiter(filt.decisions(texts), bool, len(texts))
    return decisions, elapsed[0]


def ours_decisions(filt: BitextFilter, table: pa.Table) -> tuple[np.ndarray, float]:
    with stopwatch() as elapsed:
        decisions = filt.accept(filt.score(table))
    return decisions, elapsed[0]


def compare_filters(table: pa.Table, texts: list[tuple[str, str]]) -> tuple[dict[str, dict[str, Any]], np.ndarray]:
    """Per shared filter: decisions and seconds of both over all pairs; and OpusFilter's
    chain-level decisions (kept by every filter)."""
    per_filter: dict[str, dict[str, Any]] = {}
    opus_kept = np.ones(len(texts), bool)
    for name, class_name, arguments in SHARED:
        log(f"{NAME}: {name} over {len(texts)} pairs …")
        theirs, opus_seconds = opus_decisions(opus_filter(class_name, arguments), texts)
        ours, ours_seconds = ours_decisions(make_filter(name), table)
        opus_kept &= theirs
        per_filter[name] = {"ours_pairs_per_s": len(texts) / ours_seconds,
                            "opus_pairs_per_s": len(texts) / opus_seconds,
                            "ratio": opus_seconds / ours_seconds,
                            "rejected_ours": int((~ours).sum()), "rejected_opus": int((~theirs).sum()),
                            "differ": int((ours != theirs).sum())}
    return per_filter, opus_kept


def time_chains(table: pa.Table, texts: list[tuple[str, str]], repeats: int) -> tuple[float, float, np.ndarray]:
    """(mtforge chain seconds, OpusFilter chain seconds, mtforge kept mask)."""
    from opusfilter.pipeline import FilterPipeline

    chain = FilterChain.from_config([name for name, _, _ in SHARED])
    ours = best_seconds(lambda: chain.apply(table), repeats)
    kept = chain.apply(table).kept
    pipeline = FilterPipeline([opus_filter(class_name, arguments) for _, class_name, arguments in SHARED])
    log(f"{NAME}: OpusFilter chain over {len(texts)} pairs …")
    with stopwatch() as elapsed:
        opus_kept = sum(1 for _ in pipeline.filter(texts))
    if opus_kept != int(kept.sum()):
        log(f"{NAME}: the chains keep {int(kept.sum())} (mtforge) and {opus_kept} (OpusFilter) pairs")
    return ours, elapsed[0], kept


def compare_lid(pairs: list[Pair]) -> dict[str, Any]:
    """Language identification on ``pairs``: both sides' speed and decisions."""
    table = arrow_table(pairs)
    texts = [(p[0], p[1]) for p in pairs]
    languages = sorted({(p[2], p[3]) for p in pairs})
    ours = LanguageIdFilter()
    ours.identifier  # load before timing, as OpusFilter's constructor does
    log(f"{NAME}: language identification over {len(pairs)} pairs …")
    ours_kept, ours_seconds = ours_decisions(ours, table)
    theirs = np.ones(len(pairs), bool)
    opus_seconds = 0.0
    iso = {code: key for key, code in CODES.items()}
    for src_lang, tgt_lang in languages:  # OpusFilter's LangidFilter has one language per side
        rows = [i for i, p in enumerate(pairs) if (p[2], p[3]) == (src_lang, tgt_lang)]
        decisions, seconds = opus_decisions(OpusLangid([iso[src_lang], iso[tgt_lang]]), [texts[i] for i in rows])
        theirs[rows] = decisions
        opus_seconds += seconds
    distinct = len({text for pair in texts for text in pair})
    empty_side = np.array([not s or not t for s, t in texts])
    return {"pairs": len(pairs), "distinct_texts": distinct,
            "ours_pairs_per_s": len(pairs) / ours_seconds, "opus_pairs_per_s": len(pairs) / opus_seconds,
            "ratio": opus_seconds / ours_seconds, "rejected_ours": int((~ours_kept).sum()),
            "rejected_opus": int((~theirs).sum()), "differ": int((ours_kept != theirs).sum()),
            "differ_with_an_empty_side": int(((ours_kept != theirs) & empty_side).sum())}


def run(settings: Settings, mode: str = "custom") -> Result:
    """Measure (see the module docstring). Raises ``ModuleNotFoundError`` saying how to install
    OpusFilter when it is absent."""
    try:
        import opusfilter  # noqa: F401
    except ModuleNotFoundError:
        raise ModuleNotFoundError(f"{NAME} compares with OpusFilter: pip install opusfilter==3.3.1") from None
    machine = machine_info()
    logging.getLogger("opusfilter").setLevel(logging.ERROR)
    pairs = build_pairs(settings)
    table = arrow_table(pairs)
    texts = [(p[0], p[1]) for p in pairs]
    log(f"{NAME}: {len(pairs)} pairs ({int(len(pairs) / (1 + settings.noise))} real)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BeautifulSoup warns about text that looks like a file name
        ours_seconds, opus_seconds, ours_kept = time_chains(table, texts, settings.repeats)
        per_filter, opus_kept = compare_filters(table, texts)
    lid = compare_lid(pairs[:settings.lid_pairs])
    metrics = {
        "pairs": len(pairs),
        "chain_ours_pairs_per_s": len(pairs) / ours_seconds,
        "chain_opus_pairs_per_s": len(pairs) / opus_seconds,
        "chain_ratio": opus_seconds / ours_seconds,
        "chain_kept_ours": int(ours_kept.sum()),
        "chain_kept_opus": int(opus_kept.sum()),
        "chain_decisions_differ": int((ours_kept != opus_kept).sum()),
        "per_filter": per_filter,
        "language_id": lid,
    }
    table_rows = [
        ("pairs (Multi30k train + noise)", f"{len(pairs):,}"),
        (f"shared chain ({len(SHARED)} filters): mtforge", f"{metrics['chain_ours_pairs_per_s']:,.0f} pairs/s"),
        ("shared chain: OpusFilter", f"{metrics['chain_opus_pairs_per_s']:,.0f} pairs/s"),
        ("shared chain: mtforge ÷ OpusFilter", f"{metrics['chain_ratio']:.1f}×"),
        ("shared chain: decisions that differ", f"{metrics['chain_decisions_differ']}"),
        *((f"{name}: speed-up, decisions that differ", f"{m['ratio']:.1f}×, {m['differ']}")
          for name, m in per_filter.items()),
        (f"language_id ({lid['pairs']:,} pairs): mtforge", f"{lid['ours_pairs_per_s']:,.0f} pairs/s"),
        ("language_id: OpusFilter LangidFilter", f"{lid['opus_pairs_per_s']:,.0f} pairs/s"),
        ("language_id: mtforge ÷ OpusFilter", f"{lid['ratio']:.1f}×"),
        ("language_id: decisions that differ (empty side)", f"{lid['differ']} ({lid['differ_with_an_empty_side']})"),
    ]
    details = {"shared_filters": [{"mtforge": name, "opusfilter": cls, "arguments": args}
                                  for name, cls, args in SHARED],
               "timing": "mtforge: best of `repeats` after an untimed run; OpusFilter: one run"}
    return Result(NAME, DESCRIPTION, mode, asdict(settings), metrics, table_rows, machine, details)


BENCHMARK = Benchmark(NAME, run, FULL, QUICK)
