"""Training data: corpus rows → token ids per task → token-budget batches."""

from __future__ import annotations

import gzip
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from mtforge.corpus import Corpus
from mtforge.errors import CorpusFormatError
from mtforge.model.transformer import PAD_ID
from mtforge.train.plan import TaskPlan
from mtforge.vocab import EOS, Vocab


@dataclass
class Bitext:
    """Token ids of one task's sentence pairs (targets end with EOS) and the target texts."""

    src: list[list[int]]
    tgt: list[list[int]]
    references: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.src)


def source_ids(vocab: Vocab, task: TaskPlan, sentences: list[str], max_tokens: int) -> list[list[int]]:
    """Encoded sources of ``task``, truncated to ``max_tokens``; with the task's language
    prefix (Figure 2c of MAMMOTH) the target-language tag comes first."""
    ids = [s[:max_tokens] for s in vocab.encode(sentences)]
    if task.lang_prefix:
        tag = vocab.tag_id(task.tgt_lang)
        ids = [[tag] + s[: max_tokens - 1] for s in ids]
    return ids


def _read_pair(task: TaskPlan) -> tuple[list[str], list[str]]:
    """The sentence pairs of a task whose data is a pair of text files (a corpus template)."""
    assert task.src_path is not None and task.tgt_path is not None
    sides = []
    for path in (task.src_path, task.tgt_path):
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            sides.append([line.rstrip("\n").rstrip("\r") for line in f])
    if len(sides[0]) != len(sides[1]):
        raise CorpusFormatError(f"task {task.name}: {task.src_path} has {len(sides[0])} lines but "
                                f"{task.tgt_path} has {len(sides[1])}")
    return sides[0], sides[1]


def _corpus_texts(corpus_path: str, names: set[str]) -> dict[str, tuple[list[str], list[str]]]:
    """Source and target sentences of each direction in ``names`` from an mtforge corpus."""
    texts: dict[str, tuple[list[str], list[str]]] = {name: ([], []) for name in names}
    for batch in Corpus.open(corpus_path).iter_batches():
        cols = batch.to_pydict()
        for src, tgt, sl, tl in zip(cols["src"], cols["tgt"], cols["src_lang"], cols["tgt_lang"]):
            pair = texts.get(f"{sl}-{tl}")
            if pair is not None:
                pair[0].append(src)
                pair[1].append(tgt)
    return texts


def load_bitexts(corpus_path: str | None, vocab: Vocab, tasks: list[TaskPlan], max_tokens: int) -> dict[str, Bitext]:
    """Encode each task's pairs: from its template files when the plan names them, else the
    rows of its direction in the corpus at ``corpus_path`` (other directions are ignored)."""
    from_corpus = {t.name for t in tasks if t.src_path is None}
    texts = _corpus_texts(corpus_path, from_corpus) if from_corpus and corpus_path else {}
    out = {}
    for task in tasks:
        src, tgt = _read_pair(task) if task.src_path is not None else texts.get(task.name, ([], []))
        tgt_ids = [t[: max_tokens - 1] + [EOS] for t in vocab.encode(tgt)]
        out[task.name] = Bitext(source_ids(vocab, task, src, max_tokens), tgt_ids, tgt)
    return out


@dataclass
class Batch:
    """Padded tensors of one batch: source, decoder input (tag + target) and labels."""

    src: torch.Tensor
    prefix: torch.Tensor
    labels: torch.Tensor

    @property
    def target_tokens(self) -> int:
        return int(self.labels.ne(PAD_ID).sum())

    def to(self, device: torch.device) -> "Batch":
        return Batch(self.src.to(device), self.prefix.to(device), self.labels.to(device))


def pad(seqs: list[list[int]]) -> torch.Tensor:
    """Right-pad with PAD_ID into a LongTensor."""
    out = torch.full((len(seqs), max(map(len, seqs))), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out


def make_batch(src: list[list[int]], tgt: list[list[int]], tag_id: int) -> Batch:
    """Decoder input is the target-language tag followed by the target without its EOS."""
    return Batch(pad(src), pad([[tag_id] + t[:-1] for t in tgt]), pad(tgt))


def batch_indices(lengths: list[int], batch_tokens: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar-length examples whose padded size stays within ``batch_tokens``."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    pool = 100 * max(1, batch_tokens // 32)
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lengths.__getitem__)
        current: list[int] = []
        longest = 0
        for i in chunk:
            longest_next = max(longest, lengths[i])
            if current and longest_next * (len(current) + 1) > batch_tokens:
                batches.append(current)
                current, longest_next = [], lengths[i]
            current.append(i)
            longest = longest_next
        if current:
            batches.append(current)
    rng.shuffle(batches)
    return batches


class BatchStream:
    """Endless batches of one task's shard; its position (epoch, index) can be saved and restored."""

    def __init__(self, data: Bitext, tag_id: int, batch_tokens: int, seed: int, shard: int = 0,
                 num_shards: int = 1) -> None:
        self.data, self.tag_id, self.batch_tokens = data, tag_id, batch_tokens
        self.examples = list(range(shard, len(data), num_shards))
        if not self.examples:
            raise ValueError("a task shard has no training examples")
        self.seed = seed
        self.epoch, self.index = 0, 0
        self._batches = self._epoch_batches()

    def _epoch_batches(self) -> list[list[int]]:
        lengths = [len(self.data.src[i]) + len(self.data.tgt[i]) for i in self.examples]
        batches = batch_indices(lengths, self.batch_tokens, random.Random(self.seed * 1_000_003 + self.epoch))
        return [[self.examples[j] for j in b] for b in batches]

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index}

    def restore(self, state: dict[str, int]) -> None:
        self.epoch, self.index = state["epoch"], state["index"]
        self._batches = self._epoch_batches()

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        if self.index >= len(self._batches):
            self.epoch, self.index = self.epoch + 1, 0
            self._batches = self._epoch_batches()
        ids = self._batches[self.index]
        self.index += 1
        return make_batch([self.data.src[i] for i in ids], [self.data.tgt[i] for i in ids], self.tag_id)
