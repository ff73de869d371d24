"""The HTTP layer of ``mtforge serve``: a FastAPI app over a :class:`TranslationService`.

Routes: ``POST /translate``, ``POST /events`` (A/B engagement events), ``GET /languages``,
``GET /healthz`` (the process answers), ``GET /readyz`` (200 once the model is loaded, 503
before or after a failed load), ``GET /metrics`` (Prometheus), and the OpenAPI schema at
``/openapi.json`` (docs at ``/docs``).

Limits answer before any work: a body over ``max_body_bytes`` → 413 (checked on the declared
length and while reading); more than ``max_texts`` texts or a text over ``max_chars``
characters → 413; malformed JSON, a body that is not UTF-8, missing fields or wrong types →
422 (FastAPI's validation answer). Every answer is JSON, including 500s, and every request
is logged as one JSON line and counted in the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mtforge.langcodes import normalise
from mtforge.serve.config import ServeConfig
from mtforge.serve.metrics import ServeMetrics
from mtforge.serve.service import RequestError, TranslationService, describe

log = logging.getLogger("mtforge.serve")


class TranslateRequest(BaseModel):
    """Texts to translate into one target language."""

    texts: list[str] = Field(description="posts or comments (at most max_texts, each at most max_chars characters)",
                             examples=[["A dog runs on the beach 🐶 #summer"]])
    target_language: str = Field(description="the viewer's language: FLORES-200 (deu_Latn), ISO 639-1/3 or English "
                                             "name", examples=["deu_Latn"])
    source_language: str | None = Field(None, description="the texts' language; detected per text when absent")
    post_ids: list[str] | None = Field(None, description="one post id per text: routes each post to model A or B "
                                                         "when an experiment runs")
    user_id: str | None = Field(None, description="the viewer: with post_ids, a click_translate event is logged")


class Translation(BaseModel):
    text: str
    source_language: str | None
    detected_language: str | None = Field(description="what language identification found (absent when given)")
    confidence: float | None = Field(description="the identifier's probability for detected_language")
    translated: bool
    variant: str = Field(description="A or B: the model that served the text")
    model_version: str
    reason: str | None = Field(description="why a text came back as it was: no_text, same_language, "
                                           "low_confidence, unsupported_direction")


class TranslateResponse(BaseModel):
    translations: list[Translation]
    target_language: str
    model_version: str = Field(description="model A's version (each translation names its own)")


class EventIn(BaseModel):
    post_id: str = Field(min_length=1, max_length=256)
    user_id: str = Field(min_length=1, max_length=256)
    event: str = Field(min_length=1, max_length=64, description="impression, like, comment, share, …")
    time: float | None = Field(None, description="unix seconds (default: now)")


class EventsRequest(BaseModel):
    events: list[EventIn] = Field(min_length=1, max_length=1000)


class BodyLimit:
    """ASGI middleware: 413 for a body over ``limit`` bytes, by Content-Length or as read
    (a chunked body is buffered up to the limit, never beyond)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(scope, send)
            return
        chunks, size, more = [], 0, True
        while more:  # read the body up to the limit, then hand it on
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.limit:
                await self._too_large(scope, send)
                return
        await self.app(scope, _replay([{"type": "http.request", "body": b"".join(chunks), "more_body": False}],
                                      then=receive), send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        response = JSONResponse({"error": f"request body over {self.limit} bytes"}, status_code=413)
        await response(scope, _replay([]), send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A ``receive`` that returns ``messages``, then defers to ``then`` (disconnect detection)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return await then() if then is not None else {"type": "http.disconnect"}

    return receive


def create_app(config: ServeConfig, service: TranslationService | None = None, *,
               load_in_background: bool = True) -> FastAPI:
    """The app. Loading starts at startup, in a thread (``/readyz`` says when it is done),
    or before the app answers with ``load_in_background=False``; shutdown finishes queued
    translations (up to ``shutdown_timeout_s``)."""
    service = service or TranslationService(config, ServeMetrics())
    metrics = service.metrics

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not service.ready:
            if load_in_background:
                threading.Thread(target=_load_quietly, args=(service,), name="mtforge-load", daemon=True).start()
            else:
                service.load()
        yield
        await asyncio.to_thread(service.close, config.shutdown_timeout_s)

    app = FastAPI(title="mtforge translation service", version="1",
                  description="Language detection and modular translation of posts and comments.", lifespan=lifespan)
    app.state.service = service
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)  # inside the observer: 413s are counted

    @app.middleware("http")
    async def observe(request: Request, call_next):
        start = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        metrics.in_flight.inc()
        try:
            response = await call_next(request)
        except Exception:  # noqa: BLE001 — the answer is a JSON 500, the error is logged
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            response = JSONResponse({"error": "internal server error", "request_id": request_id}, status_code=500)
        finally:
            metrics.in_flight.dec()
        seconds = time.perf_counter() - start
        route = request.scope.get("route")
        path = getattr(route, "path", "other")
        metrics.record_response(path, response.status_code, seconds)
        response.headers["x-request-id"] = request_id
        log.info("request", extra={"fields": {"request_id": request_id, "method": request.method,
                                              "path": request.url.path, "status": response.status_code,
                                              "ms": round(seconds * 1000, 2)}})
        return response

    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse(exc.detail, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        return JSONResponse({"error": "invalid request", "detail": errors}, status_code=422)

    @app.post("/translate", response_model=TranslateResponse,
              responses={413: {"description": "too many texts, a text too long, or the body too large"},
                         422: {"description": "invalid request, unknown language, or a direction the model "
                                              "cannot translate (the answer lists the supported ones)"},
                         503: {"description": "the model is not loaded yet"}})
    async def translate(body: TranslateRequest) -> dict[str, Any]:
        _check_limits(body, config)
        results = await service.translate(body.texts, body.target_language, source_language=body.source_language,
                                          post_ids=body.post_ids, user_id=body.user_id)
        return {"translations": [r.to_dict() for r in results],
                "target_language": normalise(body.target_language),  # valid: translate() checked it
                "model_version": service.models["A"].version}

    @app.post("/events", responses={404: {"description": "no A/B event store configured"}})
    async def events(body: EventsRequest) -> dict[str, int]:
        written = await asyncio.to_thread(service.log_events, [e.model_dump() for e in body.events])
        return {"logged": written}

    @app.get("/languages")
    async def languages() -> dict[str, Any]:
        if not service.ready:
            raise RequestError(503, "the model is not loaded yet", load_error=service.load_error)
        return describe(service)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"description": "loading, or loading failed"}})
    async def readyz() -> JSONResponse:
        if service.ready:
            return JSONResponse({"status": "ready",
                                 "models": {v: m.version for v, m in service.models.items()}})
        status = "failed" if service.load_error else "loading"
        return JSONResponse({"status": status, "error": service.load_error}, status_code=503)

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _check_limits(body: TranslateRequest, config: ServeConfig) -> None:
    if not body.texts:
        raise RequestError(422, "texts is empty: send at least one text")
    if len(body.texts) > config.max_texts:
        raise RequestError(413, f"{len(body.texts)} texts in one request; at most {config.max_texts}",
                           max_texts=config.max_texts)
    for i, text in enumerate(body.texts):
        if len(text) > config.max_chars:
            raise RequestError(413, f"texts[{i}] has {len(text)} characters; at most {config.max_chars}",
                               max_chars=config.max_chars)
        if _has_surrogates(text):
            raise RequestError(422, f"texts[{i}] contains an unpaired UTF-16 surrogate (not valid Unicode text)")


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _load_quietly(service: TranslationService) -> None:
    with contextlib.suppress(Exception):  # kept in service.load_error; /readyz reports it
        service.load()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra={"fields": …}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
                 "message": record.getMessage(), **getattr(record, "fields", {})}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str) -> None:
    """JSON lines on stderr for mtforge's and uvicorn's loggers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("mtforge", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False


def run_server(config: ServeConfig) -> None:
    """Serve until SIGINT/SIGTERM; then stop accepting, finish in-flight requests (up to
    ``shutdown_timeout_s``) and the batcher's queue. uvicorn then raises the caught signal
    again, so after SIGTERM the process ends *by* SIGTERM (exit status 143 in a shell), as
    Kubernetes expects of a terminated container."""
    import uvicorn

    configure_logging(config.log_level)
    server = uvicorn.Server(uvicorn.Config(create_app(config), host=config.host, port=config.port,
                                           log_config=None, access_log=False, lifespan="on",
                                           timeout_graceful_shutdown=config.shutdown_timeout_s))
    server.run()
