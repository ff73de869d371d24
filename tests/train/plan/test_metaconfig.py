"""Meta-config loading, structure checks and the paper's architecture presets."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtforge.errors import ConfigError, InputNotFoundError
from mtforge.train.plan import PRESETS, MetaConfig, Sharing, load_meta_config, preset


def test_loads_yaml_file_with_nested_sections(tmp_path: Path) -> None:
    path = tmp_path / "meta.yaml"
    path.write_text(
        "languages: [en, de]\n"
        "directions: [en-de, de-en]\n"
        "enc_layers: [2, 1]\n"
        "enc_sharing: [LANGUAGE, FULL]\n"
        "dec_layers: [3]\n"
        "dec_sharing: [TGT_LANGUAGE]\n"
        "corpus: {mode: symmetric, src: '{sorted_pair}/train.{side_a}', tgt: '{sorted_pair}/train.{side_b}'}\n"
        "allocation: {nodes: 2, gpus_per_node: 4, slots_per_gpu: 3}\n"
    )
    meta = load_meta_config(path)
    assert meta.enc_sharing == [Sharing.LANGUAGE, Sharing.FULL]
    assert meta.corpus is not None and meta.corpus.mode == "symmetric"
    assert (meta.allocation.nodes, meta.allocation.gpus_per_node, meta.allocation.slots_per_gpu) == (2, 4, 3)
    assert meta.dec_layers == [3]


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "meta.yaml"
    path.write_text("languages: [en]\nallocation: {gpus: 4}\n")
    with pytest.raises(ConfigError, match=r"meta\.yaml.*allocation\.gpus"):
        load_meta_config(path)


def test_bad_sharing_value_names_key_and_value() -> None:
    with pytest.raises(ConfigError, match=r"enc_sharing\.0.*'SOMETIMES'"):
        load_meta_config({"enc_sharing": ["SOMETIMES"]})


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="nope.yaml"):
        load_meta_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("languages: [en\n")
    with pytest.raises(ConfigError, match="bad.yaml.*not valid YAML"):
        load_meta_config(bad)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"enc_layers": [2, 2], "enc_sharing": ["FULL"]}, r"enc_layers \[2, 2\] has 2 stacks but enc_sharing \['FULL'\] has 1"),
        ({"dec_layers": [3], "dec_sharing": ["LANGUAGE", "FULL"]}, r"dec_layers \[3\] has 1 stacks but dec_sharing"),
        ({"enc_layers": [0]}, r"enc_layers\[0\] is 0"),
        ({"dec_layers": [], "dec_sharing": []}, "dec_layers is empty"),
        ({"enc_sharing": ["GROUP"]}, "GROUP needs language groups"),
        (
            {"groups": {"a": ["en"]}, "clustering": {"distances": "d.tsv", "n_groups": 2}},
            "both 'groups' and 'clustering'",
        ),
    ],
)
def test_structure_errors_name_the_keys(fields: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_meta_config(fields)


def test_schema_bounds() -> None:
    with pytest.raises(ConfigError, match="temperature"):
        load_meta_config({"temperature": 0})
    with pytest.raises(ConfigError, match="allocation.nodes"):
        load_meta_config({"allocation": {"nodes": 0}})


@pytest.mark.parametrize(
    ("name", "enc_layers", "enc_sharing", "dec_sharing"),
    [
        ("full", [4], ["FULL"], ["FULL"]),
        ("independent", [4], ["LANGUAGE"], ["LANGUAGE"]),
        ("shared", [4], ["FULL"], ["LANGUAGE"]),
        ("partial", [2, 2], ["LANGUAGE", "FULL"], ["LANGUAGE"]),
    ],
)
def test_presets(name: str, enc_layers: list[int], enc_sharing: list[str], dec_sharing: list[str]) -> None:
    fields = preset(name, encoder_layers=4, decoder_layers=3)
    assert fields == {"enc_layers": enc_layers, "enc_sharing": enc_sharing, "dec_layers": [3], "dec_sharing": dec_sharing}
    load_meta_config(fields)  # valid as meta-config fields


def test_partial_preset_odd_layers_puts_extra_layer_in_language_stack() -> None:
    assert preset("partial", encoder_layers=3, decoder_layers=1)["enc_layers"] == [2, 1]
    with pytest.raises(ConfigError, match="encoder_layers must be ≥ 2, got 1"):
        preset("partial", encoder_layers=1, decoder_layers=1)


def test_unknown_preset_lists_presets() -> None:
    assert PRESETS == ("full", "independent", "shared", "partial")
    with pytest.raises(ConfigError, match="'bogus'.*full, independent, shared, partial"):
        preset("bogus", encoder_layers=2, decoder_layers=2)


def test_defaults_are_a_shared_encoder_with_target_decoders() -> None:
    meta = MetaConfig()
    assert (meta.enc_sharing, meta.dec_sharing, meta.directions) == ([Sharing.FULL], [Sharing.LANGUAGE], "all")
