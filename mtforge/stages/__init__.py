"""Stage implementations; importing this package registers every stage in ``mtforge.stage.STAGES``."""

from mtforge.stages import (  # noqa: F401
    clean,
    curate_bitext,
    curate_mono,
    distill,
    embed,
    evaluate,
    ingest,
    mine,
    spm,
    synth,
    train,
    train_lid,
    translate,
)
