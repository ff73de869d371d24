"""Language identification (stopes §5.1): backends behind one interface, and LID training.

* :func:`load_identifier` — ``py3langid`` (default), ``lingua`` or a ``fasttext`` model file;
  every prediction is a FLORES-200 code (or ``"und"``) and a probability
  (:mod:`mtforge.curate.lid.backends`).
* :mod:`mtforge.curate.lid.training` — labelled data from the shared corpora, fastText LID
  training, evaluation reports and a fair comparison of identifiers.
"""

from mtforge.curate.lid.backends import (
    BACKENDS,
    UNDETERMINED,
    FastTextIdentifier,
    LanguageIdentifier,
    LinguaIdentifier,
    Py3LangidIdentifier,
    load_identifier,
)
from mtforge.curate.lid.training import (
    Comparison,
    Labelled,
    LabelledSource,
    LidData,
    LidReport,
    LidTrainConfig,
    build_lid_dataset,
    compare_backends,
    evaluate_lid,
    restricted_to_test,
    shared_lid_data,
    shared_lid_sources,
    train_fasttext_lid,
)

__all__ = [
    "BACKENDS",
    "UNDETERMINED",
    "Comparison",
    "FastTextIdentifier",
    "Labelled",
    "LabelledSource",
    "LanguageIdentifier",
    "LidData",
    "LidReport",
    "LidTrainConfig",
    "LinguaIdentifier",
    "Py3LangidIdentifier",
    "build_lid_dataset",
    "compare_backends",
    "evaluate_lid",
    "load_identifier",
    "restricted_to_test",
    "shared_lid_data",
    "shared_lid_sources",
    "train_fasttext_lid",
]
