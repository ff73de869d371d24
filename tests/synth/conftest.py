"""Tiny local models for the synthetic-data tests (nothing is downloaded from a model hub):

* ``tiny_llm`` — a Llama-architecture chat model with a BPE vocabulary trained on FLORES-200
  dev text, taught (:func:`~mtforge.synth.tiny_model.teach_format`) to answer "Write 2
  paragraphs about <topic> in <language>." with ``1. <paragraph>\\n2. <paragraph>`` in German
  or Swahili. Its paragraphs are FLORES dev sentences it half remembers: gibberish in the right
  language and format, often enough to be parsed;
* ``tiny_nllb`` — a random-weight NLLB-style seq2seq model (eng_Latn, deu_Latn, swh_Latn);
* ``vllm_server`` — a real vLLM OpenAI-compatible server over ``tiny_llm``, in a subprocess.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import one_torch_thread

#: The languages the tiny chat model writes, with the names its prompts use.
LANGUAGES = {"deu_Latn": "German", "swh_Latn": "Swahili"}
#: Topics of the teaching prompts (tests ask about others too).
TOPICS = ["cats", "the weather", "football", "cooking", "music", "rivers", "history", "trains", "farming", "the sea",
          "mountains", "schools"]
#: FLORES dev sentences per language the paragraphs are drawn from: few enough that the tiny
#: model half remembers them and keeps to the format.
SENTENCE_POOL = 40
#: The name the OpenAI-compatible server serves the tiny model under.
SERVED_NAME = "tiny"


def paragraphs_prompt(topic: str, language: str, n: int = 2) -> list[dict[str, str]]:
    """The conversation asking for ``n`` paragraphs about ``topic`` in ``language`` (a name)."""
    return [{"role": "user", "content": f"Write {n} paragraphs about {topic} in {language}."}]


def format_examples(flores: dict[str, list[str]], *, per_topic: int = 3, seed: int = 0) -> list[tuple[list, str]]:
    """Teaching examples: for each language, topic and repeat, the prompt and an answer of two
    numbered paragraphs of 1–2 FLORES dev sentences of that language."""
    rng = random.Random(seed)
    examples = []
    for lang, name in LANGUAGES.items():
        pool = flores[lang][:SENTENCE_POOL]
        for topic in TOPICS:
            for _ in range(per_topic):
                paragraphs = [" ".join(rng.sample(pool, rng.randint(1, 2))) for _ in range(2)]
                examples.append((paragraphs_prompt(topic, name), "\n".join(f"{i}. {p}" for i, p in enumerate(paragraphs, 1))))
    return examples


@pytest.fixture(scope="session")
def flores_dev(shared_data: Path) -> dict[str, list[str]]:
    """FLORES-200 dev sentences of eng_Latn and of :data:`LANGUAGES`, by language."""
    dev = shared_data / "flores200" / "dev"
    return {lang: (dev / f"{lang}.dev").read_text(encoding="utf-8").splitlines() for lang in ["eng_Latn", *LANGUAGES]}


@pytest.fixture(scope="session")
def tiny_llm(flores_dev: dict[str, list[str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of the tiny chat model, taught the numbered-paragraphs format (module docstring)."""
    from mtforge.synth.tiny_model import build_tiny_llama, teach_format

    out = tmp_path_factory.mktemp("tiny-llm") / "tiny-llama"
    with one_torch_thread():
        build_tiny_llama(out, [s for sentences in flores_dev.values() for s in sentences])
        teach_format(out, format_examples(flores_dev))
    return out


@pytest.fixture(scope="session")
def tiny_nllb(flores_dev: dict[str, list[str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of the random-weight NLLB-style model (eng_Latn, deu_Latn, swh_Latn tokens)."""
    from mtforge.synth.tiny_model import build_tiny_nllb

    texts = [s for sentences in flores_dev.values() for s in sentences]
    return build_tiny_nllb(tmp_path_factory.mktemp("tiny-nllb") / "nllb-tiny", texts, list(flores_dev))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Poll ``url`` until it answers 200; fail with the server's log if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"vLLM server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"vLLM server not healthy after {timeout:.0f} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def vllm_server(tiny_llm: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:<port>/v1``) of a real vLLM OpenAI-compatible server serving
    ``tiny_llm`` as :data:`SERVED_NAME`, started in a subprocess and stopped at teardown."""
    pytest.importorskip("vllm")
    port = free_port()
    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_llm),
               "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port), "--enforce-eager",
               "--max-model-len", "2048"]
    # 1 GiB of KV cache; the model runs inside the engine process instead of a third process
    # (halves the start-up, which is mostly each process importing vLLM)
    env = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0", **os.environ}
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", process, log, timeout=240)
        yield f"http://127.0.0.1:{port}/v1"
    finally:  # the server and its engine process: the session it leads
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
