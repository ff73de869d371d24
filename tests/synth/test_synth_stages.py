"""The synth stages on the tiny local models: a generation task killed mid-batch resumes to
exactly what an uninterrupted run writes; sentences, back-translation, QE, decontamination and
the TopXGen files; and the bad inputs a user meets, each a clear error."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mtforge.corpus import Corpus
from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.stage import run_stage
from mtforge.synth.generate import read_jsonl
from mtforge.synth.tiny_model import TEACH_PROMPT
from mtforge.synth.topxgen import read_translated
from tests.conftest import SHARED_DATA

FLORES_DEV = str(SHARED_DATA / "flores200" / "dev")
TOPICS = str(Path(__file__).resolve().parents[2] / "pipelines" / "data" / "topics.txt")
GERMAN = (SHARED_DATA / "multi30k" / "train.de").read_text(encoding="utf-8").splitlines()
FLORES_DE = (SHARED_DATA / "flores200" / "devtest" / "deu_Latn.devtest").read_text(encoding="utf-8").splitlines()

_GENERATE = """
import json, sys
from mtforge.stage import run_stage
if __name__ == "__main__":
    run_stage("synth-generate", json.loads(sys.argv[1]), out_dir=sys.argv[2], topics=sys.argv[3], examples=sys.argv[4])
"""


def _generate(config: dict, out: Path, home: Path) -> subprocess.Popen:
    env = {**os.environ, "MTFORGE_HOME": str(home), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", _GENERATE, json.dumps(config), str(out), TOPICS, FLORES_DEV],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_a_killed_generation_task_resumes_without_duplicates(tiny_llm: Path, tmp_path: Path):
    config = {"generator": f"hf:{tiny_llm}", "languages": ["swh_Latn"], "target_paragraphs": 1000, "max_batches": 3,
              "prompts_per_batch": 3, "lid": None, "min_words": 1, "seed": 5,
              "sampling": {"max_tokens": 48}, "prompt": TEACH_PROMPT}
    whole = _generate(config, tmp_path / "whole", tmp_path / "home-whole")
    assert whole.wait(timeout=600) == 0, whole.stderr.read()
    home = tmp_path / "home-killed"
    killed = _generate(config, tmp_path / "killed", home)
    deadline = time.monotonic() + 600
    while not list(home.glob("work/synth-generate/*/swh_Latn/progress.json")):
        assert killed.poll() is None and time.monotonic() < deadline, "the first batch never finished"
        time.sleep(0.2)
    killed.send_signal(signal.SIGKILL)  # during the second batch
    killed.wait()
    (progress,) = home.glob("work/synth-generate/*/swh_Latn/progress.json")
    assert json.loads(progress.read_text())["batch"] < 3
    resumed = _generate(config, tmp_path / "killed", home)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    assert (tmp_path / "killed" / "Swahili.jsonl").read_text() == (tmp_path / "whole" / "Swahili.jsonl").read_text()
    assert ((tmp_path / "killed" / "rejected" / "Swahili.jsonl").read_text()
            == (tmp_path / "whole" / "rejected" / "Swahili.jsonl").read_text())
    report = json.loads((tmp_path / "killed" / "generation.json").read_text())["languages"]["swh_Latn"]
    assert report["prompts"] == 9 and report["batches"] == 3


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated-paragraph file as synth-generate writes it: German paragraphs of Multi30k
    captions, one with an English sentence and a short fragment, one copying FLORES devtest."""
    root = tmp_path_factory.mktemp("generated")
    paragraphs = [" ".join(GERMAN[i : i + 3]) for i in range(0, 15, 3)]
    paragraphs[1] += " The weather in London was cold and rainy for most of the year. Ja."
    paragraphs[3] = f"{GERMAN[40]} {FLORES_DE[7]}"
    (root / "German.jsonl").write_text("".join(json.dumps({"text": p, "topic": "Alltag"}, ensure_ascii=False) + "\n"
                                               for p in paragraphs), encoding="utf-8")
    return root


def test_translate_and_select_write_scored_decontaminated_pairs(generated: Path, tiny_nllb: Path, tmp_path: Path):
    translate_config = {"back_translator": f"hf:{tiny_nllb}", "beam_size": 2, "max_new_tokens": 24}
    stats = run_stage("synth-translate", translate_config, out_dir=str(tmp_path / "tr"), generated=str(generated))
    excluded = pq.read_table(tmp_path / "tr" / "exclusions.parquet").to_pylist()
    assert {(r["text"], r["reason"]) for r in excluded} == {
        ("The weather in London was cold and rainy for most of the year.", "lid_mismatch"), ("Ja.", "too_short")}
    assert excluded[0]["origin"].startswith("synth:German:1:")
    (translated_file,) = (tmp_path / "tr").glob("*/German_translate.jsonl")
    assert translated_file.parent.name == "nllb-tiny"
    translated = read_translated(translated_file)
    assert len(translated) == 5 and stats["sentences.deu_Latn"] == sum(len(p.propositions) for p in translated)
    assert all(-1 <= s <= 1 for p in translated for s in p.scores)  # cosine QE

    select_config = {"percentile": 50, "eval_data": str(SHARED_DATA)}
    run_stage("synth-select", select_config, out_dir=str(tmp_path / "sel"), translated=str(tmp_path / "tr"),
              generated=str(generated))
    sel = tmp_path / "sel"
    filtered = read_translated(sel / "topxgen" / "nllb-tiny" / "German_translate_filtered.jsonl")
    assert [p.sentence for p in filtered] == [p.sentence for i, p in enumerate(translated) if i != 3]
    assert read_jsonl(sel / "topxgen" / "German.jsonl") == read_jsonl(generated / "German.jsonl")
    rows = Corpus.open(sel / "corpus").to_table().to_pylist()
    clean = sum(len(p.propositions) for p in filtered)
    assert len(rows) == (clean + 1) // 2 and all(r["src_lang"] == "eng_Latn" and r["tgt_lang"] == "deu_Latn"
                                                for r in rows)
    reasons = [r["reason"] for r in pq.read_table(sel / "exclusions.parquet").to_pylist()]
    assert reasons.count("contaminated") == 2 and reasons.count("low_qe") == clean - len(rows)
    report = json.loads((sel / "synth.json").read_text())
    assert report["decontamination"]["counts"] == {"flores200-devtest": {"exact": 0, "ngram": 1}}
    assert "### deu_Latn" in (sel / "calibration.md").read_text()


def test_bad_inputs_are_clear_errors(tiny_llm: Path, tmp_path: Path, generated: Path):
    base = {"generator": f"hf:{tiny_llm}", "languages": ["swh_Latn"]}

    def generate(config: dict, topics: str = TOPICS) -> None:
        run_stage("synth-generate", config, out_dir=str(tmp_path / "gen"), topics=topics, examples=FLORES_DEV)

    with pytest.raises(InputNotFoundError, match="no-such-model"):
        generate({**base, "generator": f"vllm:{tmp_path / 'no-such-model'}"})
    no_template = tmp_path / "no-template"
    no_template.mkdir()
    for path in tiny_llm.iterdir():
        (no_template / path.name).write_bytes(path.read_bytes())
    config = json.loads((no_template / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (no_template / "tokenizer_config.json").write_text(json.dumps(config))
    (no_template / "chat_template.jinja").unlink(missing_ok=True)
    with pytest.raises(ConfigError, match="chat template"):
        generate({**base, "generator": f"hf:{no_template}"})
    empty = tmp_path / "topics.txt"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="topics.txt has no topics"):
        generate(base, topics=str(empty))
    with pytest.raises(ConfigError, match="unknown"):
        generate({**base, "generator": f"llamacpp:{tiny_llm}"})
    with pytest.raises(ConfigError, match=r"mtforge\[blaser\]"):
        run_stage("synth-translate", {"back_translator": f"hf:{tiny_llm}", "qe": "blaser"},
                  out_dir=str(tmp_path / "tr"), generated=str(generated))
