"""Prometheus metrics of the translation service (served at ``GET /metrics``).

Each server has its own :class:`prometheus_client.CollectorRegistry` (so tests can run
several apps in one process), with the process collector (CPU seconds, resident memory, open
files) and the platform collector registered in it. The names:

=============================================  ==========================================
``mtforge_http_requests_total{path,code}``     requests by route and status code
``mtforge_http_errors_total{code}``            4xx and 5xx answers by status code
``mtforge_http_request_duration_seconds``      latency histogram by route (p50/p95/p99 via
                                               ``histogram_quantile``)
``mtforge_http_in_flight``                     requests being handled
``mtforge_batch_sentences``                    sentences per forward batch (histogram)
``mtforge_batch_tokens``                       padded source tokens per batch (histogram)
``mtforge_translated_pieces_total``            output pieces decoded
``mtforge_translation_seconds_total``          seconds spent decoding: pieces/s =
                                               ``rate(pieces) / rate(seconds)``
``mtforge_tokens_per_second``                  output pieces/s of the last batch
``mtforge_cache_requests_total{result}``       sentence cache lookups: hit or miss
``mtforge_cache_hit_ratio``                    hits / lookups since start
``mtforge_direction_sentences_total{direction,variant}``  sentences asked for, by direction
                                               and A/B variant
``mtforge_texts_untranslated_total{reason}``   texts returned as they came (same language,
                                               no prose, low LID confidence, unsupported)
``mtforge_loaded_modules`` / ``mtforge_module_bytes``  units in the module LRU and their memory
``mtforge_module_events_total{event}``         module loads and evictions
``mtforge_model_info{variant,version}``        1 per served model version
=============================================  ==========================================
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

disable_created_metrics()  # no *_created series: they double the scrape for nothing a dashboard uses

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
_TOKEN_BUCKETS = (16, 64, 256, 1024, 2048, 4096, 8192, 16384)


class ServeMetrics:
    """Every metric of one server, registered in ``self.registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        r = self.registry
        self.requests = Counter("mtforge_http_requests", "HTTP requests", ["path", "code"], registry=r)
        self.errors = Counter("mtforge_http_errors", "HTTP 4xx/5xx answers", ["code"], registry=r)
        self.latency = Histogram("mtforge_http_request_duration_seconds", "request latency", ["path"],
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("mtforge_http_in_flight", "requests being handled", registry=r)
        self.batch_sentences = Histogram("mtforge_batch_sentences", "sentences per forward batch",
                                         buckets=_BATCH_BUCKETS, registry=r)
        self.batch_tokens = Histogram("mtforge_batch_tokens", "padded source tokens per batch",
                                      buckets=_TOKEN_BUCKETS, registry=r)
        self.pieces = Counter("mtforge_translated_pieces", "output pieces decoded", registry=r)
        self.decode_seconds = Counter("mtforge_translation_seconds", "seconds spent decoding", registry=r)
        self.tokens_per_second = Gauge("mtforge_tokens_per_second", "output pieces/s of the last batch", registry=r)
        self.cache = Counter("mtforge_cache_requests", "sentence cache lookups", ["result"], registry=r)
        self.cache_hit_ratio = Gauge("mtforge_cache_hit_ratio", "cache hits / lookups since start", registry=r)
        self.cache_hit_ratio.set_function(self._hit_ratio)
        self.directions = Counter("mtforge_direction_sentences", "sentences asked for by direction",
                                  ["direction", "variant"], registry=r)
        self.untranslated = Counter("mtforge_texts_untranslated", "texts returned as they came", ["reason"],
                                    registry=r)
        self.loaded_modules = Gauge("mtforge_loaded_modules", "units in the module LRU", registry=r)
        self.module_bytes = Gauge("mtforge_module_bytes", "memory of the loaded units", registry=r)
        self.module_events = Counter("mtforge_module_events", "module loads and evictions", ["event"], registry=r)
        self.model_info = Gauge("mtforge_model_info", "served model versions", ["variant", "version"], registry=r)
        self._hits = 0
        self._lookups = 0

    def _hit_ratio(self) -> float:
        return self._hits / self._lookups if self._lookups else 0.0

    def record_cache(self, hits: int, lookups: int) -> None:
        self._hits += hits
        self._lookups += lookups
        self.cache.labels("hit").inc(hits)
        self.cache.labels("miss").inc(lookups - hits)

    def record_batch(self, sentences: int, tokens: int, pieces: int, seconds: float) -> None:
        """The :data:`~mtforge.serve.batcher.BatchHook` of the server's batcher."""
        self.batch_sentences.observe(sentences)
        self.batch_tokens.observe(tokens)
        self.pieces.inc(pieces)
        self.decode_seconds.inc(seconds)
        if seconds > 0:
            self.tokens_per_second.set(pieces / seconds)

    def record_modules(self, loaded: int, size: int, event: str) -> None:
        """The ``on_change`` hook of the module cache."""
        self.loaded_modules.set(loaded)
        self.module_bytes.set(size)
        self.module_events.labels(event).inc()

    def record_response(self, path: str, code: int, seconds: float) -> None:
        self.requests.labels(path, str(code)).inc()
        self.latency.labels(path).observe(seconds)
        if code >= 400:
            self.errors.labels(str(code)).inc()
