"""LID training (stopes §5.1): labelled data, a fastText model, evaluation and comparison.

The steps, each usable on its own:

1. :func:`build_lid_dataset` turns :class:`LabelledSource` files (one sentence a line, one
   language per file) into deduplicated :class:`Labelled` ``(text, lang)`` pairs, leaving out
   every text of an exclusion set (the test sentences) and every text labelled with two
   languages. :func:`shared_lid_sources` / :func:`shared_lid_data` list and assemble the
   shared corpora: FLORES-200 ``dev`` + OLDI Seed + LASER Tatoeba for training, FLORES-200
   ``devtest`` for testing, the label space being the FLORES languages.
2. :func:`train_fasttext_lid` trains a fastText classifier (character n-grams) on them; the
   model file loads with ``load_identifier("fasttext", model_path=...)``.
3. :func:`evaluate_lid` scores any :class:`LanguageIdentifier` on labelled sentences
   (:class:`LidReport`); :func:`compare_backends` compares several on the same sentences,
   on all of them and on the languages every one of them can detect.

Text is put on one line with :func:`~mtforge.curate.lid.backends.fasttext_line` for
training, deduplication and prediction alike; case and punctuation are kept (they carry
script and orthography evidence the character n-grams use).
"""

from __future__ import annotations

import random
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import Field

from mtforge.curate.lid.backends import FASTTEXT_LABEL_PREFIX, LanguageIdentifier, fasttext_line, load_identifier
from mtforge.errors import ConfigError, InputNotFoundError, UnknownLanguageError
from mtforge.langcodes import normalise
from mtforge.stage import StageConfig

#: Retries, each with half the learning rate, when fastText training hits NaN.
DIVERGENCE_RETRIES = 2


class Labelled(NamedTuple):
    """One sentence and its FLORES-200 language code."""

    text: str
    lang: str


@dataclass(frozen=True)
class LabelledSource:
    """A text file whose every non-blank line is a sentence in ``lang`` (normalised on creation).

    Raises :class:`UnknownLanguageError` when ``lang`` cannot be normalised.
    """

    path: Path
    lang: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "lang", normalise(self.lang))

    def read(self) -> list[Labelled]:
        """The file's sentences (one line each, blank lines skipped); raises
        :class:`InputNotFoundError` when the file does not exist."""
        if not self.path.is_file():
            raise InputNotFoundError(f"LID source {str(self.path)!r} ({self.lang}) does not exist")
        with self.path.open(encoding="utf-8") as f:
            lines = (fasttext_line(line) for line in f)
            return [Labelled(line, self.lang) for line in lines if line]


def build_lid_dataset(sources: Sequence[LabelledSource], *, exclude: Iterable[str] = (),
                      max_per_language: int | None = None, seed: int = 0) -> list[Labelled]:
    """Deduplicated labelled sentences from ``sources``, in source order.

    A text (compared after :func:`fasttext_line`) is kept once; a text that occurs under two
    languages is dropped altogether (it cannot teach either); a text in ``exclude`` (e.g. the
    test sentences) is dropped. ``max_per_language`` keeps at most that many sentences of each
    language, drawn at random with ``seed`` (order of the kept ones unchanged).
    """
    excluded = {fasttext_line(text) for text in exclude}
    langs_of: dict[str, set[str]] = defaultdict(set)
    ordered: list[Labelled] = []
    for source in sources:
        for item in source.read():
            if item.text in excluded:
                continue
            if not langs_of[item.text]:
                ordered.append(item)
            langs_of[item.text].add(item.lang)
    kept = [item for item in ordered if len(langs_of[item.text]) == 1]
    return kept if max_per_language is None else _cap_per_language(kept, max_per_language, seed)


def _cap_per_language(items: list[Labelled], cap: int, seed: int) -> list[Labelled]:
    """At most ``cap`` items per language, drawn at random, original order kept."""
    rng = random.Random(seed)
    by_lang: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        by_lang[item.lang].append(i)
    keep = {i for indices in by_lang.values() for i in (rng.sample(indices, cap) if len(indices) > cap else indices)}
    return [item for i, item in enumerate(items) if i in keep]


def flores_languages(shared_data: Path) -> list[str]:
    """The FLORES-200 languages of the shared data (``flores200/dev/<lang>.dev``), sorted.

    Raises :class:`InputNotFoundError` when that folder is absent or empty.
    """
    folder = Path(shared_data) / "flores200" / "dev"
    langs = sorted(normalise(p.name.removesuffix(".dev")) for p in folder.glob("*.dev")) if folder.is_dir() else []
    if not langs:
        raise InputNotFoundError(f"no FLORES-200 dev files (<lang>.dev) in {str(folder)!r}")
    return langs


def shared_lid_sources(shared_data: Path, split: Literal["train", "test"],
                       languages: Collection[str] | None = None) -> list[LabelledSource]:
    """The labelled files of the shared data for ``split``, restricted to ``languages``.

    ``"train"``: FLORES-200 ``dev``, every OLDI Seed file (``oldi_seed/<lang>``, English
    included) and the non-English side of each LASER Tatoeba pair
    (``tatoeba_laser/tatoeba.<xxx>-eng.<xxx>``, the code normalised; codes
    :func:`normalise` rejects are skipped). ``"test"``: FLORES-200 ``devtest``. Only FLORES
    languages (:func:`flores_languages`) are kept, so that is the label space; ``languages``
    (any accepted code forms) narrows it further.
    """
    root = Path(shared_data)
    label_space = set(flores_languages(root))
    if languages is not None:
        label_space &= {normalise(code) for code in languages}
    if split == "test":
        candidates = [(p, p.name.removesuffix(".devtest")) for p in sorted((root / "flores200" / "devtest").glob("*.devtest"))]
    elif split == "train":
        candidates = [(p, p.name.removesuffix(".dev")) for p in sorted((root / "flores200" / "dev").glob("*.dev"))]
        candidates += [(p, p.name) for p in sorted((root / "oldi_seed").glob("*_*")) if p.is_file()]
        candidates += [(p, p.suffix[1:]) for p in sorted((root / "tatoeba_laser").glob("tatoeba.*-eng.*"))
                       if p.suffix != ".eng"]
    else:
        raise ConfigError(f"unknown LID split {split!r}; splits: train, test")
    sources = []
    for path, code in candidates:
        try:
            source = LabelledSource(path, code)
        except UnknownLanguageError:
            continue
        if source.lang in label_space:
            sources.append(source)
    return sources


@dataclass(frozen=True)
class LidData:
    """Training and test sentences; no test text occurs in ``train``."""

    train: list[Labelled]
    test: list[Labelled]


def shared_lid_data(shared_data: Path, *, languages: Collection[str] | None = None,
                    max_per_language: int | None = None, seed: int = 0) -> LidData:
    """:func:`shared_lid_sources` assembled by :func:`build_lid_dataset`: the test set is
    FLORES ``devtest`` (deduplicated), the training set everything else minus every devtest
    text (those dropped from the test set as ambiguous included)."""
    test_sources = shared_lid_sources(shared_data, "test", languages)
    devtest = [item.text for source in test_sources for item in source.read()]
    train = build_lid_dataset(shared_lid_sources(shared_data, "train", languages), exclude=devtest,
                              max_per_language=max_per_language, seed=seed)
    return LidData(train, build_lid_dataset(test_sources))


class LidTrainConfig(StageConfig):
    """fastText supervised-training settings for an LID model (fastText's option names in
    brackets). The defaults train on the shared data (95k sentences, 28 languages) in a few
    seconds on two cores, to a 17 MB model."""

    dim: int = Field(16, ge=1, description="embedding size (dim)")
    minn: int = Field(2, ge=0, description="shortest character n-gram (minn)")
    maxn: int = Field(5, ge=0, description="longest character n-gram (maxn)")
    word_ngrams: int = Field(1, ge=1, description="longest word n-gram (wordNgrams)")
    epoch: int = Field(5, ge=1, description="passes over the data (epoch)")
    lr: float = Field(0.5, gt=0, description="learning rate (lr)")
    bucket: int = Field(100_000, ge=1, description="hash buckets of the n-grams (bucket); sets the model size")
    min_count: int = Field(2, ge=1, description="drop words seen fewer times (minCount)")
    threads: int = Field(10, ge=10, description=(
        "training threads (thread), at least 10: fastText 0.9.x initialises only threads/10 of the "
        "input matrix at random (densematrix.cc, uniformThread), and with fewer threads training on "
        "small data fails with 'Encountered NaN'; on fewer cores they time-share (measured: no slower "
        "than 2 threads on 2 cores)"))
    seed: int = Field(0, description="fastText's random seed (seed); runs on several threads still vary")


def train_fasttext_lid(train: Sequence[tuple[str, str]], out_path: Path, *, config: LidTrainConfig) -> Path:
    """Train a fastText LID model on ``(text, lang)`` pairs and save it to ``out_path``.

    Languages are normalised to FLORES-200 codes, so the labels are ``__label__<code>``; the
    pairs are shuffled (with ``config.seed``) before training. Returns ``out_path``. Raises :class:`ConfigError` when ``train`` is empty or ``minn >
    maxn``, :class:`UnknownLanguageError` for a language code ``normalise`` rejects.
    """
    import fasttext

    if not train:
        raise ConfigError("no training sentences for the LID model")
    if config.minn > config.maxn:
        raise ConfigError(f"LidTrainConfig: minn={config.minn} is larger than maxn={config.maxn}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # SGD over a file sorted by language forgets the early languages: shuffle it.
    shuffled = list(train)
    random.Random(config.seed).shuffle(shuffled)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", dir=out_path.parent) as data:
        for text, lang in shuffled:
            data.write(f"{FASTTEXT_LABEL_PREFIX}{normalise(lang)} {fasttext_line(text)}\n")
        data.flush()
        lr = config.lr
        for attempt in range(DIVERGENCE_RETRIES + 1):
            try:
                model = fasttext.train_supervised(
                    input=data.name, dim=config.dim, minn=config.minn, maxn=config.maxn,
                    wordNgrams=config.word_ngrams, epoch=config.epoch, lr=lr, bucket=config.bucket,
                    minCount=config.min_count, thread=config.threads, seed=config.seed, loss="softmax", verbose=0)
                break
            except RuntimeError as exc:
                # Hogwild SGD on many threads now and then hits NaN (seen about once in a few
                # dozen runs of the default config on a busy 2-core machine): halve lr and retry.
                if attempt == DIVERGENCE_RETRIES:
                    raise ConfigError(f"fastText LID training diverged ({exc}) with lr={config.lr} and, "
                                      f"retried, down to lr={lr}: lower lr") from None
                lr /= 2
                warnings.warn(f"fastText LID training diverged ({exc}); retrying with lr={lr}", stacklevel=2)
    model.save_model(str(out_path))
    return out_path


@dataclass
class LanguageScores:
    """Precision, recall and F1 of one language, and its number of test sentences."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class LidReport:
    """How an identifier did on labelled sentences.

    ``per_language`` covers the languages of the test sentences; ``macro_f1`` is their
    unweighted mean F1. A prediction outside those languages (another language, ``"und"``)
    is an error for the true language and counts in no language's precision.
    ``confusions`` are (true, predicted, count), most frequent first.
    """

    identifier: str
    sentences: int
    accuracy: float
    macro_f1: float
    per_language: dict[str, LanguageScores]
    confusions: list[tuple[str, str, int]]
    seconds: float
    sentences_per_second: float
    extra: dict[str, Any] = field(default_factory=dict)

    def worst(self, n: int = 5) -> list[tuple[str, LanguageScores]]:
        """The ``n`` languages of lowest F1."""
        return sorted(self.per_language.items(), key=lambda item: (item[1].f1, item[0]))[:n]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy."""
        return asdict(self)

    def to_markdown(self, confusions: int = 10) -> str:
        """A summary line, the per-language table and the top ``confusions`` pairs."""
        lines = [
            f"**{self.identifier}**: accuracy {self.accuracy:.4f}, macro-F1 {self.macro_f1:.4f} on "
            f"{self.sentences} sentences ({self.sentences_per_second:,.0f} sentences/s)",
            "",
            "| language | precision | recall | F1 | sentences |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [f"| {lang} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | {s.support} |"
                  for lang, s in sorted(self.per_language.items())]
        if self.confusions:
            lines += ["", "| true | predicted | count |", "|---|---|---:|"]
            lines += [f"| {true} | {pred} | {count} |" for true, pred, count in self.confusions[:confusions]]
        return "\n".join(lines)


def score_predictions(identifier: str, gold: Sequence[str], predicted: Sequence[str], seconds: float,
                      *, max_confusions: int = 20) -> LidReport:
    """A :class:`LidReport` from gold and predicted codes (same length, same order)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    pairs = Counter(zip(gold, predicted))
    support = Counter(gold)
    predicted_count = Counter(predicted)
    per_language = {}
    for lang in sorted(support):
        hits = pairs[(lang, lang)]
        precision = hits / predicted_count[lang] if predicted_count[lang] else 0.0
        recall = hits / support[lang]
        f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
        per_language[lang] = LanguageScores(precision, recall, f1, support[lang])
    correct = sum(pairs[(lang, lang)] for lang in support)
    confusions = sorted(((t, p, n) for (t, p), n in pairs.items() if t != p), key=lambda c: (-c[2], c[0], c[1]))
    n = len(gold)
    return LidReport(
        identifier=identifier, sentences=n, accuracy=correct / n if n else 0.0,
        macro_f1=sum(s.f1 for s in per_language.values()) / len(per_language) if per_language else 0.0,
        per_language=per_language, confusions=confusions[:max_confusions], seconds=seconds,
        sentences_per_second=n / seconds if seconds > 0 else float("inf"))


def _predict_timed(identifier: LanguageIdentifier, texts: Sequence[str]) -> tuple[list[str], float]:
    start = time.perf_counter()
    codes = [code for code, _ in identifier.predict(texts)]
    return codes, time.perf_counter() - start


def evaluate_lid(identifier: LanguageIdentifier, test: Sequence[tuple[str, str]]) -> LidReport:
    """Predict every ``(text, lang)`` of ``test`` in one batch and score it (see
    :class:`LidReport`); ``lang`` is normalised, speed is that of the ``predict`` call."""
    gold = [normalise(lang) for _, lang in test]
    predicted, seconds = _predict_timed(identifier, [text for text, _ in test])
    return score_predictions(identifier.name, gold, predicted, seconds)


def supported_languages(identifier: LanguageIdentifier) -> frozenset[str] | None:
    """The FLORES codes ``identifier`` can answer (its ``languages`` attribute), ``None`` if unknown."""
    languages = getattr(identifier, "languages", None)
    return frozenset(languages) if languages is not None else None


def restricted_to_test(backend: str, test_languages: Iterable[str], **kwargs: Any) -> LanguageIdentifier:
    """``backend`` restricted to the test languages it can detect (see :func:`compare_backends`).

    ``kwargs`` go to :func:`load_identifier`. Raises :class:`ConfigError` when it can detect
    none of them.
    """
    wanted = {normalise(code) for code in test_languages}
    supported = supported_languages(load_identifier(backend, **kwargs)) or frozenset(wanted)
    common = sorted(wanted & supported)
    if not common:
        raise ConfigError(f"backend {backend!r} detects none of the test languages {', '.join(sorted(wanted))}")
    return load_identifier(backend, languages=common, **kwargs)


@dataclass
class Comparison:
    """Identifiers scored on the same sentences: on all (``all``) and on the languages every
    one of them detects (``common``, with ``common_languages``)."""

    all: dict[str, LidReport]
    common: dict[str, LidReport]
    common_languages: list[str]
    test_languages: list[str]
    supported: dict[str, list[str]]

    def to_markdown(self) -> str:
        """The comparison table and a note on what each column means."""
        lines = [
            f"| identifier | test languages detectable | accuracy (all {len(self.test_languages)}) | "
            f"macro-F1 (all) | accuracy ({len(self.common_languages)} common) | macro-F1 (common) | sentences/s |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, report in self.all.items():
            common = self.common[name]
            lines.append(f"| {name} | {len(self.supported[name])} | {report.accuracy:.4f} | {report.macro_f1:.4f} | "
                         f"{common.accuracy:.4f} | {common.macro_f1:.4f} | {report.sentences_per_second:,.0f} |")
        missing = {name: sorted(set(self.test_languages) - set(langs)) for name, langs in self.supported.items()}
        lines += ["", f"Common languages: {', '.join(self.common_languages)}."]
        lines += [f"{name} cannot detect: {', '.join(langs)}." for name, langs in missing.items() if langs]
        return "\n".join(lines)


def compare_backends(test: Sequence[tuple[str, str]], identifiers: Sequence[LanguageIdentifier] | Mapping[str, LanguageIdentifier]) -> Comparison:
    """Score every identifier on the same ``(text, lang)`` sentences, predicting each once.

    For a fair comparison build each identifier restricted to the test languages it can
    detect (:func:`restricted_to_test`), so all choose among the same candidates. Sentences
    of a language an identifier cannot detect count as errors in the ``all`` scores; the
    ``common`` scores use only the sentences of languages every identifier detects (an
    identifier without a ``languages`` attribute is taken to detect all). Names are the
    mapping's keys, else each identifier's ``name``. Call ``.to_markdown()`` for the table.
    """
    named = dict(identifiers) if isinstance(identifiers, Mapping) else {i.name: i for i in identifiers}
    gold = [normalise(lang) for _, lang in test]
    test_languages = sorted(set(gold))
    supported = {name: sorted(set(test_languages) & (supported_languages(i) or set(test_languages)))
                 for name, i in named.items()}
    common_languages = sorted(set(test_languages).intersection(*map(set, supported.values())))
    in_common = [i for i, lang in enumerate(gold) if lang in set(common_languages)]
    texts = [text for text, _ in test]
    all_reports, common_reports = {}, {}
    for name, identifier in named.items():
        predicted, seconds = _predict_timed(identifier, texts)
        all_reports[name] = score_predictions(name, gold, predicted, seconds)
        # The common scores re-score a subset of the same run: their time is its share of it.
        common_reports[name] = score_predictions(name, [gold[i] for i in in_common], [predicted[i] for i in in_common],
                                                 seconds * len(in_common) / max(1, len(gold)))
    return Comparison(all_reports, common_reports, common_languages, test_languages, supported)
