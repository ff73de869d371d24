"""The translation service without HTTP: what ``POST /translate`` and ``POST /events`` do.

:meth:`TranslationService.load` resolves the model(s), loads the language identifier and the
directions to preload, and starts the batcher; only then is the service ready. A text is
translated in these steps:

1. its source language is the request's, or detected (on the text without URLs, mentions,
   hashtags and emoji) — a detection under ``lid_min_confidence`` leaves the text as it is;
2. with an A/B experiment, its post id picks model A or B (:mod:`mtforge.abtest.router`);
3. it is cut into sentences around its entities (:mod:`mtforge.serve.text`);
4. sentences found in the cache are reused; a sentence another request is already
   translating is awaited, not translated twice; the rest go to the micro-batcher;
5. the translations are put back between the entities.

A text comes back untranslated — with ``translated: false`` and a ``reason`` — when it has no
prose, is already in the target language, its detected language is uncertain, or the model
has no route for its *detected* language. A source language given in the request that the
model cannot translate is a :class:`RequestError` (HTTP 422) listing the supported directions.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from typing import Any

import torch

from mtforge.errors import ConfigError, MtforgeError, UnknownLanguageError
from mtforge.langcodes import normalise
from mtforge.serve.batcher import MicroBatcher
from mtforge.serve.cache import MemoryCache, RedisCache, TieredCache, cache_key
from mtforge.serve.config import ServeConfig, container_cpus
from mtforge.serve.metrics import ServeMetrics
from mtforge.serve.models import ModuleCache, Route, ServedModel, resolve_model
from mtforge.serve.text import plan_post, strip_entities

log = logging.getLogger("mtforge.serve")

class RequestError(MtforgeError):
    """A request the service refuses: ``status`` is the HTTP status, ``detail`` its body."""

    def __init__(self, status: int, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.status = status
        self.detail = {"error": message, **detail}


@dataclass(frozen=True)
class TextResult:
    """One translated (or returned as it came) text."""

    text: str
    source_language: str | None
    detected_language: str | None
    confidence: float | None
    translated: bool
    variant: str
    model_version: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TranslationService:
    """See the module docstring. Create, :meth:`load` (blocking; may take a while), use from
    one asyncio event loop, :meth:`close`."""

    def __init__(self, config: ServeConfig, metrics: ServeMetrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or ServeMetrics()
        self.models: dict[str, ServedModel] = {}
        self.ready = False
        self.load_error: str | None = None
        self.experiment = None
        self.store = None
        self.drift = None
        self._batcher: MicroBatcher | None = None
        # The LRU is read and written in the request path; Redis (network) only from a thread.
        self._memory = MemoryCache(config.cache_entries)
        self._redis = RedisCache(config.redis_url, ttl_s=config.redis_ttl_s) if config.redis_url else None
        self._cache = TieredCache(self._memory, self._redis) if self._redis else self._memory
        self._pending: dict[str, Future] = {}
        # re-entrant: a future that is already done runs its callback (which takes the lock) at once
        self._pending_lock = threading.RLock()
        self._lid = None

    # -- lifecycle ----------------------------------------------------------------------

    def load(self) -> None:
        """Resolve and open the models, preload directions, start batching; sets ``ready``.
        Errors are kept in ``load_error`` (``/readyz`` reports it) and raised."""
        try:
            self._load()
        except Exception as exc:
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.error("model loading failed: %s", self.load_error)
            raise
        self.ready = True
        log.info("ready: %s", ", ".join(f"{v}={m.version}" for v, m in self.models.items()))

    def _load(self) -> None:
        from mtforge.curate.lid import load_identifier

        cfg = self.config
        threads = cfg.threads or container_cpus()
        torch.set_num_threads(threads)
        cache = ModuleCache(int(cfg.memory_budget_mb * 2**20), quantize=cfg.quantize,
                            on_change=self.metrics.record_modules)
        sources = [("A", cfg.model, cfg.vocab)] + ([("B", cfg.model_b, cfg.vocab_b)] if cfg.model_b else [])
        for variant, uri, vocab in sources:
            files = resolve_model(uri, vocab=vocab, cache_dir=cfg.cache_dir)
            self.models[variant] = ServedModel(files, cache, max_sentence_tokens=cfg.max_sentence_tokens)
            self.metrics.model_info.labels(variant, files.version).set(1)
        if cfg.model_b:
            from mtforge.abtest import Experiment

            self.experiment = Experiment(cfg.ab_experiment, cfg.ab_share_b)
        if cfg.ab_store:
            from mtforge.abtest import EventStore

            self.store = EventStore(cfg.ab_store)
        if cfg.drift_reference:
            from mtforge.serve.drift import DriftMonitor, DriftReference

            self.drift = DriftMonitor(DriftReference.load(cfg.drift_reference), window=cfg.drift_window,
                                      registry=self.metrics.registry)
        self._lid = load_identifier(cfg.lid)
        for model in self.models.values():
            for direction in cfg.preload or model.trained_directions[:1]:
                src, tgt = direction.split("-", 1)
                model.load(model.route(src, tgt))
        self._batcher = MicroBatcher(self._translate_batch, max_batch_tokens=cfg.max_batch_tokens,
                                     max_batch_sentences=cfg.max_batch_sentences, max_wait_s=cfg.max_wait_ms / 1000,
                                     batching=cfg.batching, on_batch=self.metrics.record_batch)
        log.info("torch threads %d, module budget %.0f MiB, quantize %s, batching %s", threads,
                 cfg.memory_budget_mb, cfg.quantize, cfg.batching)

    def close(self, timeout: float | None = None) -> None:
        """Finish the translations already queued, stop the batcher, close the event store."""
        self.ready = False
        if self._batcher is not None:
            self._batcher.close(timeout)
        if self.store is not None:
            self.store.close()

    # -- queries ------------------------------------------------------------------------

    def _supported(self) -> list[str]:
        return sorted({d for model in self.models.values() for d in model.trained_directions})

    # -- translation --------------------------------------------------------------------

    async def translate(self, texts: Sequence[str], target_language: str, *, source_language: str | None = None,
                        post_ids: Sequence[str] | None = None, user_id: str | None = None) -> list[TextResult]:
        """Translate ``texts`` into ``target_language`` (see the module docstring); results in
        input order. RequestError (422) for an unknown language code, ``post_ids`` of the wrong
        length, or an explicit source language the model cannot translate."""
        if not self.ready:
            raise RequestError(503, "the model is not loaded yet", load_error=self.load_error)
        tgt = _language(target_language, "target_language")
        src = _language(source_language, "source_language") if source_language else None
        if post_ids is not None and len(post_ids) != len(texts):
            raise RequestError(422, f"post_ids has {len(post_ids)} entries for {len(texts)} texts")
        variants = [self._variant(post_ids[i] if post_ids else None) for i in range(len(texts))]
        jobs = [self._prepare(text, tgt, src, variant) for text, variant in zip(texts, variants)]
        results = list(await asyncio.gather(*(job if asyncio.iscoroutine(job) else _resolved(job) for job in jobs)))
        if self.store is not None and post_ids and user_id:
            await asyncio.to_thread(self._log_clicks, post_ids, variants, user_id)  # disk, off the event loop
        return results

    def _variant(self, post_id: str | None) -> str:
        return self.experiment.variant(post_id) if self.experiment is not None and post_id else "A"

    def _prepare(self, text: str, tgt: str, src: str | None, variant: str):
        """A TextResult for a text that needs no model, else an awaitable of one."""
        model = self.models[variant]
        detected, confidence = None, None
        prose = strip_entities(text)

        def unchanged(reason: str, source: str | None) -> TextResult:
            self.metrics.untranslated.labels(reason).inc()
            return TextResult(text, source, detected, confidence, False, variant, model.version, reason)

        if src is None and prose:
            detected, confidence = self._lid.predict([prose])[0]
        source = src or (detected if detected and detected != "und" else None)
        if self.drift is not None:
            self.drift.observe(len(text), source or "und")
        if not prose:
            return unchanged("no_text", src)
        if source is None or (src is None and confidence < self.config.lid_min_confidence):
            return unchanged("low_confidence", source)
        if source == tgt:
            return unchanged("same_language", source)
        try:
            route = model.route(source, tgt)
        except ConfigError as exc:
            if src is not None:
                raise RequestError(422, str(exc), supported_directions=self._supported()) from None
            return unchanged("unsupported_direction", source)
        return self._translate_text(text, source, detected, confidence, route, variant, model)

    async def _translate_text(self, text: str, source: str, detected: str | None, confidence: float | None,
                              route: Route, variant: str, model: ServedModel) -> TextResult:
        plan = plan_post(text, source, max_chars=model.max_sentence_chars)
        sentences = list(plan.sentences)
        self.metrics.directions.labels(route.name, variant).inc(len(sentences))
        keys = [cache_key(model.version, route.name, self.config.beam_size, s) for s in sentences]
        found = await asyncio.to_thread(self._cache.get_many, keys) if self._redis else self._cache.get_many(keys)
        self.metrics.record_cache(sum(v is not None for v in found), len(keys))
        futures, submitted = self._schedule(keys, sentences, found, route, variant, model)
        translations = [value if value is not None else await asyncio.wrap_future(futures[key])
                        for key, value in zip(keys, found)]
        if self._redis and submitted:  # the LRU was filled as each sentence finished
            done = dict(zip(keys, translations))
            await asyncio.to_thread(self._redis.put_many, [(key, done[key]) for key in submitted])
        return TextResult(plan.render(translations), source, detected, confidence, True, variant, model.version)

    def _schedule(self, keys: list[str], sentences: list[str], found: list[str | None], route: Route,
                  variant: str, model: ServedModel) -> tuple[dict[str, Future], list[str]]:
        """Futures of the sentences not found in the cache — shared with a request already
        translating the same sentence, else submitted to the batcher (once per key) — and the
        keys this request submitted."""
        futures: dict[str, Future] = {}
        submit: list[tuple[str, str]] = []
        with self._pending_lock:
            for key, sentence, value in zip(keys, sentences, found):
                if value is not None or key in futures:
                    continue
                if key in self._pending:
                    futures[key] = self._pending[key]
                else:
                    submit.append((key, sentence))
            if submit:
                ids = model.encode(route, [s for _, s in submit])
                direction = (variant, route.task.src_lang, route.task.tgt_lang)
                for (key, _), future in zip(submit, self._batcher.submit(direction, ids)):
                    futures[key] = self._pending[key] = future
                    future.add_done_callback(lambda f, key=key: self._finished(key, f))
        return futures, [key for key, _ in submit]

    def _finished(self, key: str, future: Future) -> None:
        with self._pending_lock:
            self._pending.pop(key, None)
        if not future.cancelled() and future.exception() is None:
            self._memory.put_many([(key, future.result())])

    def _translate_batch(self, key: tuple[str, str, str], ids: list[list[int]]) -> tuple[list[str], int]:
        variant, src, tgt = key
        model = self.models[variant]
        return model.translate_ids(model.route(src, tgt), ids, beam_size=self.config.beam_size)

    # -- A/B events ---------------------------------------------------------------------

    def _log_clicks(self, post_ids: Sequence[str], variants: list[str], user_id: str) -> None:
        from mtforge.abtest import CLICK_TRANSLATE, Event

        now = time.time()
        self.store.log(Event(p, user_id, v, CLICK_TRANSLATE, now) for p, v in zip(post_ids, variants))

    def log_events(self, events: Sequence[dict[str, Any]]) -> int:
        """Append client events (``post_id``, ``user_id``, ``event``, optional ``time``) to
        the A/B store, each with the variant its post is routed to; the count written.
        RequestError 404 when no store is configured, 422 for a bad event."""
        from mtforge.abtest import Event

        if self.store is None:
            raise RequestError(404, "no A/B event store is configured (set ab_store)")
        now = time.time()
        rows = [Event(e["post_id"], e["user_id"], self._variant(e["post_id"]), e["event"], e.get("time") or now)
                for e in events]
        try:
            return self.store.log(rows)
        except ConfigError as exc:
            raise RequestError(422, str(exc)) from None


async def _resolved(result: TextResult) -> TextResult:
    return result


def _language(code: str, field: str) -> str:
    try:
        return normalise(code)
    except UnknownLanguageError as exc:
        raise RequestError(422, f"{field}: {exc}") from None


def describe(service: TranslationService) -> dict[str, Any]:
    """What ``GET /languages`` returns: versions and directions per variant, the experiment."""
    return {
        "models": {v: {"version": m.version, "directions": m.trained_directions,
                       "source_languages": m.source_languages} for v, m in service.models.items()},
        "experiment": None if service.experiment is None else
        {"name": service.experiment.name, "share_b": service.experiment.share_b},
    }

