"""Training data: token-budget batches, resumable batch streams, batch tensors, and loading the
bitexts of a plan's tasks (from an mtforge corpus or from a corpus template's files)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from mtforge.errors import CorpusFormatError
from mtforge.model.transformer import PAD_ID
from mtforge.train.data import Bitext, BatchStream, batch_indices, load_bitexts, make_batch, pad, source_ids
from mtforge.train.plan import Plan, TaskPlan, load_meta_config, preset, resolve_plan
from mtforge.vocab import EOS, Vocab

TAG = 7


def random_lengths(n: int, seed: int, low: int = 1, high: int = 60) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(low, high) for _ in range(n)]


@pytest.mark.parametrize("budget", [64, 200, 1000])
def test_batches_respect_the_token_budget(budget: int) -> None:
    lengths = random_lengths(3000, seed=budget)
    batches = batch_indices(lengths, budget, random.Random(0))
    for batch in batches:
        padded = max(lengths[i] for i in batch) * len(batch)
        assert padded <= budget or len(batch) == 1, (batch, padded)
    # the budget is used, not just respected: batches are not needlessly tiny
    mean_fill = sum(max(lengths[i] for i in b) * len(b) for b in batches) / len(batches)
    assert mean_fill > budget / 2


def test_an_example_longer_than_the_budget_gets_a_batch_of_its_own() -> None:
    lengths = [5, 5, 500, 5, 5, 300]
    batches = batch_indices(lengths, 100, random.Random(1))
    assert [2] in batches and [5] in batches
    assert sorted(i for b in batches for i in b) == list(range(6))


def test_every_example_is_in_exactly_one_batch_per_epoch() -> None:
    lengths = random_lengths(2500, seed=1)
    batches = batch_indices(lengths, 300, random.Random(5))
    counts = Counter(i for b in batches for i in b)
    assert sorted(counts) == list(range(len(lengths)))
    assert set(counts.values()) == {1}


def test_batches_are_deterministic_for_a_seed_and_shuffled_across_seeds() -> None:
    lengths = random_lengths(500, seed=2)
    first = batch_indices(lengths, 200, random.Random(42))
    assert batch_indices(lengths, 200, random.Random(42)) == first
    assert batch_indices(lengths, 200, random.Random(43)) != first


def test_batches_group_similar_lengths() -> None:
    lengths = random_lengths(2000, seed=3)
    batches = batch_indices(lengths, 400, random.Random(0))
    waste = sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)
    assert waste < 0.1 * sum(lengths)  # length-sorted pools keep padding low


def make_bitext(n: int, seed: int = 0) -> Bitext:
    rng = random.Random(seed)
    src = [[rng.randint(10, 99) for _ in range(rng.randint(1, 12))] for _ in range(n)]
    tgt = [[rng.randint(10, 99) for _ in range(rng.randint(1, 12))] + [EOS] for _ in range(n)]
    return Bitext(src, tgt)


def batch_key(batch) -> tuple:
    return (batch.src.tolist(), batch.prefix.tolist(), batch.labels.tolist())


def test_stream_restore_reproduces_the_next_batches_across_epochs() -> None:
    data = make_bitext(120)
    stream = BatchStream(data, TAG, batch_tokens=100, seed=9)
    batches_per_epoch = len(stream._batches)
    for _ in range(batches_per_epoch + 3):  # into the second epoch
        next(stream)
    state = stream.state()
    assert state["epoch"] == 1 and state["index"] == 3
    expected = [batch_key(next(stream)) for _ in range(batches_per_epoch)]  # crosses into epoch 2

    fresh = BatchStream(data, TAG, batch_tokens=100, seed=9)
    fresh.restore(dict(state))
    assert [batch_key(next(fresh)) for _ in range(batches_per_epoch)] == expected


def test_stream_covers_its_shard_once_per_epoch_and_reshuffles_each_epoch() -> None:
    data = make_bitext(90)
    streams = [BatchStream(data, TAG, batch_tokens=80, seed=4, shard=s, num_shards=3) for s in range(3)]
    seen_per_shard = []
    for stream in streams:
        order = [i for b in stream._batches for i in b]
        seen_per_shard.append(set(order))
        assert sorted(order) == list(range(stream.examples[0], 90, 3))
        first_epoch = [list(b) for b in stream._batches]
        for _ in range(len(first_epoch)):
            next(stream)
        next(stream)  # starts epoch 1
        assert stream.epoch == 1 and stream._batches != first_epoch
    assert set.union(*seen_per_shard) == set(range(90))  # shards partition the data
    assert sum(map(len, seen_per_shard)) == 90


def test_stream_batches_hold_the_examples_their_indices_name() -> None:
    data = make_bitext(40)
    stream = BatchStream(data, TAG, batch_tokens=60, seed=1)
    ids = stream._batches[0]
    batch = next(stream)
    assert batch_key(batch) == batch_key(make_batch([data.src[i] for i in ids], [data.tgt[i] for i in ids], TAG))


def test_an_empty_shard_is_an_error() -> None:
    with pytest.raises(ValueError, match="no training examples"):
        BatchStream(make_bitext(2), TAG, 100, seed=0, shard=2, num_shards=3)


def test_make_batch_prefix_starts_with_the_tag_and_labels_end_with_eos() -> None:
    src = [[11, 12, 13], [14]]
    tgt = [[21, 22, EOS], [23, 24, 25, 26, EOS]]
    batch = make_batch(src, tgt, TAG)
    assert batch.src.tolist() == [[11, 12, 13], [14, PAD_ID, PAD_ID]]
    assert batch.prefix.tolist() == [[TAG, 21, 22, PAD_ID, PAD_ID], [TAG, 23, 24, 25, 26]]
    assert batch.labels.tolist() == [[21, 22, EOS, PAD_ID, PAD_ID], [23, 24, 25, 26, EOS]]
    assert batch.target_tokens == 8


def test_pad_right_pads_with_pad_id() -> None:
    assert pad([[5], [6, 7, 8]]).tolist() == [[5, PAD_ID, PAD_ID], [6, 7, 8]]


EN, DE = "eng_Latn", "deu_Latn"
#: multi30k's first pair (the tiny corpora start with it)
FIRST_EN = "Two young, White males are outside near many bushes."
FIRST_DE = "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche."


def plan_of(sharing: str, directions: list[str], **fields) -> Plan:
    return resolve_plan(load_meta_config({**preset(sharing, encoder_layers=1, decoder_layers=1),
                                          "directions": directions, **fields}))


@pytest.fixture(scope="module")
def vocab(tiny_spm: str) -> Vocab:
    return Vocab(Path(tiny_spm) / "spm.model")


def test_load_bitexts_keeps_only_task_directions_truncates_and_appends_eos(
        tiny_corpora: dict[str, Path], vocab: Vocab) -> None:
    tasks = plan_of("independent", [f"{DE}-{EN}"]).tasks
    bitexts = load_bitexts(str(tiny_corpora["train"]), vocab, tasks, max_tokens=8)
    assert list(bitexts) == [f"{DE}-{EN}"]
    data = bitexts[f"{DE}-{EN}"]
    assert len(data) == 300
    assert all(1 <= len(s) <= 8 for s in data.src)
    assert all(len(t) <= 8 and t[-1] == EOS and EOS not in t[:-1] for t in data.tgt)
    # deu→eng rows: the source is German, the reference text is the English side
    assert data.src[0] == vocab.encode([FIRST_DE])[0][:8]
    assert data.references[0] == FIRST_EN


def test_a_planned_direction_missing_from_the_corpus_loads_empty(tiny_corpora: dict[str, Path], vocab: Vocab) -> None:
    plan = plan_of("independent", ["en-de", "fr-en"])
    bitexts = load_bitexts(str(tiny_corpora["train"]), vocab, plan.tasks, max_tokens=16)
    assert len(bitexts[f"{EN}-{DE}"]) == 300
    assert len(bitexts[f"fra_Latn-{EN}"]) == 0  # the trainer turns this into a clear error


def test_a_shared_decoder_gets_the_target_tag_prefixed_to_the_source(vocab: Vocab) -> None:
    """MAMMOTH Fig. 2c: a decoder shared by several targets learns which to produce from the tag."""
    shared = plan_of("full", ["en-de", "de-en"]).task("en-de")
    own = plan_of("independent", ["en-de", "de-en"]).task("en-de")
    assert shared.lang_prefix and not own.lang_prefix
    plain = vocab.encode([FIRST_EN])[0]
    assert len(plain) > 6
    assert source_ids(vocab, own, [FIRST_EN], max_tokens=6) == [plain[:6]]
    # the tag counts against the length limit
    assert source_ids(vocab, shared, [FIRST_EN], max_tokens=6) == [[vocab.tag_id(DE)] + plain[:5]]


def template_task(tmp_path: Path, src_lines: list[str], tgt_lines: list[str]) -> TaskPlan:
    """The en→de task of a plan whose corpus template points at two files written here."""
    (tmp_path / "train.en").write_text("".join(line + "\n" for line in src_lines), encoding="utf-8")
    (tmp_path / "train.de").write_text("".join(line + "\n" for line in tgt_lines), encoding="utf-8")
    plan = resolve_plan(load_meta_config({**preset("independent", encoder_layers=1, decoder_layers=1),
                                          "directions": ["en-de"],
                                          "corpus": {"src": "train.{src_lang}", "tgt": "train.{tgt_lang}"}}),
                        base_dir=tmp_path)
    return plan.task("en-de")


def test_load_bitexts_reads_a_tasks_template_files(tmp_path: Path, tiny_corpora: dict[str, Path],
                                                   vocab: Vocab) -> None:
    task = template_task(tmp_path, [FIRST_EN, "A dog runs."], [FIRST_DE, "Ein Hund rennt."])
    assert task.src_path == str(tmp_path / "train.en") and task.size == 2
    # the files win over the corpus (which has 300 en→de rows)
    data = load_bitexts(str(tiny_corpora["train"]), vocab, [task], max_tokens=64)[f"{EN}-{DE}"]
    assert data.src == vocab.encode([FIRST_EN, "A dog runs."])
    assert data.tgt == [t + [EOS] for t in vocab.encode([FIRST_DE, "Ein Hund rennt."])]
    assert data.references == [FIRST_DE, "Ein Hund rennt."]
    assert load_bitexts(None, vocab, [task], max_tokens=64)[f"{EN}-{DE}"].src == data.src


def test_template_files_of_different_lengths_are_a_corpus_format_error(tmp_path: Path, vocab: Vocab) -> None:
    task = template_task(tmp_path, ["a", "b"], ["x", "y"])
    (tmp_path / "train.de").write_text("x\n", encoding="utf-8")  # changed after planning
    with pytest.raises(CorpusFormatError, match=r"train\.en has 2 lines but .*train\.de has 1"):
        load_bitexts(None, vocab, [task], max_tokens=64)
