"""Batched beam search for :class:`~mtforge.model.transformer.ModularTransformer`."""

from __future__ import annotations

import torch

from mtforge.model.incremental import DecoderState, FullPrefixState
from mtforge.model.transformer import PAD_ID, ModularTransformer, Route
from mtforge.vocab import EOS

#: Default output length limit: ``MAX_LEN_A * source length + MAX_LEN_B`` tokens.
MAX_LEN_A, MAX_LEN_B = 1.5, 10


@torch.no_grad()
def beam_search(
    model: ModularTransformer,
    route: Route,
    src: torch.Tensor,
    tag_id: int,
    *,
    beam_size: int = 4,
    max_len_a: float = MAX_LEN_A,
    max_len_b: int = MAX_LEN_B,
    length_penalty: float = 1.0,
    decoder: type[DecoderState] | type[FullPrefixState] = DecoderState,
) -> list[list[int]]:
    """Best hypothesis (token ids without tag and EOS) for each row of ``src`` (B×S, PAD-padded).

    Hypotheses are ranked by log-probability divided by ``length ** length_penalty``; decoding
    of a sentence stops once it has ``beam_size`` finished hypotheses or reaches
    ``max_len_a * source_length + max_len_b`` tokens. ``decoder`` runs the decoder step by step:
    incremental with cached keys and values (default), or :class:`FullPrefixState`, the
    full-prefix reference.
    """
    model.eval()
    batch, k = src.size(0), beam_size
    src_lens = src.ne(PAD_ID).sum(1).tolist()
    limits = [int(max_len_a * n + max_len_b) for n in src_lens]
    memory, pad = model.encode(route, src)
    state = decoder(model, route, memory.repeat_interleave(k, 0), pad.repeat_interleave(k, 0))
    seqs = torch.full((batch * k, 1), tag_id, dtype=torch.long, device=src.device)
    scores = torch.zeros(batch, k, device=src.device)
    scores[:, 1:] = float("-inf")  # all beams start identical: keep only the first
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]
    active = list(range(batch))  # sentences still decoding; their beams are rows of seqs
    for step in range(1, max(limits) + 1):
        logp = torch.log_softmax(state.step(seqs[:, -1]).float(), dim=-1)
        logp[:, PAD_ID] = float("-inf")
        vocab = logp.size(-1)
        cand = (scores.view(-1, 1) + logp).view(len(active), k * vocab)
        top_scores, top_idx = cand.topk(2 * k, dim=1)
        rows, new_scores, keep = [], [], []
        for i, b in enumerate(active):
            chosen = 0
            force_end = step >= limits[b]
            for rank, (s, idx) in enumerate(zip(top_scores[i].tolist(), top_idx[i].tolist())):
                beam, tok = divmod(idx, vocab)
                if s == float("-inf"):
                    break
                prefix = seqs[i * k + beam, 1:].tolist()
                if tok == EOS or force_end:
                    if rank >= k:  # only an ending among the k best candidates is in the beam
                        continue
                    hyp = prefix if tok == EOS else prefix + [tok]
                    finished[b].append((s / max(len(hyp) + 1, 1) ** length_penalty, hyp))
                    if len(finished[b]) >= k:
                        break
                    continue
                rows.append((i * k + beam, tok))
                new_scores.append(s)
                chosen += 1
                if chosen == k:
                    break
            if len(finished[b]) < k and not force_end and chosen == k:
                keep.append(i)
            else:
                rows, new_scores = rows[: len(rows) - chosen], new_scores[: len(new_scores) - chosen]
        if not keep:
            break
        src_rows = torch.tensor([r for r, _ in rows], dtype=torch.long, device=src.device)
        toks = torch.tensor([t for _, t in rows], dtype=torch.long, device=src.device).unsqueeze(1)
        seqs = torch.cat([seqs[src_rows], toks], dim=1)
        state.select(src_rows)
        scores = torch.tensor(new_scores, device=src.device).view(len(keep), k)
        active = [active[i] for i in keep]
    return [max(hyps, key=lambda h: h[0])[1] if hyps else [] for hyps in finished]
