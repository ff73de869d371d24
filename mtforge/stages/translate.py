"""``translate``: beam-search translation of a test corpus with a trained checkpoint."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from mtforge.corpus import Corpus, CorpusWriter
from mtforge.stage import Resources, StageConfig, stage
from mtforge.stages.spm import MODEL_FILE
from mtforge.translate import Translator
from mtforge.vocab import Vocab


class TranslateConfig(StageConfig):
    """Decoding settings."""

    beam_size: int = Field(4, description="beam width")
    batch_sentences: int = Field(64, description="sentences decoded together")


def group_by_direction(corpus: Corpus) -> dict[tuple[str, str], tuple[list[str], list[str]]]:
    """Source sentences and row origins of each direction, in corpus order."""
    groups: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for row in corpus.iter_rows():
        src, origin = groups.setdefault((row["src_lang"], row["tgt_lang"]), ([], []))
        src.append(row["src"])
        origin.append(row["origin"])
    return groups


@stage("translate", version="1", config=TranslateConfig, resources=Resources(cpu="2", memory="4Gi"))
def translate(*, model: str, vocab: str, corpus: str, out_dir: str, config: TranslateConfig) -> dict[str, float]:
    """Translate every direction of ``corpus``; hypotheses go to ``out_dir/corpus`` (column ``tgt``)
    and to ``out_dir/<src>-<tgt>.txt``, one line per source row in corpus order. Each direction
    loads only its own modules; the stats count its sentences and the parameters it loaded."""
    spm = Vocab(Path(vocab) / MODEL_FILE)
    stats: dict[str, float] = {}
    with CorpusWriter(Path(out_dir) / "corpus") as writer:
        for (src_lang, tgt_lang), (sources, origins) in group_by_direction(Corpus.open(corpus)).items():
            translator = Translator(Path(model) / "checkpoint", spm, src_lang, tgt_lang)
            hyps = translator.translate(sources, beam_size=config.beam_size, batch_sentences=config.batch_sentences)
            Path(out_dir, f"{src_lang}-{tgt_lang}.txt").write_text("".join(h + "\n" for h in hyps))
            writer.write([{"src": s, "tgt": h, "src_lang": src_lang, "tgt_lang": tgt_lang, "score": None,
                           "origin": o} for s, h, o in zip(sources, hyps, origins)])
            stats[f"sentences.{src_lang}-{tgt_lang}"] = float(len(hyps))
            stats[f"parameters_loaded.{src_lang}-{tgt_lang}"] = float(translator.parameters)
    return stats
