"""Data curation (stopes §5.1–5.3, OpusFilter, bicleaner-hardrules): the library pieces the
curation stages are built from.

* :mod:`mtforge.curate.textio` — read raw text files line by line; bad bytes repaired or
  rejected with a reason.
* :mod:`mtforge.curate.normalise` — Unicode, punctuation, whitespace and invisible characters.
* :mod:`mtforge.curate.split` — sentence splitting across scripts.
* :mod:`mtforge.curate.lid` — language identification backends and LID training.
* :mod:`mtforge.curate.filters` — bitext filters (score + threshold) and the filter chain.
* :mod:`mtforge.curate.dedup` — exact and near-duplicate removal.
* :mod:`mtforge.curate.decontam` — decontamination against evaluation sets.

Everything here works on plain strings and Arrow arrays; the stages in
:mod:`mtforge.stages` read and write corpora around them.
"""
