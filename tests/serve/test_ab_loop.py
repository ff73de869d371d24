"""The online A/B loop through the service's HTTP API: posts routed to two models, the feed
logging impressions and engagement, the viewers' Translate clicks logged by /translate, and
the analysis deciding from the store the server wrote."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from mtforge.abtest import ADOPT_B, KEEP_A, EventStore, analyze
from tests.conftest import TOY_CHECK


@pytest.mark.parametrize("engagement,decision", [({"A": 0.5, "B": 2.0}, ADOPT_B), ({"A": 1.0, "B": 1.0}, KEEP_A)])
def test_engagement_after_translate_clicks_decides_between_the_served_models(
        serve, toy_files, tmp_path: Path, engagement: dict[str, float], decision: str) -> None:
    store = tmp_path / "ab.sqlite"
    client = serve(toy_files, model_b=toy_files["model"], vocab_b=toy_files["vocab"], ab_share_b=0.5,
                   ab_experiment="loop", ab_store=str(store))
    rng = np.random.default_rng(7)
    posts = [f"post-{i}" for i in range(120)]
    for start in range(0, len(posts), 20):  # a feed page of 20 posts, viewed by one user
        page, user = posts[start:start + 20], f"user-{start}"
        client.post("/events", json={"events": [{"post_id": p, "user_id": user, "event": "impression"}
                                                for p in page]}).raise_for_status()
        texts = [TOY_CHECK[i % len(TOY_CHECK)] for i in range(start, start + 20)]
        answer = client.post("/translate", json={"texts": texts, "target_language": "de", "source_language": "en",
                                                 "post_ids": page, "user_id": user}).json()
        after = time.time() + 1  # engagement follows the click
        events = [{"post_id": post, "user_id": user, "event": str(rng.choice(["like", "comment", "share"])),
                   "time": after + k}
                  for post, t in zip(page, answer["translations"])
                  for k in range(int(rng.poisson(engagement[t["variant"]])))]
        if events:
            client.post("/events", json={"events": events}).raise_for_status()
    with EventStore(store) as events:
        report = analyze(events, now=time.time() + 3600, min_posts=20)
    assert report.variants["A"].clicked_posts + report.variants["B"].clicked_posts == 120
    assert report.decision == decision, report.markdown()

