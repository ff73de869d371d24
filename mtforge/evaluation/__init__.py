"""Evaluation: test sets, sacrebleu metrics, paired bootstrap significance and reports.

An *evaluation directory* (what the ``evaluate`` stage writes, see :mod:`.results`) is the
unit everything here reads: the tidy score table plus the source, reference and hypothesis
lines of every (test set, direction), so any two evaluations can be compared segment by
segment later (significance, deltas, samples) without translating again.
"""
