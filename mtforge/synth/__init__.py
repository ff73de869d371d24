"""Synthetic parallel data as in TopXGen: an LLM writes topic-diverse paragraphs in a target
language (:mod:`~mtforge.synth.prompts`, :mod:`~mtforge.synth.generators`,
:mod:`~mtforge.synth.generate`), answers are parsed and filtered
(:mod:`~mtforge.synth.answers`), the paragraphs' sentences are back-translated
(:mod:`~mtforge.synth.backtranslate`) and scored (:mod:`~mtforge.synth.qe`), and the pairs
are selected, decontaminated and written as a corpus and TopXGen JSONL
(:mod:`~mtforge.synth.topxgen`)."""
