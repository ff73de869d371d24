"""The translation service (``mtforge serve``): language detection and modular translation of
posts behind HTTP.

* :mod:`~mtforge.serve.config` — settings (defaults < ``MTFORGE_SERVE_*`` < flags);
* :mod:`~mtforge.serve.models` — model sources (registry, MLflow, folders) and the module LRU;
* :mod:`~mtforge.serve.text` — posts ↔ sentences, entities kept intact;
* :mod:`~mtforge.serve.batcher` — micro-batching across requests;
* :mod:`~mtforge.serve.cache` — the translation cache (LRU, Redis);
* :mod:`~mtforge.serve.service` — what a request does (no HTTP);
* :mod:`~mtforge.serve.app` — the FastAPI app, limits, logs, the server;
* :mod:`~mtforge.serve.metrics`, :mod:`~mtforge.serve.drift` — Prometheus metrics and drift;
* :mod:`~mtforge.serve.cli` — ``mtforge serve`` and ``mtforge serve-reference``.

The A/B experiment's router, event store and analysis are in :mod:`mtforge.abtest`.
"""
