"""Turn JSON-like records (JSONL lines, Hugging Face rows) into corpus rows.

A record is a mapping in one of these shapes (checked in this order):

1. **Translation dict**, as in Hugging Face translation datasets:
   ``{"translation": {"en": "A dog.", "de": "Ein Hund."}}``.
2. **Source/target pair**: ``{"src": ..., "tgt": ...}`` with optional ``src_lang``,
   ``tgt_lang`` and ``score``; or TopXGen's keys ``{"source": ..., "target": ...,
   "source_language": "English", "target_language": "Hausa"}`` (optional ``score``).
   Without language keys the pair takes the languages of the *first* requested direction.
3. **Language-keyed**: ``{"en": "A dog.", "de": "Ein Hund.", ...}``; keys that are language
   codes (or English names) hold the texts, other keys are ignored.

Shapes 1 and 3 give a row for every requested direction whose two languages the record
holds; shape 2 gives a row when its direction, or the reverse, is requested. Records that
hold no requested direction are skipped, but a requested direction that no record holds is
an error listing the languages found.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from mtforge.errors import CorpusFormatError, MissingDirectionsError
from mtforge.langcodes import is_language, normalise

Direction = tuple[str, str]
_PAIR_KEYS = (
    ("src", "tgt", "src_lang", "tgt_lang"),
    ("source", "target", "source_language", "target_language"),
)


def _text(record: Mapping[str, Any], key: str, origin: str) -> str:
    value = record[key]
    if not isinstance(value, str):
        raise CorpusFormatError(f"{origin}: field {key!r} must be a string, got {type(value).__name__}")
    return value


def _languages_of(keys: Iterable[str]) -> dict[str, str]:
    """FLORES code → key, for the keys that are language codes."""
    return {normalise(k): k for k in keys if is_language(k)}


def record_rows(
    records: Iterable[tuple[str, Mapping[str, Any]]],
    directions: list[Direction],
    where: str,
) -> Iterator[dict[str, Any]]:
    """Yield corpus rows for ``directions`` from ``(origin, record)`` pairs.

    ``origin`` becomes each row's ``origin`` and prefixes error messages; ``where`` names the
    whole source in the error raised (after the last record) when a requested direction got
    no rows.
    """
    wanted = set(directions)
    produced: set[Direction] = set()
    seen_languages: set[str] = set()
    key_languages: dict[tuple[str, ...], dict[str, str]] = {}
    for origin, record in records:
        if not isinstance(record, Mapping):
            raise CorpusFormatError(f"{origin}: expected an object, got {type(record).__name__}")
        pair_keys = next((keys for keys in _PAIR_KEYS if keys[0] in record and keys[1] in record), None)
        if pair_keys is not None and "translation" not in record:
            src_key, tgt_key, src_lang_key, tgt_lang_key = pair_keys
            if src_lang_key in record and tgt_lang_key in record:
                pair = (normalise(_text(record, src_lang_key, origin)), normalise(_text(record, tgt_lang_key, origin)))
            else:
                pair = directions[0]
            seen_languages.update(pair)
            src, tgt = _text(record, src_key, origin), _text(record, tgt_key, origin)
            score = record.get("score")
            if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
                raise CorpusFormatError(f"{origin}: field 'score' must be a number, got {score!r}")
            for (s, t), (a, b) in ((pair, (src, tgt)), (pair[::-1], (tgt, src))):
                if (s, t) in wanted:
                    produced.add((s, t))
                    yield {"src": a, "tgt": b, "src_lang": s, "tgt_lang": t, "score": score, "origin": origin}
            continue
        texts = record.get("translation", record)
        if not isinstance(texts, Mapping):
            raise CorpusFormatError(f"{origin}: field 'translation' must be an object of language → text")
        keys = tuple(texts)
        if keys not in key_languages:
            key_languages[keys] = _languages_of(keys)
        by_language = key_languages[keys]
        seen_languages.update(by_language)
        for s, t in directions:
            if s in by_language and t in by_language:
                produced.add((s, t))
                yield {
                    "src": _text(texts, by_language[s], origin),
                    "tgt": _text(texts, by_language[t], origin),
                    "src_lang": s,
                    "tgt_lang": t,
                    "score": None,
                    "origin": origin,
                }
    missing = [f"{s}-{t}" for s, t in directions if (s, t) not in produced]
    if missing:
        raise MissingDirectionsError(
            f"{where}: no rows for direction(s) {', '.join(missing)}; languages found: "
            f"{', '.join(sorted(seen_languages)) or 'none'}",
            [d for d in directions if d not in produced],
        )
