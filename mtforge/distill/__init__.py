"""Sequence-level knowledge distillation (Kim & Rush 2016; stopes §5.3).

Monolingual source text is sampled with replacement to a target count per source language
(:mod:`~mtforge.distill.sample`), translated by a trained teacher with beam search (the
``translate`` stage), filtered — target language by LID, length ratio, quality estimation
(:mod:`~mtforge.distill.filter`) — and a smaller student is trained on the result with the
modular trainer. :mod:`~mtforge.distill.teacher` checks and loads trained models;
:mod:`~mtforge.distill.report` compares student and teacher (scores, parameters, speed).
"""
