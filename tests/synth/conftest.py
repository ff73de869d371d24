"""Tiny local models for the synthetic-data tests (nothing is downloaded from a model hub):

* ``tiny_llm`` — :func:`mtforge.synth.tiny_model.build_synth_llm`: a tiny Llama chat model
  taught to answer the synth stage's own prompts, built with
  :data:`~mtforge.synth.tiny_model.TEACH_PROMPT`, for German or Swahili with
  ``1. <paragraph>\\n2. <paragraph>`` of half-remembered FLORES dev sentences (about a third of
  its answers at temperature 0.8 parse; prompts of another size mostly do not);
* ``tiny_nllb`` — a random-weight NLLB-style seq2seq model (eng_Latn, deu_Latn, swh_Latn);
* ``vllm_server`` — a real vLLM OpenAI-compatible server over ``tiny_llm``, in a subprocess.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import one_torch_thread

#: The languages the tiny chat model writes.
LANGUAGES = ["deu_Latn", "swh_Latn"]
#: The name the OpenAI-compatible server serves the tiny model under.
SERVED_NAME = "tiny"


@pytest.fixture(scope="session")
def example_pool(shared_data: Path):
    """The FLORES-200 dev sentences of every language, as the synth stage reads its examples."""
    from mtforge.synth.prompts import ExamplePool

    return ExamplePool.from_dir(shared_data / "flores200" / "dev")


@pytest.fixture(scope="session")
def flores_dev(example_pool) -> dict[str, list[str]]:
    """FLORES-200 dev sentences of eng_Latn and of :data:`LANGUAGES`, by language."""
    return {lang: example_pool.sentences[lang] for lang in ["eng_Latn", *LANGUAGES]}


@pytest.fixture(scope="session")
def tiny_llm(example_pool, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of the tiny chat model taught the synth prompts (module docstring)."""
    from mtforge.synth.tiny_model import build_synth_llm

    with one_torch_thread():
        return build_synth_llm(tmp_path_factory.mktemp("tiny-llm") / "tiny-llama", example_pool, LANGUAGES)


@pytest.fixture(scope="session")
def tiny_nllb(flores_dev: dict[str, list[str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of the random-weight NLLB-style model (eng_Latn, deu_Latn, swh_Latn tokens)."""
    from mtforge.synth.tiny_model import build_tiny_nllb

    texts = [s for sentences in flores_dev.values() for s in sentences]
    return build_tiny_nllb(tmp_path_factory.mktemp("tiny-nllb") / "nllb-tiny", texts, list(flores_dev))


@pytest.fixture(scope="session")
def vllm_server(tiny_llm: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:<port>/v1``) of a real vLLM OpenAI-compatible server serving
    ``tiny_llm`` as :data:`SERVED_NAME`, started in a subprocess and stopped at teardown."""
    pytest.importorskip("vllm")
    from mtforge.synth.generators import serve_vllm

    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
    with serve_vllm(tiny_llm, served_name=SERVED_NAME, args=["--max-model-len", "2048"], log=log) as url:
        yield url
