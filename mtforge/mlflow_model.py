"""A trained mtforge checkpoint as an MLflow ``pyfunc`` model.

:class:`TranslationModel` translates the rows of a DataFrame with columns ``text``,
``src_lang`` and ``tgt_lang`` (language codes in any form :func:`mtforge.langcodes.normalise`
accepts: ``en``, ``eng``, ``eng_Latn``, ``English``). Rows may mix directions; the output
is a ``list[str]`` in input order. Each direction gets its own
:class:`~mtforge.translate.Translator`, created on first use and cached, which loads only
that direction's modules. A direction the checkpoint did not train is translated zero-shot
when its modules were trained (with a :class:`~mtforge.translate.ZeroShotWarning`);
otherwise it is a :class:`~mtforge.errors.ConfigError` naming the direction and the trained
ones.

:func:`log_translation_model` logs the model into an existing MLflow run (finished or not,
its status is left unchanged) with the checkpoint and the SentencePiece model as artifacts,
a signature, an input example, the ``mtforge`` package as code (so that
``mlflow.pyfunc.load_model`` works where mtforge is not installed) and pinned pip
requirements.

This module never imports KFP.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

import mtforge
from mtforge.errors import ConfigError, InputNotFoundError, UnknownLanguageError
from mtforge.langcodes import format_direction, normalise
from mtforge.registry import global_tracking_uri
from mtforge.tracking import tracking_uri
from mtforge.train import checkpoint
from mtforge.train.plan import Plan
from mtforge.translate import Translator
from mtforge.vocab import Vocab

#: Artifact keys of the pyfunc model.
CHECKPOINT_ARTIFACT = "checkpoint"
VOCAB_ARTIFACT = "vocab"
#: Input columns, in signature order.
INPUT_COLUMNS = ("text", "src_lang", "tgt_lang")
DEFAULT_BEAM_SIZE = 4

#: Distributions the model needs at inference (what ``mtforge.translate`` imports, directly or
#: through ``mtforge.corpus`` / ``mtforge.train.plan``, plus pyfunc's own pandas/cloudpickle).
REQUIREMENTS = ("torch", "sentencepiece", "pydantic", "PyYAML", "numpy", "scipy", "pyarrow", "minio",
                "pandas", "cloudpickle")

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", column) for column in INPUT_COLUMNS]),
    outputs=Schema([ColSpec("string")]),
    params=ParamSchema([ParamSpec("beam_size", "long", DEFAULT_BEAM_SIZE)]),
)


class TranslationModel(mlflow.pyfunc.PythonModel):
    """Translate DataFrame rows with an mtforge checkpoint (see the module docstring).

    Artifacts: ``checkpoint`` (the train stage's ``checkpoint/`` folder) and ``vocab`` (the
    SentencePiece ``.model`` file).
    """

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.load(context.artifacts[CHECKPOINT_ARTIFACT], context.artifacts[VOCAB_ARTIFACT])

    def load(self, ckpt_dir: str | Path, vocab_file: str | Path) -> None:
        """Point the model at a checkpoint folder and a SentencePiece model (no modules load yet)."""
        self.ckpt_dir = Path(ckpt_dir)
        vocab_file = Path(vocab_file)
        if not vocab_file.is_file():
            raise InputNotFoundError(f"SentencePiece model {vocab_file} does not exist")
        self.plan = Plan.model_validate(checkpoint.require_frame(self.ckpt_dir)["plan"])
        self.vocab = Vocab(vocab_file)
        self._translators: dict[tuple[str, str], Translator] = {}

    @property
    def trained_directions(self) -> list[str]:
        """The directions the checkpoint was trained for (``<src>-<tgt>`` FLORES codes)."""
        return [task.name for task in self.plan.tasks]

    def translator(self, src_lang: str, tgt_lang: str) -> Translator:
        """The cached :class:`~mtforge.translate.Translator` of one direction (created on first use).

        ConfigError naming the direction and the trained ones when the checkpoint cannot
        translate it (a language outside the plan, or a zero-shot direction whose modules were
        never trained).
        """
        key = (src_lang, tgt_lang)
        if key not in self._translators:
            try:
                self._translators[key] = Translator(self.ckpt_dir, self.vocab, src_lang, tgt_lang)
            except ConfigError as exc:
                raise ConfigError(
                    f"checkpoint {self.ckpt_dir} cannot translate {format_direction(src_lang, tgt_lang)}: {exc}. "
                    f"It was trained for {', '.join(self.trained_directions)} (languages "
                    f"{', '.join(self.plan.languages)}; a direction between those is translated zero-shot when the "
                    "modules it needs were trained)"
                ) from None
        return self._translators[key]

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> list[str]:
        """Translations of ``model_input``'s rows, in input order.

        ``params``: ``{"beam_size": int}`` (default :data:`DEFAULT_BEAM_SIZE`). A missing column,
        a ``text`` that is not a string, an unknown language code or an untranslatable direction
        is a :class:`ConfigError` naming it; every direction is checked before any is translated.
        An empty ``text`` is translated like any other (the Translator decides its output).
        """
        if not isinstance(model_input, pd.DataFrame):
            raise ConfigError(f"model input must be a pandas DataFrame with columns {', '.join(INPUT_COLUMNS)}; "
                              f"got {type(model_input).__name__}")
        missing = [c for c in INPUT_COLUMNS if c not in model_input.columns]
        if missing:
            raise ConfigError(f"model input lacks column(s) {', '.join(missing)}: expected columns "
                              f"{', '.join(INPUT_COLUMNS)}, given {', '.join(map(str, model_input.columns)) or 'none'}")
        beam_size = (params or {}).get("beam_size", DEFAULT_BEAM_SIZE)
        if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
            raise ConfigError(f"params.beam_size must be a positive integer, got {beam_size!r}")

        groups: dict[tuple[str, str], list[int]] = {}
        texts = model_input["text"].tolist()
        for row, (text, src, tgt) in enumerate(zip(texts, model_input["src_lang"], model_input["tgt_lang"])):
            if not isinstance(text, str):
                raise ConfigError(f"model input row {row}: text must be a string, got {text!r}")
            try:
                if not isinstance(src, str) or not isinstance(tgt, str):
                    raise ConfigError(f"language codes must be strings, got src_lang={src!r}, tgt_lang={tgt!r}")
                key = (normalise(src), normalise(tgt))
            except (UnknownLanguageError, ConfigError) as exc:
                raise ConfigError(f"model input row {row}: {exc}; the checkpoint was trained for "
                                  f"{', '.join(self.trained_directions)}") from None
            groups.setdefault(key, []).append(row)
        translators = {key: self.translator(*key) for key in groups}  # every direction checked before any work
        out = [""] * len(texts)
        for key, rows in groups.items():
            hyps = translators[key].translate([texts[i] for i in rows], beam_size=int(beam_size))
            for i, hyp in zip(rows, hyps):
                out[i] = hyp
        return out


def pip_requirements() -> list[str]:
    """:data:`REQUIREMENTS` pinned to the installed versions (a local version label such as
    ``+cpu`` dropped, so the pin resolves on PyPI)."""
    pins = []
    for dist in REQUIREMENTS:
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            raise ConfigError(f"{dist} is not installed, so the model's requirements cannot be pinned; "
                              "install mtforge's dependencies") from None
        pins.append(f"{dist}=={version.split('+', 1)[0]}")
    return pins


def _package_copy(dst: Path) -> Path:
    """A copy of the ``mtforge`` package source (no caches) under ``dst``, for ``code_paths``."""
    target = dst / "mtforge"
    shutil.copytree(Path(mtforge.__file__).parent, target,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", ".*"))
    return target


def _input_example(plan: Plan) -> pd.DataFrame:
    src, tgt = plan.tasks[0].name.split("-", 1)
    return pd.DataFrame({"text": ["A dog runs on the beach."], "src_lang": [src], "tgt_lang": [tgt]})


def log_translation_model(run_id: str, *, checkpoint_dir: str | Path, vocab_file: str | Path,
                          name: str = "model") -> str:
    """Log a :class:`TranslationModel` of ``checkpoint_dir`` (the train stage's ``checkpoint/``)
    and ``vocab_file`` (its ``spm.model``) into the existing run ``run_id`` of the tracking
    store :func:`~mtforge.tracking.tracking_uri`, as logged model ``name``.

    The run may be finished; its status and end time are not changed. The model carries a
    signature (input columns :data:`INPUT_COLUMNS`, param ``beam_size``), an input example in
    the checkpoint's first trained direction, the ``mtforge`` package as code and
    :func:`pip_requirements`. Returns the model URI (``models:/<model id>``), which
    ``mlflow.pyfunc.load_model`` and :func:`mtforge.registry.register_model` accept.

    InputNotFoundError for a missing checkpoint or vocabulary file or an unknown run.
    """
    checkpoint_dir, vocab_file = Path(checkpoint_dir), Path(vocab_file)
    plan = Plan.model_validate(checkpoint.require_frame(checkpoint_dir)["plan"])
    if not vocab_file.is_file():
        raise InputNotFoundError(f"SentencePiece model {vocab_file} does not exist")
    if not re.fullmatch(r"[\w.\-]+", name):
        raise ConfigError(f"model name {name!r} must be letters, digits, '_', '-' or '.'")
    uri = tracking_uri()
    client = mlflow.MlflowClient(tracking_uri=uri)
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise InputNotFoundError(f"MLflow run {run_id!r} not found in {uri}: {exc.message}") from None
    with tempfile.TemporaryDirectory(prefix="mtforge-model-") as tmp, global_tracking_uri(uri):
        code = _package_copy(Path(tmp))
        # The logged model lives in the run's experiment (MLflow would otherwise pick the
        # active/default experiment when no run is active) and is linked to the run as output.
        logged = mlflow.initialize_logged_model(name=name, source_run_id=run_id,
                                                experiment_id=run.info.experiment_id)
        info = Model.log(
            artifact_path=None,
            name=name,
            flavor=mlflow.pyfunc,
            run_id=run_id,
            model_id=logged.model_id,
            python_model=TranslationModel(),
            artifacts={CHECKPOINT_ARTIFACT: str(checkpoint_dir), VOCAB_ARTIFACT: str(vocab_file)},
            code_paths=[str(code)],
            signature=SIGNATURE,
            input_example=_input_example(plan),
            pip_requirements=pip_requirements(),
        )
    return info.model_uri
