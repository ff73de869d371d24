"""Stage implementations; importing this package registers every stage in ``mtforge.stage.STAGES``."""

from mtforge.stages import clean, evaluate, ingest, spm, train, translate  # noqa: F401
