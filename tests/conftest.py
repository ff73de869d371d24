"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from minio import Minio

#: The shared real corpora: ``$MTFORGE_SHARED_DATA``, else ``../shared/data`` from the project root.
SHARED_DATA = Path(
    os.environ.get("MTFORGE_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)


@pytest.fixture(scope="session", autouse=True)
def isolated_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point MTFORGE_HOME (stage work dirs, KFP state, MLflow store) at a temp dir for the
    session, so tests never write into the checkout's ``.mtforge``; tests may override it."""
    home = tmp_path_factory.mktemp("mtforge-home-session")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MTFORGE_HOME", str(home))
        yield home


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free 127.0.0.1 port for the session; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Minio:
    """A minio client for the test server, with the MTFORGE_S3_* / AWS_* environment set the
    way a user would set it."""
    monkeypatch.setenv("MTFORGE_S3_ENDPOINT", s3_endpoint)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return Minio(
        s3_endpoint.removeprefix("http://"),
        access_key="testing",
        secret_key="testing",
        secure=False,
        region="us-east-1",
    )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the shared real corpora (multi30k/, flores200/, …); skips the test when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} is absent (set MTFORGE_SHARED_DATA to its path)")
    return SHARED_DATA


# --------------------------------------------------------------------------------------------
# A tiny real pipeline run and a toy model, shared by tests/model, tests/train, tests/stages,
# tests/test_translate.py and tests/test_tracking_report.py. Everything here is deliberately
# small (d_model 32/64, one layer, a few hundred sentences) so the whole set stays fast.
# --------------------------------------------------------------------------------------------

EN, DE = "eng_Latn", "deu_Latn"


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run in-process torch work on one thread: the models are tiny, the machine may be busy,
    and oversubscribed intra-op threads are then many times slower than one."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def torch_one_thread() -> Iterator[None]:
    """:func:`one_torch_thread` for the duration of a test."""
    with one_torch_thread():
        yield


#: The ``train`` stage config of the tiny pipeline: the "independent" preset (encoder per
#: source, decoder per target language), one direction per rank on 2 ranks, dropout and
#: clipping off so a run is exactly reproducible.
TINY_TRAIN = {
    "directions": f"{EN}-{DE},{DE}-{EN}", "sharing": "independent", "d_model": 32, "n_heads": 2,
    "ffn_dim": 64, "encoder_layers": 1, "decoder_layers": 1, "dropout": 0.0, "max_steps": 20,
    "batch_tokens": 800, "lr": 3e-3, "warmup_steps": 5, "label_smoothing": 0.1, "clip_norm": 0.0,
    "max_tokens_per_sentence": 64, "nproc": 2, "log_every": 5, "valid_every": 10,
    "valid_bleu_sentences": 8, "checkpoint_every": 10, "seed": 3,
}
TINY_SPM = {"vocab_size": 300}
TINY_TRANSLATE = {"beam_size": 2, "batch_sentences": 4}


@pytest.fixture(scope="session")
def tiny_train_config() -> dict:
    """The ``train`` config the tiny pipeline ran with (a copy; see ``TINY_TRAIN``)."""
    return dict(TINY_TRAIN)


def multi30k_rows(data: Path, split: str, start: int, stop: int) -> list[dict]:
    """Rows of both directions (eng→deu and deu→eng, interleaved) from multi30k lines [start, stop)."""
    en = (data / "multi30k" / f"{split}.en").read_text(encoding="utf-8").splitlines()[start:stop]
    de = (data / "multi30k" / f"{split}.de").read_text(encoding="utf-8").splitlines()[start:stop]
    rows = []
    for i, (e, d) in enumerate(zip(en, de), start):
        rows.append({"src": e, "tgt": d, "src_lang": EN, "tgt_lang": DE, "origin": f"multi30k/{split}.en:{i}"})
        rows.append({"src": d, "tgt": e, "src_lang": DE, "tgt_lang": EN, "origin": f"multi30k/{split}.de:{i}"})
    return rows


@pytest.fixture(scope="session")
def tiny_corpora(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Corpora (both directions) from multi30k: train (300 pairs), valid (20), test (6)."""
    from mtforge.corpus import CorpusWriter

    root = tmp_path_factory.mktemp("tiny-corpora")
    parts = {"train": ("train", 0, 300), "valid": ("val", 0, 20), "test": ("test_2016_flickr", 0, 6)}
    out = {}
    for name, (split, start, stop) in parts.items():
        with CorpusWriter(root / name) as writer:
            writer.write(multi30k_rows(shared_data, split, start, stop))
        out[name] = writer.corpus.path
    return out


@pytest.fixture(scope="session")
def tiny_spm(tiny_corpora: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> str:
    """Output directory of the real spm stage on the tiny training corpus (300 pieces)."""
    from mtforge.stage import run_stage

    out = str(tmp_path_factory.mktemp("tiny-pipeline-spm") / "spm")
    run_stage("spm", TINY_SPM, out_dir=out, corpus=str(tiny_corpora["train"]))
    return out


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_corpora: dict[str, Path], tiny_spm: str,
                  tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Output directories of the real spm → train (torchrun, 2 ranks) → translate → evaluate
    stages on :func:`tiny_corpora`, keyed by stage name (plus ``corpus.<name>`` paths)."""
    from mtforge.stage import run_stage
    from mtforge.stages.spm import MODEL_FILE

    root = tmp_path_factory.mktemp("tiny-pipeline")
    dirs = {"spm": tiny_spm, **{name: str(root / name) for name in ("train", "translate", "evaluate")}}
    run_stage("train", TINY_TRAIN, out_dir=dirs["train"], corpus=str(tiny_corpora["train"]),
              vocab=str(Path(dirs["spm"]) / MODEL_FILE), valid=str(tiny_corpora["valid"]))
    with one_torch_thread():
        run_stage("translate", TINY_TRANSLATE, out_dir=dirs["translate"], model=dirs["train"], vocab=dirs["spm"],
                  corpus=str(tiny_corpora["test"]))
    with one_torch_thread():
        run_stage("evaluate", {"testsets": f"tiny={tiny_corpora['test']}", **TINY_TRANSLATE},
                  out_dir=dirs["evaluate"], model=dirs["train"], vocab=dirs["spm"])
    return {**dirs, **{f"corpus.{k}": str(v) for k, v in tiny_corpora.items()}}


#: The toy task: word-by-word "translation" of English nouns into German ones.
TOY_WORDS = dict(zip("cat dog bird fish house tree car sun moon star".split(),
                     "Katze Hund Vogel Fisch Haus Baum Auto Sonne Mond Stern".split()))


def toy_translation(sentence: str) -> str:
    return " ".join(TOY_WORDS[w] for w in sentence.split())


def toy_sentences(n: int, seed: int, max_words: int) -> list[str]:
    """``n`` toy sentences of 1..``max_words`` distinct source words."""
    import random

    rng = random.Random(seed)
    words = sorted(TOY_WORDS)
    return [" ".join(rng.sample(words, rng.randint(1, max_words))) for _ in range(n)]


#: Sentences the toy model is checked on (greedily) before any test sees it; tests draw theirs
#: from these.
TOY_CHECK = toy_sentences(120, seed=99, max_words=4)


@pytest.fixture(scope="session")
def toy_model(tmp_path_factory: pytest.TempPathFactory):
    """A one-layer d_model-64 model trained in-process on the toy task until greedy decoding
    (plain argmax, independent of the beam search under test) gets every sentence of
    ``TOY_CHECK`` right; saved as a checkpoint the way the trainer saves one.

    Returns a namespace: ``vocab``, ``model`` (in eval mode), ``ckpt`` (checkpoint dir),
    ``route`` (the plan's eng→deu task), ``tag_id`` of the target language, ``sentences`` (the
    checked ones), ``words`` and ``translation(sentence)``, the expected output.
    """
    from types import SimpleNamespace

    import torch

    from mtforge.model.transformer import ModelConfig, ModularTransformer
    from mtforge.train import checkpoint
    from mtforge.train.data import Bitext, BatchStream, pad
    from mtforge.train.plan import load_meta_config, preset, resolve_plan
    from mtforge.train.trainer import inverse_sqrt
    from mtforge.train.validate import task_loss
    from mtforge.vocab import EOS, Vocab, train_vocab

    root = tmp_path_factory.mktemp("toy")
    src = toy_sentences(2000, seed=0, max_words=5)
    tgt = [toy_translation(s) for s in src]
    # A word-level vocabulary: 4 special ids, the two tags (and their "▁"-prefixed twins), 20 words.
    vocab = Vocab(train_vocab(iter(src + tgt), root / "spm", vocab_size=28, languages=[EN, DE], model_type="word"))
    meta = load_meta_config({**preset("independent", encoder_layers=1, decoder_layers=1),
                             "directions": [f"{EN}-{DE}"]})
    plan = resolve_plan(meta, sizes={(EN, DE): len(src)})
    task = plan.task(f"{EN}-{DE}")
    tag = vocab.tag_id(DE)
    cfg = ModelConfig(vocab_size=len(vocab), d_model=64, n_heads=4, ffn_dim=128, dropout=0.0, max_positions=64)
    check_src = pad(vocab.encode(TOY_CHECK))
    expected = [vocab.encode([toy_translation(s)])[0] + [EOS] for s in TOY_CHECK]

    @torch.no_grad()
    def greedy_errors() -> int:
        model.eval()
        memory, mask = model.encode(task, check_src)
        prefix = torch.full((len(TOY_CHECK), 1), tag)
        for _ in range(max(map(len, expected))):
            prefix = torch.cat([prefix, model.decode(task, prefix, memory, mask)[:, -1].argmax(-1, keepdim=True)], 1)
        model.train()
        return sum(prefix[i, 1 : len(e) + 1].tolist() != e for i, e in enumerate(expected))

    with one_torch_thread():
        torch.manual_seed(1)
        model = ModularTransformer(cfg, plan.module_layers())
        data = Bitext(vocab.encode(src), [t + [EOS] for t in vocab.encode(tgt)])
        stream = BatchStream(data, tag, batch_tokens=600, seed=1)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3, betas=(0.9, 0.98))
        model.train()
        step, errors = 0, len(TOY_CHECK)
        while errors and step < 1500:
            for _ in range(100):
                step += 1
                for group in opt.param_groups:
                    group["lr"] = 3e-3 * inverse_sqrt(step, 30)
                batch = next(stream)
                opt.zero_grad()
                (task_loss(model, task, batch, 0.0) / batch.target_tokens).backward()
                opt.step()
            if step >= 600:  # well past the first error-free step: a confident model, as beam tests need
                errors = greedy_errors()
        assert not errors, f"toy model still gets {errors}/{len(TOY_CHECK)} check sentences wrong after {step} steps"
    model.eval()
    ckpt = root / "checkpoint"
    for module, unit in model.named_units().items():
        checkpoint.save_module(ckpt, step, module, unit, None)
    checkpoint.write_frame(ckpt, {"step": step, "model": cfg.model_dump(), "plan": plan.model_dump(mode="json"),
                                  "plan_fingerprint": plan.fingerprint()})
    return SimpleNamespace(vocab=vocab, model=model, ckpt=ckpt, route=task, tag_id=tag,
                           sentences=list(TOY_CHECK), words=sorted(TOY_WORDS), translation=toy_translation,
                           steps=step)


def run_local_pipeline(name: str, home: Path, sets: list[str]):
    """Run pipeline ``name`` with the local KFP runner in state folder ``home`` (its own SQLite
    MLflow store), with ``--set`` overrides ``sets``; returns the runner's ``RunReport``."""
    from pipelines.runner import resolve_params, run_pipeline

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MTFORGE_HOME", str(home))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        return run_pipeline(name, resolve_params(name, None, sets), home, echo=lambda line: None)
