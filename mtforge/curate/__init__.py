"""Data curation (stopes §5.1–5.3, OpusFilter, bicleaner-hardrules): the library pieces the
curation stages are built from.

* :mod:`mtforge.curate.textio` — read raw text files line by line; bad bytes repaired or
  rejected with a reason.
* :mod:`mtforge.curate.normalise` — Unicode, punctuation, whitespace and invisible characters.
* :mod:`mtforge.curate.split` — sentence splitting across scripts.
* :mod:`mtforge.curate.lid` — language identification backends and LID training.
* :mod:`mtforge.curate.scripts` — the Unicode script of characters, script consistency.
* :mod:`mtforge.curate.filters` — bitext filters (score + threshold); :mod:`mtforge.curate.chain`
  runs them in order from YAML.
* :mod:`mtforge.curate.mono_checks` — LID, length and script checks on monolingual text.
* :mod:`mtforge.curate.dedup` — exact and near-duplicate removal.
* :mod:`mtforge.curate.evalsets` / :mod:`mtforge.curate.decontam` — evaluation sets and
  decontamination against them.
* :mod:`mtforge.curate.shards` — raw input shards (local or S3): listing and reading.
* :mod:`mtforge.curate.report` — accounting: lines in = kept + excluded, per reason and language.

Everything here works on plain strings and Arrow arrays; the stages in
:mod:`mtforge.stages` read and write corpora around them.
"""
