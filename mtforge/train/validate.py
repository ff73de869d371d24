"""Validation during training: per-token loss and, on a sample, greedy BLEU/chrF++."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from mtforge.evaluation.metrics import score_texts
from mtforge.model.beam import beam_search
from mtforge.model.transformer import PAD_ID, ModularTransformer
from mtforge.train.data import Batch, Bitext, make_batch, pad
from mtforge.train.plan import TaskPlan
from mtforge.vocab import Vocab


def task_loss(model: ModularTransformer, task: TaskPlan, batch: Batch, smoothing: float) -> torch.Tensor:
    """Summed token cross-entropy of one batch."""
    logits = model(task, batch.src, batch.prefix)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), batch.labels.reshape(-1),
                           ignore_index=PAD_ID, label_smoothing=smoothing, reduction="sum")


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def validation_loss(model: ModularTransformer, task: TaskPlan, data: Bitext, tag_id: int,
                    batch_tokens: int) -> float:
    """Per-token cross-entropy (no smoothing) over a whole validation bitext."""
    total, tokens = 0.0, 0
    order = sorted(range(len(data)), key=lambda i: len(data.src[i]) + len(data.tgt[i]))
    step = max(1, batch_tokens // 64)
    for start in range(0, len(order), step):
        ids = order[start : start + step]
        batch = make_batch([data.src[i] for i in ids], [data.tgt[i] for i in ids], tag_id).to(_device(model))
        total += float(task_loss(model, task, batch, 0.0))
        tokens += batch.target_tokens
    return total / max(tokens, 1)


@torch.no_grad()
def validation_scores(model: ModularTransformer, task: TaskPlan, data: Bitext, vocab: Vocab,
                      sentences: int, batch_sentences: int = 64) -> dict[str, float]:
    """BLEU and chrF++ of greedy translations of the first ``sentences`` validation pairs."""
    n = min(sentences, len(data))
    hyps: list[list[int]] = []
    for start in range(0, n, batch_sentences):
        src = pad(data.src[start : min(n, start + batch_sentences)]).to(_device(model))
        hyps += beam_search(model, task, src, vocab.tag_id(task.tgt_lang), beam_size=1)
    with warnings.catch_warnings():  # an early model's empty outputs are expected, not news
        warnings.simplefilter("ignore")
        scores = score_texts(vocab.decode(hyps), data.references[:n], testset="valid", direction=task.name,
                             metrics=("bleu", "chrf"))
    return {s.metric: s.value for s in scores}


def validate(model: ModularTransformer, task: TaskPlan, data: Bitext, vocab: Vocab, batch_tokens: int,
             bleu_sentences: int) -> dict[str, float]:
    """``valid_loss`` and (when ``bleu_sentences`` > 0) ``valid_bleu``/``valid_chrf`` of one task."""
    was_training = model.training
    model.eval()
    try:
        out = {"valid_loss": validation_loss(model, task, data, vocab.tag_id(task.tgt_lang), batch_tokens)}
        if bleu_sentences > 0:
            out.update({f"valid_{k}": v for k, v in
                        validation_scores(model, task, data, vocab, bleu_sentences).items()})
        return out
    finally:
        model.train(was_training)
