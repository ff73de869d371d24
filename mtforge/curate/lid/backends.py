"""Language identification backends behind one interface (stopes §5.1).

:func:`load_identifier` returns a :class:`LanguageIdentifier`: ``predict(texts)`` gives, per
text, ``(code, probability)`` where ``code`` is a FLORES-200 code (``eng_Latn``) and the
probability lies in ``[0, 1]``. The code is :data:`UNDETERMINED` (``"und"``) when nothing can
be said: an empty or whitespace-only text, a text without letters (lingua), or a backend label
that :func:`mtforge.langcodes.normalise` cannot map (``zxx``, ``ace``, …; the identifier lists
those labels in its ``unmapped`` attribute).

Backends:

* ``"py3langid"`` (default) — py3langid's packaged naive-Bayes model (117 of its 140 labels
  map to FLORES codes), probabilities normalised over the languages it may answer.
* ``"lingua"`` — lingua-language-detector, offline n-gram models of 75 languages; loads each
  language's models lazily on first use (``preload=True`` loads them up front) and can run in
  its faster ``low_accuracy`` mode.
* ``"fasttext"`` — a fastText supervised model whose labels are ``__label__<code>``: one
  trained by :func:`mtforge.curate.lid.training.train_fasttext_lid`, or NLLB's ``lid218e``.

``languages`` restricts a backend to those languages (any code form :func:`normalise`
accepts); the probabilities are then renormalised over them. Every backend's ``languages``
attribute is the set of FLORES codes it can answer.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from mtforge.errors import ConfigError, InputNotFoundError, UnknownLanguageError
from mtforge.langcodes import normalise

#: The code :meth:`LanguageIdentifier.predict` returns when it cannot name a language.
UNDETERMINED = "und"

#: The prefix fastText puts before each label.
FASTTEXT_LABEL_PREFIX = "__label__"


@runtime_checkable
class LanguageIdentifier(Protocol):
    """What every backend offers: a ``name`` and batch prediction."""

    name: str

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """Per text, ``(FLORES-200 code or "und", probability in [0, 1])``, in input order."""
        ...


class LabelMap:
    """A backend's own labels mapped to FLORES-200 codes, and the restriction to a subset.

    ``to_flores`` maps every label :func:`normalise` accepts; ``unmapped`` holds the others.
    ``allowed`` are the backend labels a restricted identifier may answer (all mapped labels
    when ``languages`` is ``None``). Raises :class:`ConfigError` naming the language and the
    backend when ``languages`` holds a language no label maps to, and
    :class:`UnknownLanguageError` for a code ``normalise`` rejects.
    """

    def __init__(self, backend: str, labels: Iterable[str], languages: Sequence[str] | None = None) -> None:
        self.to_flores: dict[str, str] = {}
        unmapped = []
        for label in labels:
            try:
                self.to_flores[label] = normalise(label)
            except UnknownLanguageError:
                unmapped.append(label)
        self.unmapped = frozenset(unmapped)
        self.allowed = frozenset(self.to_flores) if languages is None else self._restrict(backend, languages)
        self.languages = frozenset(self.to_flores[label] for label in self.allowed)

    def _restrict(self, backend: str, languages: Sequence[str]) -> frozenset[str]:
        wanted = {normalise(code) for code in languages}
        if not wanted:
            raise ConfigError(f"backend {backend!r}: the language restriction is empty")
        missing = sorted(wanted - set(self.to_flores.values()))
        if missing:
            raise ConfigError(
                f"backend {backend!r} cannot detect {', '.join(missing)}; it detects "
                f"{', '.join(sorted(set(self.to_flores.values())))}"
            )
        return frozenset(label for label, code in self.to_flores.items() if code in wanted)

    def code(self, label: str) -> str:
        """The FLORES code of backend ``label`` (``"und"`` when unmapped)."""
        return self.to_flores.get(label, UNDETERMINED)


def _is_blank(text: str) -> bool:
    return not text or text.isspace()


class Py3LangidIdentifier:
    """py3langid with its packaged model and normalised probabilities."""

    name = "py3langid"

    def __init__(self, languages: Sequence[str] | None = None) -> None:
        from py3langid.langid import LanguageIdentifier as Py3Identifier

        ptc, pc, classes, nextmove, row, output = _py3langid_model()
        self._model = Py3Identifier(ptc, pc, classes, nextmove, output, norm_probs=True, tk_row=row)
        self._labels = LabelMap(self.name, self._model.labels, languages)
        # Unrestricted, the unmappable labels stay in so the model's scores keep their meaning;
        # their answers come back as "und".
        if languages is not None:
            self._model.set_languages(sorted(self._labels.allowed))
        self.languages = self._labels.languages
        self.unmapped = self._labels.unmapped

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """See :meth:`LanguageIdentifier.predict`."""
        out = []
        for text in texts:
            if _is_blank(text):
                out.append((UNDETERMINED, 0.0))
            else:
                label, prob = self._model.classify(text)
                out.append((self._labels.code(label), float(prob)))
        return out


@lru_cache(maxsize=1)
def _py3langid_model() -> tuple[Any, ...]:
    """py3langid's packaged model arrays, read once per process (restriction copies them)."""
    from py3langid.langid import MODEL_DIR, MODEL_FILE, _load_model_file

    return tuple(_load_model_file(MODEL_DIR / MODEL_FILE))


class LinguaIdentifier:
    """lingua-language-detector over all its languages or the restricted ones.

    ``preload`` loads every language model when the identifier is built (seconds and ~1 GB for
    all languages in high-accuracy mode) instead of on first use; ``low_accuracy`` uses
    lingua's trigram-only mode (faster, weaker on short texts).
    """

    name = "lingua"

    def __init__(self, languages: Sequence[str] | None = None, *, low_accuracy: bool = False,
                 preload: bool = False) -> None:
        from lingua import Language, LanguageDetectorBuilder

        by_label = {lang.iso_code_639_3.name.lower(): lang for lang in Language.all()}
        self._labels = LabelMap(self.name, by_label, languages)
        self._language_code = {by_label[label]: self._labels.code(label) for label in self._labels.allowed}
        builder = LanguageDetectorBuilder.from_languages(*self._language_code)
        if low_accuracy:
            builder = builder.with_low_accuracy_mode()
        if preload:
            builder = builder.with_preloaded_language_models()
        self._detector = builder.build()
        self.languages = self._labels.languages
        self.unmapped = self._labels.unmapped

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """See :meth:`LanguageIdentifier.predict`; runs lingua's parallel batch API."""
        values = self._detector.compute_language_confidence_values_in_parallel(list(texts))
        out = []
        for ranked in values:
            best = ranked[0] if ranked else None
            if best is None or best.value <= 0.0:
                out.append((UNDETERMINED, 0.0))
            else:
                out.append((self._language_code[best.language], float(best.value)))
        return out


class FastTextIdentifier:
    """A fastText supervised LID model with ``__label__<code>`` labels.

    Input text is put on one line (:func:`fasttext_line`), as fastText requires. When
    restricted, the best allowed label wins and its probability is renormalised over the
    allowed labels. Raises :class:`InputNotFoundError` when ``model_path`` does not exist.
    """

    name = "fasttext"

    def __init__(self, languages: Sequence[str] | None = None, *, model_path: str | Path) -> None:
        import fasttext

        path = Path(model_path)
        if not path.is_file():
            raise InputNotFoundError(f"fastText LID model {str(path)!r} does not exist")
        self._model = fasttext.load_model(str(path))
        labels = [label.removeprefix(FASTTEXT_LABEL_PREFIX) for label in self._model.get_labels()]
        self._labels = LabelMap(self.name, labels, languages)
        self._restricted = languages is not None
        self.languages = self._labels.languages
        self.unmapped = self._labels.unmapped

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """See :meth:`LanguageIdentifier.predict`."""
        lines = [fasttext_line(text) for text in texts]
        labels, probs = self._model.predict(lines, k=-1 if self._restricted else 1)
        out = []
        for text, line_labels, line_probs in zip(lines, labels, probs):
            if not text:
                out.append((UNDETERMINED, 0.0))
            else:
                out.append(self._best(line_labels, line_probs))
        return out

    def _best(self, labels: Sequence[str], probs: Sequence[float]) -> tuple[str, float]:
        """The top label among the allowed ones, probability renormalised over them."""
        scored = [(label.removeprefix(FASTTEXT_LABEL_PREFIX), float(p)) for label, p in zip(labels, probs)]
        if not self._restricted:
            label, prob = scored[0]
            return self._labels.code(label), min(1.0, prob)
        allowed = [(label, p) for label, p in scored if label in self._labels.allowed]
        label, prob = max(allowed, key=lambda item: item[1])
        total = sum(p for _, p in allowed)
        return self._labels.code(label), min(1.0, prob / total) if total > 0 else 0.0


def fasttext_line(text: str) -> str:
    """``text`` as fastText reads it, at training and at prediction time: whitespace runs
    (newlines included) collapsed to one space, ends stripped; case and punctuation kept."""
    return " ".join(text.split())


#: Backend name → identifier class, built as ``cls(languages, **keyword_only_options)``; a class
#: with a ``model_path`` option reads a model file, the others use their packaged model.
BACKENDS: dict[str, type] = {
    "py3langid": Py3LangidIdentifier,
    "lingua": LinguaIdentifier,
    "fasttext": FastTextIdentifier,
}


def _options_of(cls: type) -> frozenset[str]:
    """The keyword-only parameters of ``cls``'s constructor."""
    return frozenset(name for name, p in inspect.signature(cls).parameters.items()
                     if p.kind is inspect.Parameter.KEYWORD_ONLY)


def load_identifier(backend: str = "py3langid", *, model_path: str | None = None,
                    languages: Sequence[str] | None = None, **options: Any) -> LanguageIdentifier:
    """Build the ``backend`` identifier, optionally restricted to ``languages``.

    ``model_path`` is the model file (required by ``"fasttext"``, refused by the others);
    ``options`` are backend options (``lingua``: ``low_accuracy``, ``preload``).

    Raises :class:`ConfigError` for an unknown backend (listing the backends), an unknown
    option (listing the valid ones), a missing or refused ``model_path``, or a language the
    backend cannot detect (naming it and the backend); :class:`InputNotFoundError` when the
    model file does not exist; :class:`UnknownLanguageError` for a code ``normalise`` rejects.
    """
    cls = BACKENDS.get(backend)
    if cls is None:
        raise ConfigError(f"unknown LID backend {backend!r}; backends: {', '.join(BACKENDS)}")
    valid = _options_of(cls) - {"model_path"}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)} for LID backend {backend!r}; "
                          f"valid options: {', '.join(sorted(valid)) or '(none)'}")
    if "model_path" in _options_of(cls):
        if model_path is None:
            raise ConfigError(f"backend {backend!r} needs model_path (a model file)")
        options["model_path"] = model_path
    elif model_path is not None:
        raise ConfigError(f"backend {backend!r} uses its packaged model; model_path is not accepted")
    return cls(languages, **options)
