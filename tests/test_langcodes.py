"""mtforge.langcodes: every code form in the shared data normalises to FLORES-200 style."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtforge.errors import ConfigError, UnknownLanguageError
from mtforge.langcodes import normalise, parse_direction, parse_directions


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("de", "deu_Latn"),
        ("deu", "deu_Latn"),
        ("ger", "deu_Latn"),
        ("deu_Latn", "deu_Latn"),
        ("DEU_LATN", "deu_Latn"),
        (" En ", "eng_Latn"),
        ("zh", "zho_Hans"),
        ("cmn", "zho_Hans"),
        ("zh_Hant", "zho_Hant"),
        ("nep", "npi_Deva"),  # NTREX
        ("ne", "npi_Deva"),  # TICO-19
        ("swa", "swh_Latn"),
        ("sw", "swh_Latn"),
        ("rw", "kin_Latn"),
        ("lvs", "lvs_Latn"),  # Tatoeba
        ("lv", "lvs_Latn"),
        ("zsm", "zsm_Latn"),
        ("ar", "arb_Arab"),
        ("ja", "jpn_Jpan"),
        ("Hausa", "hau_Latn"),  # TopXGen's language names
        ("nep_Deva", "npi_Deva"),
        ("xyz_Latn", "xyz_Latn"),  # well-formed FLORES code outside the table
    ],
)
def test_normalise(code: str, expected: str) -> None:
    assert normalise(code) == expected


def test_every_language_in_the_shared_data_normalises(shared_data: Path) -> None:
    codes = {p.name.split(".")[0] for p in (shared_data / "flores200" / "dev").iterdir()}
    codes |= {p.name for p in (shared_data / "oldi_seed").iterdir() if "_" in p.name}
    codes |= {p.suffix[1:] for p in (shared_data / "ntrex128").glob("*.*") if p.stem in ("src", "ref")}
    codes |= {p.name.split(".")[-1] for p in (shared_data / "tico19").glob("test.*")}
    codes |= {p.suffix[1:] for p in (shared_data / "multi30k").iterdir()}
    codes |= {p.name.split(".")[1].split("-")[0] for p in (shared_data / "tatoeba_laser").glob("tatoeba.*")}
    normalised = {code: normalise(code) for code in codes}
    assert len(codes) > 130
    # FLORES / OLDI file names are already canonical and must come back unchanged.
    assert all(normalised[c] == c for c in codes if "_" in c)


@pytest.mark.parametrize("bad", ["xx", "deutsch", "de_XYZ", "", "deu_Latm"])
def test_unknown_code_names_the_code_and_the_accepted_forms(bad: str) -> None:
    with pytest.raises(UnknownLanguageError) as err:
        normalise(bad)
    assert repr(bad) in str(err.value)
    assert "FLORES-200 style like 'deu_Latn', ISO 639-3 'deu' or ISO 639-1 'de'" in str(err.value)


def test_unknown_script_suggests_the_close_one() -> None:
    with pytest.raises(UnknownLanguageError, match="unknown script 'Latm'.*did you mean 'Latn'"):
        normalise("deu_Latm")


def test_parse_direction() -> None:
    assert parse_direction("en-de") == ("eng_Latn", "deu_Latn")
    assert parse_direction(" zho_Hans - jpn_Jpan ") == ("zho_Hans", "jpn_Jpan")


def test_parse_directions_keeps_order_and_drops_repeats() -> None:
    assert parse_directions("en-de,de-en,en-de") == [("eng_Latn", "deu_Latn"), ("deu_Latn", "eng_Latn")]
    assert parse_directions(["en-fr", "fr-en"]) == [("eng_Latn", "fra_Latn"), ("fra_Latn", "eng_Latn")]


@pytest.mark.parametrize("bad", ["en", "en-de-fr", "en-", "en-de,,de-en", "", "en-en", "eng_Latn-en"])
def test_malformed_directions_are_config_errors_naming_the_text(bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_directions(bad)
    assert "direction" in str(err.value)


def test_unknown_code_in_a_direction_names_the_direction() -> None:
    with pytest.raises(UnknownLanguageError, match=r"in direction 'en-xx': unknown language code 'xx'"):
        parse_directions("de-en,en-xx")
