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
