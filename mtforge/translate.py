"""Translate with a trained checkpoint, loading only the modules one direction needs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.model.beam import beam_search
from mtforge.model.transformer import ModelConfig, ModularTransformer
from mtforge.train import checkpoint
from mtforge.train.data import pad
from mtforge.train.tasks import Task
from mtforge.vocab import Vocab


class Translator:
    """One direction of a checkpoint: its encoder, decoder and the shared embeddings only."""

    def __init__(self, ckpt_dir: str | Path, vocab: Vocab, src_lang: str, tgt_lang: str) -> None:
        ckpt_dir = Path(ckpt_dir)
        frame = checkpoint.read_frame(ckpt_dir)
        if frame is None:
            raise InputNotFoundError(f"no checkpoint (missing {checkpoint.FRAME}) in {ckpt_dir}")
        tasks = [Task(**t) for t in frame["tasks"]]
        match = [t for t in tasks if (t.src_lang, t.tgt_lang) == (src_lang, tgt_lang)]
        if not match:
            raise ConfigError(f"checkpoint {ckpt_dir} has no direction {src_lang}-{tgt_lang}; "
                              f"it has {', '.join(t.name for t in tasks)}")
        self.task = match[0]
        self.vocab = vocab
        self.model = ModularTransformer(ModelConfig(**frame["model"]), [self.task.encoder], [self.task.decoder])
        for module, unit in self.model.named_units().items():
            checkpoint.load_module(ckpt_dir, module, unit)
        self.model.eval()
        self.tag_id = vocab.tag_id(tgt_lang)

    @property
    def loaded_modules(self) -> list[str]:
        return sorted(self.model.named_units())

    def translate(self, sentences: list[str], *, beam_size: int = 4, batch_sentences: int = 64,
                  max_tokens: int = 256, progress: Callable[[int], None] | None = None) -> list[str]:
        """Translate in length-sorted batches; output order matches input order."""
        ids = [s[:max_tokens] for s in self.vocab.encode(sentences)]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out: list[str] = [""] * len(ids)
        for start in range(0, len(order), batch_sentences):
            chunk = order[start : start + batch_sentences]
            src = pad([ids[i] or [self.vocab.sp.unk_id()] for i in chunk])
            hyps = beam_search(self.model, self.task.encoder, self.task.decoder, src, self.tag_id,
                               beam_size=beam_size)
            for i, text in zip(chunk, self.vocab.decode(hyps)):
                out[i] = text
            if progress:
                progress(len(chunk))
        return out

