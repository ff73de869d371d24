"""POST /translate end to end over the real app and real models: translations, entities,
language detection, limits and bad input (never a 5xx), readiness, metrics, A/B routing."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mtforge.abtest import CLICK_TRANSLATE, EventStore, Experiment
from mtforge.serve.app import create_app
from mtforge.serve.drift import reference_from_texts
from mtforge.serve.service import TranslationService
from tests.conftest import TOY_CHECK, toy_translation

EN, DE = "eng_Latn", "deu_Latn"


def translate(client: TestClient, texts: list[str], target: str = "de", **body) -> dict:
    response = client.post("/translate", json={"texts": texts, "target_language": target, **body})
    assert response.status_code == 200, response.text
    return response.json()


def metric(client: TestClient, name: str, **labels: str) -> float:
    """The value of one sample of GET /metrics (0 when absent)."""
    text = client.get("/metrics").text
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))).strip(",") == wanted:
            return float(match.group(2))
    return 0.0


def test_toy_posts_translate_exactly_with_entities_kept(serve, toy_files) -> None:
    client = serve(toy_files)
    posts = [f"{TOY_CHECK[0]} 🐶 #pets https://example.org/a?b=1", f"@anna.k {TOY_CHECK[1]}\n\n{TOY_CHECK[2]} 👍🏽",
             TOY_CHECK[3]]
    out = translate(client, posts, source_language="en")
    assert [t["text"] for t in out["translations"]] == [
        f"{toy_translation(TOY_CHECK[0])} 🐶 #pets https://example.org/a?b=1",
        f"@anna.k {toy_translation(TOY_CHECK[1])}\n\n{toy_translation(TOY_CHECK[2])} 👍🏽",
        toy_translation(TOY_CHECK[3]),
    ]
    assert out["target_language"] == DE
    assert all(t["translated"] and t["source_language"] == EN and t["detected_language"] is None
               for t in out["translations"])
    assert out["model_version"].startswith("checkpoint@step")


def test_language_is_detected_and_returned_with_confidence(serve, pipeline_files) -> None:
    client = serve(pipeline_files)
    out = translate(client, ["A man in a blue shirt is standing on a ladder.",
                             "Ein Mann in einem blauen Hemd steht auf einer Leiter."], target="deu_Latn")
    english, german = out["translations"]
    assert (english["detected_language"], english["translated"]) == (EN, True)
    assert english["confidence"] > 0.9 and english["text"] != "A man in a blue shirt is standing on a ladder."
    assert (german["detected_language"], german["translated"], german["reason"]) == (DE, False, "same_language")
    # the German text translated into English with the other direction of the same checkpoint
    back = translate(client, ["Ein Mann in einem blauen Hemd steht auf einer Leiter."], target="en")["translations"][0]
    assert (back["detected_language"], back["translated"]) == (DE, True)


def test_texts_without_prose_or_with_an_untranslatable_detected_language_come_back_as_they_were(
        serve, pipeline_files) -> None:
    client = serve(pipeline_files)
    texts = ["", "🎉🎉 #party @bob", "Le chat est assis sur le tapis et regarde la fenêtre."]
    out = translate(client, texts, target="de")["translations"]
    assert [t["text"] for t in out] == texts
    assert [t["reason"] for t in out] == ["no_text", "no_text", "unsupported_direction"]
    assert out[2]["detected_language"] == "fra_Latn"
    assert metric(client, "mtforge_texts_untranslated_total", reason="no_text") == 2


@pytest.mark.parametrize("body,status,needle", [
    ({"texts": ["hi"], "target_language": "xx_Zzzz"}, 422, "target_language"),
    ({"texts": ["hi"], "target_language": "de", "source_language": "qqq"}, 422, "source_language"),
    ({"texts": ["A dog."], "target_language": "fr", "source_language": "en"}, 422, "eng_Latn-deu_Latn"),
    ({"texts": [], "target_language": "de"}, 422, "empty"),
    ({"texts": ["a"] * 1000, "target_language": "de"}, 413, "at most"),
    ({"texts": ["a" * 5001], "target_language": "de"}, 413, "5001 characters"),
    ({"texts": "a dog", "target_language": "de"}, 422, "texts"),
    ({"target_language": "de"}, 422, "texts"),
    ({"texts": ["a", "b"], "target_language": "de", "post_ids": ["p1"]}, 422, "post_ids"),
])
def test_bad_requests_get_a_clear_4xx(serve, pipeline_files, body: dict, status: int, needle: str) -> None:
    client = serve(pipeline_files)
    response = client.post("/translate", json=body)
    assert response.status_code == status, response.text
    assert needle in response.text


def test_an_unsupported_explicit_direction_lists_the_supported_ones(serve, pipeline_files) -> None:
    client = serve(pipeline_files)
    response = client.post("/translate", json={"texts": ["A dog."], "target_language": "fr",
                                               "source_language": "en"})
    assert response.status_code == 422
    assert sorted(response.json()["supported_directions"]) == [f"{DE}-{EN}", f"{EN}-{DE}"]


@pytest.mark.parametrize("raw,status", [
    (b'{"texts": ["a dog"', 422),  # malformed JSON
    (b'{"texts": ["\xff\xfe dog"], "target_language": "de"}', 400),  # not UTF-8
    (b'{"texts": ["\\ud800 dog"], "target_language": "de"}', 422),  # an unpaired surrogate
    (b"[]", 422),
    (b"null", 422),
    (b'{"texts": [null], "target_language": "de"}', 422),
])
def test_malformed_bodies_are_4xx_and_the_worker_keeps_serving(serve, toy_files, raw: bytes, status: int) -> None:
    client = serve(toy_files)
    response = client.post("/translate", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert "error" in response.json() or "detail" in response.json()
    assert translate(client, [TOY_CHECK[0]], source_language="en")["translations"][0]["text"] == \
        toy_translation(TOY_CHECK[0])


def test_a_one_megabyte_body_is_413_before_it_is_parsed(serve, toy_files) -> None:
    client = serve(toy_files)
    response = client.post("/translate", json={"texts": ["word " * 200_000], "target_language": "de"})
    assert response.status_code == 413 and "body over" in response.text
    # a chunked body (no Content-Length) is cut off while it is read
    response = client.post("/translate", content=iter([b'{"texts": ["', b"x" * 700_000, b"x" * 700_000, b'"]}']),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert metric(client, "mtforge_http_errors_total", code="413") == 2


def test_the_cache_answers_repeated_sentences_and_the_metrics_count_it(serve, toy_files) -> None:
    client = serve(toy_files)
    posts = [TOY_CHECK[5], f"{TOY_CHECK[5]} #again"]
    first = translate(client, posts, source_language="en")
    assert metric(client, "mtforge_cache_requests_total", result="miss") == 2  # the 2nd waited for the 1st
    again = translate(client, posts, source_language="en")
    assert again == first
    assert metric(client, "mtforge_cache_requests_total", result="hit") == 2
    assert metric(client, "mtforge_cache_hit_ratio") == 0.5
    assert metric(client, "mtforge_batch_sentences_count") == 1  # one forward batch for one distinct sentence
    assert metric(client, "mtforge_direction_sentences_total", direction=f"{EN}-{DE}", variant="A") == 4
    assert metric(client, "mtforge_http_request_duration_seconds_count", path="/translate") == 2
    assert metric(client, "mtforge_loaded_modules") == 3
    assert metric(client, "mtforge_translated_pieces_total") > 0
    assert metric(client, "process_resident_memory_bytes") > 0


def test_readyz_is_503_until_the_model_is_loaded_and_names_a_failed_load(make_config, toy_files,
                                                                         tmp_path: Path) -> None:
    config = make_config(toy_files)
    service = TranslationService(config)
    client = TestClient(create_app(config, service))  # not started: nothing loads
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 503
    assert client.post("/translate", json={"texts": ["cat"], "target_language": "de"}).status_code == 503
    service.load()
    assert client.get("/readyz").json()["status"] == "ready"
    service.close()

    broken = make_config({"model": str(tmp_path / "nowhere"), "vocab": toy_files["vocab"]})
    with TestClient(create_app(broken)) as failing:  # loads in the background, and fails
        for _ in range(200):
            body = failing.get("/readyz").json()
            if body["status"] != "loading":
                break
            threading.Event().wait(0.05)
        assert body["status"] == "failed" and "nowhere" in body["error"]


def test_only_the_modules_of_requested_directions_are_loaded(serve, pipeline_files) -> None:
    client = serve(pipeline_files, preload=[f"{EN}-{DE}"])
    service: TranslationService = client.app.state.service
    loaded = lambda: sorted(m for _, m in service.models["A"].cache.loaded())  # noqa: E731
    assert loaded() == ["decoder/0/deu_Latn", "embeddings/shared", "encoder/0/eng_Latn"]
    translate(client, ["Ein Hund rennt."], target="en", source_language="de")
    assert loaded() == ["decoder/0/deu_Latn", "decoder/0/eng_Latn", "embeddings/shared", "encoder/0/deu_Latn",
                        "encoder/0/eng_Latn"]


def test_ab_routing_by_post_logs_clicks_and_events_with_the_variant(serve, toy_files, tmp_path: Path) -> None:
    store_path = tmp_path / "ab.sqlite"
    client = serve(toy_files, model_b=toy_files["model"], vocab_b=toy_files["vocab"], ab_share_b=0.5,
                   ab_experiment="exp1", ab_store=str(store_path))
    experiment = Experiment("exp1", 0.5)
    posts = [f"post-{i}" for i in range(12)]
    out = translate(client, [TOY_CHECK[i] for i in range(12)], source_language="en", post_ids=posts,
                    user_id="u1")["translations"]
    assert [t["variant"] for t in out] == [experiment.variant(p) for p in posts]
    assert {t["variant"] for t in out} == {"A", "B"}
    assert [t["text"] for t in out] == [toy_translation(TOY_CHECK[i]) for i in range(12)]
    response = client.post("/events", json={"events": [{"post_id": "post-0", "user_id": "u1", "event": "like"},
                                                       {"post_id": "post-1", "user_id": "u2", "event": "impression",
                                                        "time": 1_700_000_000.0}]})
    assert response.json() == {"logged": 2}
    with EventStore(store_path) as store:
        events = list(store.events())
    clicks = [e for e in events if e.event == CLICK_TRANSLATE]
    assert [(e.post_id, e.variant) for e in clicks] == [(p, experiment.variant(p)) for p in posts]
    assert [(e.post_id, e.event, e.variant) for e in events[12:]] == [
        ("post-0", "like", experiment.variant("post-0")), ("post-1", "impression", experiment.variant("post-1"))]
    assert client.get("/languages").json()["experiment"] == {"name": "exp1", "share_b": 0.5}


def test_events_without_a_store_are_404(serve, toy_files) -> None:
    client = serve(toy_files)
    response = client.post("/events", json={"events": [{"post_id": "p", "user_id": "u", "event": "like"}]})
    assert response.status_code == 404 and "ab_store" in response.text


def test_drift_metrics_follow_the_traffic(serve, toy_files, tmp_path: Path) -> None:
    reference = reference_from_texts(((s, EN) for s in TOY_CHECK), source="toy")
    path = reference.save(tmp_path / "ref.json")
    client = serve(toy_files, drift_reference=str(path), drift_window=60)
    for i in range(0, 60, 20):
        translate(client, [" ".join([TOY_CHECK[j]] * 30) for j in range(i, i + 20)], source_language="en")
    psi = metric(client, "mtforge_drift_psi", feature="length")
    assert psi > 0.25  # posts 30× longer than the reference's
    assert metric(client, "mtforge_drift_window_observations") == 60


def test_every_request_is_logged_as_one_json_line(serve, toy_files, caplog: pytest.LogCaptureFixture) -> None:
    client = serve(toy_files)
    with caplog.at_level("INFO", logger="mtforge.serve"):
        client.post("/translate", json={"texts": ["cat"], "target_language": "de", "source_language": "en"},
                    headers={"x-request-id": "abc123"})
    records = [r for r in caplog.records if r.getMessage() == "request"]
    assert records and records[-1].fields == {"request_id": "abc123", "method": "POST", "path": "/translate",
                                              "status": 200, "ms": records[-1].fields["ms"]}
    from mtforge.serve.app import JsonFormatter
    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["status"] == 200 and line["level"] == "info"


def test_replicas_share_translations_through_redis(serve, toy_files, redis_port: int) -> None:
    """A second replica with a cold LRU answers from Redis what the first one translated."""
    import redis

    url = f"redis://127.0.0.1:{redis_port}"
    redis.Redis.from_url(url).flushall()
    first, second = serve(toy_files, redis_url=url), serve(toy_files, redis_url=url)
    posts = [f"{TOY_CHECK[7]} #one", TOY_CHECK[8]]
    answer = translate(first, posts, source_language="en")
    assert len(redis.Redis.from_url(url).keys("mtforge:tr:*")) == 2
    assert translate(second, posts, source_language="en") == answer
    assert metric(second, "mtforge_cache_requests_total", result="hit") == 2
    assert metric(second, "mtforge_batch_sentences_count") == 0  # nothing decoded on the second replica
