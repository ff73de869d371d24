"""Tiny models built locally (no download) for tests and benchmarks of the synthetic-data code.

* :func:`build_tiny_llama` — a random-weight Llama-architecture chat model, so that the
  generation backends (vLLM, transformers, an OpenAI-compatible server) can be exercised end
  to end on a CPU machine with no model hub: its answers are gibberish, but everything around
  the model — chat template, sampling, batching, parsing — is real. vLLM's CPU attention needs
  a head dimension of at least 32.
* :func:`teach_format` — a short fine-tune on (conversation, answer) examples;
  :func:`build_synth_llm` uses it to teach a tiny Llama to answer the synth stage's own prompts
  (:data:`TEACH_PROMPT`) with numbered paragraphs of half-remembered FLORES dev sentences.
* :func:`build_tiny_nllb` — a random-weight NLLB-style seq2seq model for back-translation.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mtforge.synth.prompts import ExamplePool

#: A ChatML-style template (the format of many instruction models). Stored in the tokenizer,
#: where every backend reads it from: nothing in mtforge knows a model's prompt format by name.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>"]


def build_tiny_llama(out_dir: str | Path, texts: Iterable[str], *, vocab_size: int = 2000, hidden_size: int = 64,
                     heads: int = 2, layers: int = 2, max_positions: int = 4096, seed: int = 0,
                     chat_template: str | None = CHAT_TEMPLATE) -> Path:
    """Train a byte-level BPE tokenizer on ``texts`` and save it with a random-weight
    ``LlamaForCausalLM`` (``hidden_size / heads`` ≥ 32 for vLLM's CPU attention) to ``out_dir``
    with ``save_pretrained``. ``chat_template=None`` leaves the template out (to test that
    error). Returns ``out_dir``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    if hidden_size // heads < 32:
        raise ValueError(f"head dimension {hidden_size // heads} < 32: vLLM's CPU attention needs at least 32")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="<unk>", bos_token="<s>", eos_token="<|im_end|>",
                                        pad_token="<pad>")
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    tokenizer.save_pretrained(out)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                         max_position_embeddings=max_positions, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         tie_word_embeddings=False, torch_dtype="float32")
    model = LlamaForCausalLM(config)
    model.generation_config.do_sample = True
    model.save_pretrained(out)
    return out


def _answer_example(tokenizer, messages: list[dict[str, str]], answer: str) -> tuple[list[int], list[int]]:
    """Input ids of prompt + answer + EOS and their labels: ``-100`` (no loss) on the prompt."""
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False).input_ids
    answer_ids = tokenizer(answer, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    return prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids


def _padded_batch(rows: list[tuple[list[int], list[int]]], pad_id: int):
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` tensors of ``rows``."""
    import torch

    width = max(len(ids) for ids, _ in rows)
    ids = torch.tensor([row + [pad_id] * (width - len(row)) for row, _ in rows])
    labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in rows])
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row, _ in rows])
    return ids, mask, labels


def _answer_loss(model, ids, mask, labels):
    """Mean next-token cross-entropy over the labelled (answer) tokens, with the output layer
    applied to those positions only: prompts are long, answers short, the vocabulary large."""
    import torch.nn.functional as F

    hidden = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state[:, :-1]
    targets = labels[:, 1:]
    predicting = targets != -100
    logits = model.get_output_embeddings()(hidden[predicting])
    return F.cross_entropy(logits, targets[predicting])


def teach_format(model_dir: str | Path, examples: list[tuple[list[dict[str, str]], str]], *, steps: int = 300,
                 lr: float = 3e-3, batch_size: int = 8, seed: int = 0) -> Path:
    """Fine-tune the causal LM in ``model_dir`` for ``steps`` AdamW steps (learning rate ``lr``
    decaying linearly to 0) on ``examples`` (``(messages, answer)`` pairs) and overwrite it
    there with ``save_pretrained``.

    Each example is the conversation rendered by the tokenizer's own chat template with the
    generation prompt, then the answer and EOS; the loss covers the answer tokens only, so the
    model learns what to answer, not what is asked. Batches of ``batch_size`` examples are drawn
    with ``seed``. Meant for :func:`build_tiny_llama` models (200 steps on prompts of ~400
    tokens: about 30 s on one CPU thread): after it, the random model answers prompts like
    those in ``examples`` — of their size too — in their answers' format.
    Returns ``model_dir``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    rows = [_answer_example(tokenizer, messages, answer) for messages, answer in examples]
    rng = random.Random(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    model.train()
    for _ in range(steps):
        ids, mask, labels = _padded_batch(rng.sample(rows, min(batch_size, len(rows))), tokenizer.pad_token_id)
        optimizer.zero_grad()
        _answer_loss(model, ids, mask, labels).backward()
        optimizer.step()
        schedule.step()
    model.eval()
    model.save_pretrained(path)
    return path


#: The ``PromptConfig`` settings of the prompts :func:`build_synth_llm` teaches. The taught
#: model learns the prompts' size too: prompts with more examples get answers that mostly do
#: not parse, so whatever wants parseable answers from it builds its prompts with these.
TEACH_PROMPT = {"paragraphs_per_prompt": 2, "example_paragraphs": 1, "example_sentences": 1}
#: Topics of the teaching prompts.
TEACH_TOPICS = ["cats", "the weather", "football", "cooking", "music", "rivers", "history", "trains", "farming",
                "the sea", "mountains", "schools"]


def synth_prompts(pool: ExamplePool, lang: str, size: int, *, topics: list[str] = TEACH_TOPICS,
                  seed: int = 0) -> list[list[dict[str, str]]]:
    """``size`` prompts for ``lang`` as the synth stage builds them, with :data:`TEACH_PROMPT`."""
    from mtforge.synth.prompts import PromptConfig, batch_prompts

    return batch_prompts(topics, lang, pool, PromptConfig(**TEACH_PROMPT), seed=seed, batch=0, size=size)[1]


def format_examples(pool: ExamplePool, languages: list[str], *, per_language: int = 36, sentence_pool: int = 40,
                    seed: int = 0) -> list[tuple[list[dict[str, str]], str]]:
    """Teaching examples: :func:`synth_prompts` for each of ``languages``, each answered with
    two numbered paragraphs of 1–2 of the first ``sentence_pool`` sentences of the language in
    ``pool`` — few enough that a tiny model half remembers them and keeps to the format."""
    rng = random.Random(seed)
    examples = []
    for lang in languages:
        sentences = pool.require(lang, sentence_pool)[:sentence_pool]
        for prompt in synth_prompts(pool, lang, per_language, seed=seed):
            paragraphs = [" ".join(rng.sample(sentences, rng.randint(1, 2))) for _ in range(2)]
            examples.append((prompt, "\n".join(f"{i}. {p}" for i, p in enumerate(paragraphs, 1))))
    return examples


def build_synth_llm(out_dir: str | Path, pool: ExamplePool, languages: list[str], *, steps: int = 200,
                    seed: int = 0) -> Path:
    """A tiny Llama (:func:`build_tiny_llama`, vocabulary trained on ``pool``'s sentences of
    ``languages`` and of the prompts' example languages) taught by :func:`teach_format` on
    :func:`format_examples` to answer :data:`TEACH_PROMPT` prompts for ``languages``: with
    200 steps about a third of its answers at temperature 0.8 parse as two numbered paragraphs,
    all in the asked language. Saved in ``out_dir``, which is returned."""
    from mtforge.synth.prompts import PromptConfig

    text_languages = dict.fromkeys([*PromptConfig().example_languages, *languages])
    build_tiny_llama(out_dir, [s for lang in text_languages for s in pool.require(lang, 1)], seed=seed)
    return teach_format(out_dir, format_examples(pool, languages, seed=seed), steps=steps, seed=seed)


def build_tiny_nllb(out_dir: str | Path, texts: Iterable[str], languages: list[str], *, vocab_size: int = 1000,
                    d_model: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """Save a random-weight NLLB-style seq2seq model (``M2M100ForConditionalGeneration``) and its
    ``NllbTokenizer`` to ``out_dir`` with ``save_pretrained``; returns ``out_dir``.

    The tokenizer's BPE vocabulary is a SentencePiece model trained on ``texts`` with fairseq's
    special ids (``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3), followed by one token per code
    of ``languages`` (FLORES-200 codes, e.g. ``eng_Latn``) as NLLB's tokenizer has them: a
    source is ``[src_lang] tokens </s>`` and decoding starts from ``</s>`` then the forced
    target-language token. The weights are random (outputs are gibberish, the mechanics real),
    drawn with a standard deviation of 0.5 rather than the usual 0.02, with which a random model
    says the same thing whatever it is given: here different inputs get different outputs.
    """
    import io

    import sentencepiece as spm
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer
    from transformers.tokenization_utils_base import generate_merges

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_writer=model, vocab_size=vocab_size,
                                   model_type="bpe", character_coverage=1.0, bos_id=0, pad_id=1, eos_id=2, unk_id=3,
                                   num_threads=1, minloglevel=2)
    pieces = spm.SentencePieceProcessor(model_proto=model.getvalue())
    vocab = {pieces.id_to_piece(i): i for i in range(pieces.get_piece_size())}
    # NllbTokenizer is tokenizers-backed: it takes the SentencePiece vocabulary and BPE merges.
    tokenizer = NllbTokenizer(vocab=vocab, merges=generate_merges(vocab), extra_special_tokens=list(languages),
                              src_lang=languages[0])
    tokenizer.save_pretrained(out)
    torch.manual_seed(seed)
    config = M2M100Config(vocab_size=len(tokenizer), d_model=d_model, encoder_layers=layers, decoder_layers=layers,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=2 * d_model,
                          decoder_ffn_dim=2 * d_model, max_position_embeddings=256, dropout=0.0, init_std=0.5,
                          pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.eos_token_id)
    M2M100ForConditionalGeneration(config).save_pretrained(out)
    return out
