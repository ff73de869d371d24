"""Language codes: everything is normalised to FLORES-200 style ``xxx_Scrp`` at the boundary.

FLORES-200 style is the NLLB convention: an ISO 639-3 language code, an underscore and an
ISO 15924 script code (``deu_Latn``, ``zho_Hans``, ``npi_Deva``). :func:`normalise` accepts

* FLORES-200 style, case-insensitively (``deu_Latn``, ``DEU_LATN``); the language part may
  itself be any accepted form (``zh_Hant`` → ``zho_Hant``, ``nep_Deva`` → ``npi_Deva``);
* ISO 639-1 (``de``), ISO 639-3 (``deu``) and ISO 639-2/B (``ger``) codes;
* the variant codes the shared corpora use for the FLORES language: NTREX ``nep``/``swa``,
  Tatoeba ``cmn``/``lvs``/``zsm``/``pes``, TICO ``ne``/``sw``/``rw``, ``ara`` → ``arb``, …;
* English language names (``German``, ``Hausa``), as TopXGen's data files use them.

A bare language gets its default script from :data:`_TABLE`. A FLORES-style code whose
language is not in the table is accepted when it is well formed and its script is known, so
any of the 200+ FLORES languages can be named explicitly.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from functools import lru_cache

from mtforge.errors import ConfigError, UnknownLanguageError

# One language a line: FLORES language code, default script | other codes | English name.
# "Other codes" are ISO 639-1, ISO 639-2/B and the variant / macrolanguage codes that mean
# the same FLORES language.
_TABLE = """
afr Latn | af | Afrikaans
als Latn | sq sqi alb | Albanian
amh Ethi | am | Amharic
ang Latn | | Old English
arb Arab | ar ara | Arabic
arq Arab | | Algerian Arabic
ary Arab | | Moroccan Arabic
arz Arab | | Egyptian Arabic
asm Beng | as | Assamese
ast Latn | | Asturian
awa Deva | | Awadhi
ayr Latn | ay aym | Aymara
azj Latn | az aze | Azerbaijani
bak Cyrl | ba | Bashkir
bam Latn | bm | Bambara
bel Cyrl | be | Belarusian
ben Beng | bn | Bengali
ber Latn | | Berber
bod Tibt | bo tib | Tibetan
bos Latn | bs | Bosnian
bre Latn | br | Breton
bul Cyrl | bg | Bulgarian
cat Latn | ca | Catalan
cbk Latn | | Chavacano
ceb Latn | | Cebuano
ces Latn | cs cze | Czech
cha Latn | ch | Chamorro
ckb Arab | | Central Kurdish
cor Latn | kw | Cornish
csb Latn | | Kashubian
cym Latn | cy wel | Welsh
dan Latn | da | Danish
deu Latn | de ger | German
dsb Latn | | Lower Sorbian
dtp Latn | | Central Dusun
ell Grek | el gre | Greek
eng Latn | en | English
epo Latn | eo | Esperanto
est Latn | et ekk | Estonian
eus Latn | eu baq | Basque
fao Latn | fo | Faroese
fij Latn | fj | Fijian
fin Latn | fi | Finnish
fra Latn | fr fre | French
fry Latn | fy | Western Frisian
fur Latn | | Friulian
gaz Latn | om orm | Oromo
gla Latn | gd | Scottish Gaelic
gle Latn | ga | Irish
glg Latn | gl | Galician
grn Latn | gn | Guarani
gsw Latn | | Swiss German
guj Gujr | gu | Gujarati
hat Latn | ht | Haitian Creole
hau Latn | ha | Hausa
heb Hebr | he | Hebrew
hin Deva | hi | Hindi
hrv Latn | hr | Croatian
hsb Latn | | Upper Sorbian
hun Latn | hu | Hungarian
hye Armn | hy arm | Armenian
ibo Latn | ig | Igbo
ido Latn | io | Ido
ile Latn | ie | Interlingue
ina Latn | ia | Interlingua
ind Latn | id | Indonesian
isl Latn | is ice | Icelandic
ita Latn | it | Italian
jav Latn | jv | Javanese
jpn Jpan | ja | Japanese
kab Latn | | Kabyle
kan Knda | kn | Kannada
kat Geor | ka geo | Georgian
kaz Cyrl | kk | Kazakh
khk Cyrl | mn mon | Mongolian
khm Khmr | km | Khmer
kin Latn | rw | Kinyarwanda
kir Cyrl | ky | Kyrgyz
kmr Latn | ku kur | Kurdish
kor Hang | ko | Korean
kzj Latn | | Coastal Kadazan
lao Laoo | lo | Lao
lat Latn | la | Latin
lfn Latn | | Lingua Franca Nova
lij Latn | | Ligurian
lim Latn | li | Limburgish
lin Latn | ln | Lingala
lit Latn | lt | Lithuanian
lmo Latn | | Lombard
ltz Latn | lb | Luxembourgish
lug Latn | lg | Ganda
lvs Latn | lv lav | Latvian
mal Mlym | ml | Malayalam
mar Deva | mr | Marathi
max Latn | | North Moluccan Malay
mhr Cyrl | | Eastern Mari
mkd Cyrl | mk mac | Macedonian
mlt Latn | mt | Maltese
mri Latn | mi mao | Maori
mya Mymr | my bur | Burmese
nds Latn | | Low German
nld Latn | nl dut | Dutch
nno Latn | nn | Norwegian Nynorsk
nob Latn | nb no nor | Norwegian
nov Latn | | Novial
npi Deva | ne nep | Nepali
nso Latn | | Northern Sotho
nya Latn | ny | Nyanja
oci Latn | oc | Occitan
ory Orya | or ori | Odia
orv Cyrl | | Old Russian
pam Latn | | Pampanga
pan Guru | pa | Punjabi
pbt Arab | ps pus | Pashto
pes Arab | fa fas per | Persian
plt Latn | mg mlg | Malagasy
pms Latn | | Piedmontese
pol Latn | pl | Polish
por Latn | pt | Portuguese
quy Latn | qu que | Quechua
ron Latn | ro rum | Romanian
run Latn | rn | Rundi
rus Cyrl | ru | Russian
san Deva | sa | Sanskrit
scn Latn | | Sicilian
sin Sinh | si | Sinhala
slk Latn | sk slo | Slovak
slv Latn | sl | Slovenian
smo Latn | sm | Samoan
sna Latn | sn | Shona
snd Arab | sd | Sindhi
som Latn | so | Somali
sot Latn | st | Southern Sotho
spa Latn | es | Spanish
srd Latn | sc | Sardinian
srp Cyrl | sr | Serbian
ssw Latn | ss | Swati
sun Latn | su | Sundanese
swe Latn | sv | Swedish
swg Latn | | Swabian
swh Latn | sw swa | Swahili
tam Taml | ta | Tamil
tat Cyrl | tt | Tatar
tel Telu | te | Telugu
tgk Cyrl | tg | Tajik
tgl Latn | tl fil | Tagalog
tha Thai | th | Thai
tir Ethi | ti | Tigrinya
tsn Latn | tn | Tswana
tso Latn | ts | Tsonga
tuk Latn | tk | Turkmen
tur Latn | tr | Turkish
twi Latn | tw | Twi
tzl Latn | | Talossan
uig Arab | ug | Uyghur
ukr Cyrl | uk | Ukrainian
urd Arab | ur | Urdu
uzn Latn | uz uzb | Uzbek
vec Latn | | Venetian
vie Latn | vi | Vietnamese
war Latn | | Waray
wol Latn | wo | Wolof
wuu Hans | | Wu Chinese
xho Latn | xh | Xhosa
ydd Hebr | yi yid | Yiddish
yor Latn | yo | Yoruba
yue Hant | | Cantonese
zho Hans | zh chi cmn | Chinese
zsm Latn | ms msa may | Malay
zul Latn | zu | Zulu
"""

#: ISO 15924 codes accepted in the script part of a FLORES-style code.
SCRIPTS = frozenset(
    "Arab Armn Beng Bopo Cans Cher Cyrl Deva Ethi Geor Grek Gujr Guru Hang Hani Hans Hant "
    "Hebr Hira Jpan Kana Khmr Knda Kore Laoo Latn Mlym Mong Mtei Mymr Olck Orya Sinh Syrc "
    "Taml Telu Tfng Thaa Thai Tibt".split()
)

_FORMS_HINT = "use FLORES-200 style like 'deu_Latn', ISO 639-3 'deu' or ISO 639-1 'de'"


def _build_tables(table: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Parse :data:`_TABLE` into (default script per language, lower-case alias → language,
    English name per language)."""
    default_script: dict[str, str] = {}
    alias: dict[str, str] = {}
    names: dict[str, str] = {}
    for line in filter(None, map(str.strip, table.splitlines())):
        head, others, name = (part.strip() for part in line.split("|"))
        lang, script = head.split()
        assert script in SCRIPTS, f"{line}: unknown script"
        default_script[lang] = script
        names[lang] = name
        for key in [lang, *others.split(), name.lower()]:
            assert alias.setdefault(key, lang) == lang, f"{key!r} names two languages"
    return default_script, alias, names


_DEFAULT_SCRIPT, _ALIAS, _NAMES = _build_tables(_TABLE)
_SCRIPT_BY_LOWER = {s.lower(): s for s in SCRIPTS}
_ISO639_3 = re.compile(r"[a-z]{3}")


def _unknown(code: str, *, script: str = "") -> UnknownLanguageError:
    """The error for ``code``, with close matches (of its script when that is the bad part)."""
    if script:
        detail = f" (unknown script {script!r})"
        close = difflib.get_close_matches(script.title(), SCRIPTS, n=3, cutoff=0.5)
    else:
        detail = ""
        close = difflib.get_close_matches(code.strip().lower(), _ALIAS, n=3, cutoff=0.75)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return UnknownLanguageError(f"unknown language code {code!r}{detail}: {_FORMS_HINT}{hint}")


@lru_cache(maxsize=4096)
def normalise(code: str) -> str:
    """Return the FLORES-200 style code (``xxx_Scrp``) of ``code``.

    Raises :class:`UnknownLanguageError` naming ``code`` and the accepted forms when it is
    neither a known language (code or English name) nor a well-formed FLORES-style code with
    a known script.
    """
    if not isinstance(code, str):
        raise UnknownLanguageError(f"language code must be a string, got {code!r}: {_FORMS_HINT}")
    key = code.strip().lower()
    lang_part, underscore, script_part = key.partition("_")
    if not underscore:
        if key not in _ALIAS:
            raise _unknown(code)
        lang = _ALIAS[key]
        return f"{lang}_{_DEFAULT_SCRIPT[lang]}"
    script = _SCRIPT_BY_LOWER.get(script_part)
    if script is None:
        raise _unknown(code, script=code.strip().partition("_")[2])
    if lang_part in _ALIAS:
        return f"{_ALIAS[lang_part]}_{script}"
    if _ISO639_3.fullmatch(lang_part):
        return f"{lang_part}_{script}"
    raise _unknown(code)


def english_name(code: str) -> str:
    """The English name of ``code``'s language (``swh_Latn`` → ``Swahili``), as prompts to an
    LLM name it; a FLORES-style code missing from :data:`_TABLE` is returned normalised."""
    lang = normalise(code)
    return _NAMES.get(lang.partition("_")[0], lang)


def is_language(code: str) -> bool:
    """True when :func:`normalise` accepts ``code``."""
    try:
        normalise(code)
    except UnknownLanguageError:
        return False
    return True


def format_direction(src: str, tgt: str) -> str:
    """The canonical text form ``"eng_Latn-deu_Latn"`` of a direction (codes normalised)."""
    return f"{normalise(src)}-{normalise(tgt)}"


def parse_direction(text: str) -> tuple[str, str]:
    """Parse ``"en-de"`` (any accepted code forms) into ``("eng_Latn", "deu_Latn")``.

    Raises :class:`ConfigError` when ``text`` is not two codes joined by one ``-`` or names the
    same language twice, and :class:`UnknownLanguageError` (naming the direction) for an
    unknown code.
    """
    parts = [p.strip() for p in str(text).split("-")]
    if len(parts) != 2 or not all(parts):
        raise ConfigError(
            f"malformed direction {text!r}: expected 'src-tgt' such as 'en-de' or "
            "'eng_Latn-deu_Latn' (one '-' between two language codes)"
        )
    try:
        src, tgt = normalise(parts[0]), normalise(parts[1])
    except UnknownLanguageError as exc:
        raise UnknownLanguageError(f"in direction {text!r}: {exc}") from None
    if src == tgt:
        raise ConfigError(f"direction {text!r} translates {src} into itself")
    return src, tgt


def parse_directions(text: str | Iterable[str]) -> list[tuple[str, str]]:
    """Parse ``"en-de,de-en"`` (or a list of such strings) into normalised direction pairs.

    Order is kept and repeats are dropped. Raises :class:`ConfigError` for an empty list or a
    malformed entry (see :func:`parse_direction`).
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    directions: list[tuple[str, str]] = []
    for item in items:
        if not str(item).strip():
            raise ConfigError(f"empty direction in {text!r}: expected e.g. 'en-de,de-en'")
        direction = parse_direction(item)
        if direction not in directions:
            directions.append(direction)
    if not directions:
        raise ConfigError("no directions given: expected e.g. 'en-de,de-en'")
    return directions


#: Scripts written without spaces between words (a "word" there is a character or a run of them).
SPACELESS_SCRIPTS = frozenset({"Hans", "Hant", "Jpan", "Thai", "Laoo", "Khmr", "Mymr", "Tibt"})


def is_spaceless(lang: str) -> bool:
    """True when FLORES-style ``lang`` (``zho_Hans``) is written in a script without spaces
    between words (:data:`SPACELESS_SCRIPTS`)."""
    return lang.rpartition("_")[2] in SPACELESS_SCRIPTS
