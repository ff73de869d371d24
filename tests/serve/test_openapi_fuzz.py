"""Schemathesis generates requests from the service's OpenAPI schema (valid and invalid
bodies, odd strings, huge and empty lists): no answer may be a 5xx, and every answer must
match the schema's documented responses where it documents them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from schemathesis.generation.modes import GenerationMode
from schemathesis.python import asgi
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtforge.serve.app import create_app
from mtforge.serve.config import ServeConfig, load_serve_config

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def config(toy_files: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> ServeConfig:
    store = tmp_path_factory.mktemp("ab") / "events.sqlite"
    return load_serve_config({**toy_files, "threads": 1, "cache_dir": str(tmp_path_factory.mktemp("cache")),
                              "model_b": toy_files["model"], "vocab_b": toy_files["vocab"],
                              "ab_store": str(store), "max_texts": 16}, environ={})


@pytest.fixture(scope="module")
def app(config: ServeConfig) -> Iterator:
    app = create_app(config, load_in_background=False)
    service = app.state.service
    service.load()  # schemathesis' ASGI client does not run the app's lifespan
    with asgi.get_client(app) as session:
        app.state.fuzz_session = session
        yield app
    service.close()


@pytest.fixture(scope="module")
def client(config: ServeConfig) -> Iterator[TestClient]:
    with TestClient(create_app(config, load_in_background=False)) as client:
        yield client


def operations(app) -> list:
    """Every operation of the served schema (schemathesis' pytest plugin does not run under
    pytest 9, so the operations' Hypothesis strategies are driven directly)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_the_schema_covers_every_route(app) -> None:
    assert {f"{op.method.upper()} {op.path}" for op in operations(app)} == {
        "POST /translate", "POST /events", "GET /languages", "GET /healthz", "GET /readyz", "GET /metrics"}


@pytest.mark.parametrize("route,mode", [  # GET routes take no input: nothing negative to generate
    ("POST /translate", GenerationMode.POSITIVE), ("POST /translate", GenerationMode.NEGATIVE),
    ("POST /events", GenerationMode.POSITIVE), ("POST /events", GenerationMode.NEGATIVE),
    ("GET /languages", GenerationMode.POSITIVE), ("GET /readyz", GenerationMode.POSITIVE)])
def test_no_generated_request_gets_a_server_error(app, route: str, mode: GenerationMode) -> None:
    operation = next(op for op in operations(app) if f"{op.method.upper()} {op.path}" == route)
    seen: list[int] = []

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case) -> None:
        response = case.call(session=app.state.fuzz_session)
        seen.append(response.status_code)
        assert response.status_code < 500, f"{route} → {response.status_code}: {response.text[:300]}"

    check()
    assert seen and 503 not in seen, seen
    if mode == GenerationMode.NEGATIVE and route.startswith("POST"):
        assert any(400 <= code < 500 for code in seen)  # invalid bodies were generated, and refused


@given(texts=st.lists(st.text(max_size=80), min_size=1, max_size=8),
       source=st.sampled_from([None, "en", "eng_Latn", "de"]), target=st.sampled_from(["de", "deu_Latn", "en"]))
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_arbitrary_unicode_texts_are_answered_in_order_without_server_errors(client, texts, source, target) -> None:
    """Any text — control characters, combining marks, emoji, other scripts — gets a 200 with
    one answer per text (or a 422 for a direction the model lacks)."""
    body = {"texts": texts, "target_language": target, **({"source_language": source} if source else {})}
    response = client.post("/translate", json=body)
    if response.status_code == 422:
        assert "supported_directions" in response.json() or "surrogate" in response.text
        return
    assert response.status_code == 200, response.text
    assert len(response.json()["translations"]) == len(texts)
