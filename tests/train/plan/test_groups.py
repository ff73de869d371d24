"""Language groups: by hand and by clustering a distance matrix."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.train.plan.groups import cluster_groups, hand_groups, read_distance_matrix

EN, DE, FR, CS = "eng_Latn", "deu_Latn", "fra_Latn", "ces_Latn"
ITALO = ["scn_Latn", "fur_Latn", "lij_Latn", "vec_Latn", "srd_Latn", "lmo_Latn"]
OTHERS = ["eng_Latn", "mri_Latn", "bam_Latn"]


def test_hand_groups_any_code_form() -> None:
    groups = hand_groups({"germanic": ["en", "deu"], "other": ["fr", "cs", "it"]}, [EN, DE, FR, CS])
    assert groups == {EN: "germanic", DE: "germanic", FR: "other", CS: "other"}


def test_hand_groups_errors_name_the_language() -> None:
    with pytest.raises(ConfigError, match="ces_Latn is in no group"):
        hand_groups({"g": ["en", "de", "fr"]}, [EN, DE, FR, CS])
    with pytest.raises(ConfigError, match="'de' \\(deu_Latn\\) is in both group 'a' and 'b'"):
        hand_groups({"a": ["en", "de"], "b": ["de"]}, [EN, DE])
    with pytest.raises(ConfigError, match="group name 'a/b'"):
        hand_groups({"a/b": ["en"]}, [EN])


def _write_matrix(path: Path, codes: list[str], dist, *, sep: str = "\t", labelled: bool = False) -> Path:
    lines = [sep.join(([""] if labelled else []) + codes)]
    for a in codes:
        cells = [f"{dist(a, b):g}" for b in codes]
        lines.append(sep.join(([a] if labelled else []) + cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_multi30k_like_matrix_file_clusters_english_with_german(tmp_path: Path) -> None:
    close = {frozenset({"en", "de"}): 0.3, frozenset({"en", "fr"}): 0.6, frozenset({"de", "fr"}): 0.65}
    _write_matrix(tmp_path / "dist.tsv", ["en", "de", "fr", "cs"], lambda a, b: 0 if a == b else close.get(frozenset({a, b}), 0.9))
    groups = cluster_groups("dist.tsv", 3, [EN, DE, FR, CS], base_dir=tmp_path)
    assert groups == {EN: "group0", DE: "group0", FR: "group1", CS: "group2"}
    two = cluster_groups("dist.tsv", 2, [EN, DE, FR, CS], base_dir=tmp_path)
    assert two[EN] == two[DE] == two[FR] != two[CS]


def test_italo_romance_vs_others_inline_and_labelled_csv(tmp_path: Path) -> None:
    def dist(a: str, b: str) -> float:
        if a == b:
            return 0.0
        if (a in ITALO) == (b in ITALO):
            return 0.25 if a in ITALO else 0.8
        return 0.95

    languages = OTHERS[:1] + ITALO + OTHERS[1:]
    inline = {a: {b: dist(a, b) for b in languages} for a in languages}
    groups = cluster_groups(inline, 2, languages, base_dir=tmp_path)
    assert {groups[lang] for lang in ITALO} == {"group1"}
    assert {groups[lang] for lang in OTHERS} == {"group0"}
    path = _write_matrix(tmp_path / "d.csv", languages, dist, sep=",", labelled=True)
    assert cluster_groups(str(path), 2, languages, base_dir=Path("/")) == groups


def test_matrix_errors(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="missing.tsv"):
        cluster_groups("missing.tsv", 2, [EN, DE], base_dir=tmp_path)
    (tmp_path / "short.tsv").write_text("en\tde\n0\t1\n")
    with pytest.raises(ConfigError, match="short.tsv: header names 2 languages but there are 1 rows"):
        read_distance_matrix(tmp_path / "short.tsv")
    (tmp_path / "nan.tsv").write_text("en\tde\n0\t1\nx\t0\n")
    with pytest.raises(ConfigError, match="nan.tsv line 3"):
        read_distance_matrix(tmp_path / "nan.tsv")
    with pytest.raises(ConfigError, match="not symmetric: eng_Latn → deu_Latn is 1.0 but deu_Latn → eng_Latn is 2.0"):
        cluster_groups({"en": {"de": 1}, "de": {"en": 2}}, 1, [EN, DE], base_dir=tmp_path)
    with pytest.raises(ConfigError, match="no row for language fra_Latn"):
        cluster_groups({"en": {"de": 1}, "de": {"en": 1}}, 1, [EN, DE, FR], base_dir=tmp_path)
    with pytest.raises(ConfigError, match="n_groups is 3 but the plan has 2 languages"):
        cluster_groups({"en": {"de": 1}, "de": {"en": 1}}, 3, [EN, DE], base_dir=tmp_path)
