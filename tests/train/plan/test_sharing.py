"""Sharing patterns → module ids, embeddings, and the target-language prefix rule."""

from __future__ import annotations

import pytest

from mtforge.errors import ConfigError
from mtforge.train.plan import Sharing
from mtforge.train.plan.sharing import embedding_modules, module_name, needs_lang_prefix, stack_modules

EN, DE, FR = "eng_Latn", "deu_Latn", "fra_Latn"
GROUPS = {EN: "germanic", DE: "germanic", FR: "romance"}


@pytest.mark.parametrize(
    ("pattern", "encoder", "decoder"),
    [
        (Sharing.FULL, "full", "full"),
        (Sharing.LANGUAGE, EN, FR),
        (Sharing.SRC_LANGUAGE, EN, EN),
        (Sharing.TGT_LANGUAGE, FR, FR),
        (Sharing.GROUP, "germanic", "romance"),
        (Sharing.SRC_GROUP, "germanic", "germanic"),
        (Sharing.TGT_GROUP, "romance", "romance"),
    ],
)
def test_each_pattern_on_each_side_for_en_to_fr(pattern: Sharing, encoder: str, decoder: str) -> None:
    assert module_name(pattern, "encoder", EN, FR, GROUPS) == encoder
    assert module_name(pattern, "decoder", EN, FR, GROUPS) == decoder


def test_stack_ids_carry_the_stack_index() -> None:
    patterns = [Sharing.LANGUAGE, Sharing.GROUP, Sharing.FULL]
    assert stack_modules("encoder", patterns, DE, FR, GROUPS) == ["encoder/0/deu_Latn", "encoder/1/germanic", "encoder/2/full"]
    assert stack_modules("decoder", patterns, DE, FR, GROUPS) == ["decoder/0/fra_Latn", "decoder/1/romance", "decoder/2/full"]


def test_group_pattern_for_ungrouped_language_names_it() -> None:
    with pytest.raises(ConfigError, match="TGT_GROUP needs the group of ces_Latn"):
        module_name(Sharing.TGT_GROUP, "decoder", EN, "ces_Latn", GROUPS)


def test_embeddings() -> None:
    assert embedding_modules("shared", EN, DE) == ("embeddings/shared", "embeddings/shared")
    assert embedding_modules("language", EN, DE) == ("embeddings/eng_Latn", "embeddings/deu_Latn")


@pytest.mark.parametrize(
    ("dec_sharing", "prefix"),
    [
        ([Sharing.FULL], True),  # Fig. 2c: one decoder for every target needs the tag
        ([Sharing.SRC_LANGUAGE], True),
        ([Sharing.TGT_GROUP], True),  # a group decoder serves several targets
        ([Sharing.LANGUAGE], False),
        ([Sharing.FULL, Sharing.TGT_LANGUAGE], False),
    ],
)
def test_auto_prefix_only_when_no_decoder_stack_is_target_specific(dec_sharing: list[Sharing], prefix: bool) -> None:
    assert needs_lang_prefix("auto", dec_sharing) is prefix


def test_explicit_prefix_modes_win() -> None:
    assert needs_lang_prefix("always", [Sharing.LANGUAGE]) is True
    assert needs_lang_prefix("never", [Sharing.FULL]) is False
