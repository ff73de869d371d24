"""Translate with a trained checkpoint, loading only the modules one direction needs."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from mtforge.model.beam import beam_search
from mtforge.model.transformer import ModelConfig, ModularTransformer
from mtforge.train import checkpoint
from mtforge.train.data import pad, source_ids
from mtforge.train.plan import Plan
from mtforge.vocab import Vocab


class ZeroShotWarning(UserWarning):
    """A direction that was not trained is translated by combining trained modules."""


class Translator:
    """One direction of a checkpoint: the embeddings, encoder and decoder stacks of that
    direction only. A direction the plan did not train is composed from its source-side and
    target-side modules (zero-shot) with a :class:`ZeroShotWarning`."""

    def __init__(self, ckpt_dir: str | Path, vocab: Vocab, src_lang: str, tgt_lang: str) -> None:
        ckpt_dir = Path(ckpt_dir)
        frame = checkpoint.require_frame(ckpt_dir)
        plan = Plan.model_validate(frame["plan"])
        self.task, self.zero_shot = plan.direction(src_lang, tgt_lang)
        if self.zero_shot:
            warnings.warn(f"{src_lang}-{tgt_lang} was not trained (checkpoint {ckpt_dir}): translating zero-shot "
                          f"with {', '.join(self.task.modules)}", ZeroShotWarning, stacklevel=2)
        self.vocab = vocab
        layers = plan.module_layers()
        self.model = ModularTransformer(ModelConfig(**frame["model"]), {m: layers[m] for m in self.task.modules})
        for module, unit in self.model.named_units().items():
            checkpoint.load_module(ckpt_dir, module, unit)
        self.model.eval()
        self.tag_id = vocab.tag_id(tgt_lang)

    @property
    def loaded_modules(self) -> list[str]:
        return sorted(self.model.named_units())

    @property
    def parameters(self) -> int:
        """Parameters loaded for this direction."""
        return sum(p.numel() for p in self.model.parameters())

    def translate(self, sentences: list[str], *, beam_size: int = 4, batch_sentences: int = 64,
                  max_tokens: int = 256, progress: Callable[[int], None] | None = None) -> list[str]:
        """Translate in length-sorted batches; output order matches input order."""
        ids = source_ids(self.vocab, self.task, sentences, max_tokens)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out: list[str] = [""] * len(ids)
        for start in range(0, len(order), batch_sentences):
            chunk = order[start : start + batch_sentences]
            src = pad([ids[i] or [self.vocab.sp.unk_id()] for i in chunk])
            hyps = beam_search(self.model, self.task, src, self.tag_id, beam_size=beam_size)
            for i, text in zip(chunk, self.vocab.decode(hyps)):
                out[i] = text
            if progress:
                progress(len(chunk))
        return out
